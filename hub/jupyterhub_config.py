"""JupyterHub configuration of the gradlab class (started by hub/classroom.py).

Reads the ``ClassSettings`` JSON named by ``$GRADLAB_CLASS_SETTINGS`` (roster, ports, paths,
tokens). The nbgrader parts follow nbgrader's ``demos/demo_one_class_multiple_graders`` and
``demo_multiple_classes``: group ``formgrade-gradlab`` reaches the course service's formgrader,
group ``nbgrader-gradlab`` makes ``JupyterHubAuthPlugin`` list the course for its members.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from hub.classroom import COURSE_ID, PROXY, ClassSettings, Role  # noqa: E402

c = get_config()  # noqa: F821
s = ClassSettings.load(os.environ["GRADLAB_CLASS_SETTINGS"])
roster = s.roster
students = [m.login for m in roster.students]
staff = [m.login for m in roster.staff]
instructors = [m.login for m in roster.members if m.role is Role.INSTRUCTOR]

# -- the hub, the proxy, the hub's own state -----------------------------------------------------
c.JupyterHub.bind_url = f"http://127.0.0.1:{s.ports.hub}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{s.ports.hub_api}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{s.ports.proxy_api}"
c.ConfigurableHTTPProxy.command = [str(PROXY)]
c.ConfigurableHTTPProxy.pid_file = str(s.state_dir / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{s.state_dir / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(s.state_dir / "jupyterhub_cookie_secret")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every user's server

# -- who can log in: the roster's Unix accounts, by PAM --------------------------------------------
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False
# the grader account is a hub user too (no password: it never logs in) so that nbgrader's auth
# plugin, running in the course service as that account, can look itself up (demo_multiple_classes)
c.Authenticator.allowed_users = set(students + staff + [roster.grader])
c.Authenticator.admin_users = set(instructors)

# -- each user's JupyterLab runs as that Unix user, from this checkout's venv -----------------------
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [os.path.join(s.member_bin, "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
BASE_ENV = {
    "PATH": f"{s.member_bin}:/usr/local/bin:/usr/bin:/bin",  # nbgrader runs `alembic` by name
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    "GRADLAB_PROGRESS": "0",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    "GRADLAB_LANG": s.lang,  # the course language (make class COURSE_LANG=zh_CN)
    # the class shares this machine: two kernels whose torch each takes every core spin against each
    # other (25x slower, measured on 2 cores), and the course's small nets run as fast on one thread
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
c.Spawner.environment = dict(BASE_ENV)


def pre_spawn_hook(spawner):
    """Students and staff get their own nbgrader config (exchange, auth plugin) and lab extensions."""
    kind = "student" if spawner.user.name in students else "staff"
    spawner.environment["JUPYTER_CONFIG_PATH"] = str(s.etc(kind))


c.Spawner.pre_spawn_hook = pre_spawn_hook

# -- groups and roles (nbgrader's demos) ---------------------------------------------------------
c.JupyterHub.load_groups = {
    f"formgrade-{COURSE_ID}": {"users": staff + [roster.grader]},
    f"nbgrader-{COURSE_ID}": {"users": students + staff},
}
c.JupyterHub.load_roles = [
    {"name": f"formgrade-{COURSE_ID}", "groups": [f"formgrade-{COURSE_ID}"],
     "scopes": [f"access:services!service={COURSE_ID}", "list:services",
                f"read:services!service={COURSE_ID}"]},
    {"name": f"nbgrader-{COURSE_ID}", "groups": [f"nbgrader-{COURSE_ID}"],
     "scopes": ["list:services", f"read:services!service={COURSE_ID}"]},
    # a user's server token carries the user's own permissions (the assignment list reads the
    # user's groups through it)
    {"name": "server", "scopes": ["inherit"]},
    # the course service: nbgrader's auth plugin reads users' groups
    {"name": "course-service", "services": [COURSE_ID],
     "scopes": ["read:users", "read:users:groups", "list:users", "read:groups", "list:groups"]},
    # the launcher and the tests: tokens, servers, users
    {"name": "classroom-admin", "services": ["classroom"],
     "scopes": ["admin:users", "admin:servers", "tokens", "admin:groups", "list:services",
                "read:services"]},
]

# -- the course service: formgrader, run by the grader account in the course directory ---------------
c.JupyterHub.services = [
    {
        "name": COURSE_ID,
        "url": f"http://127.0.0.1:{s.ports.service}",
        "command": [os.path.join(s.member_bin, "jupyterhub-singleuser")],
        "user": roster.grader,
        "cwd": str(s.course_root),
        "api_token": s.service_token,
        "oauth_no_confirm": True,
        "environment": {**BASE_ENV, "JUPYTERHUB_DEFAULT_URL": "/lab"},
    },
    {"name": "classroom", "api_token": s.admin_token},
]
