"""A real class on one machine: JupyterHub + configurable-http-proxy + nbgrader's exchange + a
PostgreSQL gradebook, with students as separate Unix users.

What runs (``make class`` = ``python -m hub.classroom``, as root):

* **PostgreSQL** (``hub/postgres.py``): a cluster under the run folder, run as the ``postgres``
  user, TCP on 127.0.0.1 with passwords; one database ``gradlab`` = the course's nbgrader gradebook.
* **JupyterHub** (``hub/jupyterhub_config.py``, reading the ``ClassSettings`` this module writes):
  PAM logins for the roster's Unix users, ``LocalProcessSpawner`` (each user's JupyterLab runs as
  that user, from this checkout's ``.venv``), and the proxy from ``hub/node_modules``.
* **The course service** ``gradlab``: a JupyterLab run by the shared grader account, in whose home
  the course directory lives (``solutions/`` source, ``course/`` release, ``submitted/``,
  ``autograded/``, ``feedback/``); formgrader is reached at ``/services/gradlab/`` by the members
  of ``formgrade-gradlab`` (the instructor and the TA), exactly as nbgrader's
  ``demo_one_class_multiple_graders``.
* **The exchange**: ``<run>/exchange`` (mode 0777, as nbgrader documents); nbgrader's
  ``JupyterHubAuthPlugin`` lists course ``gradlab`` for members of ``nbgrader-gradlab``.

The same objects drive the tests (``tests/test_hub.py``), with throwaway users and ports.
"""
from __future__ import annotations

import argparse
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from hub.postgres import Cluster, find_bin_dir, redact

REPO = Path(__file__).resolve().parents[1]
HUB_DIR = REPO / "hub"
COURSE_ID = "gradlab"
PROXY = HUB_DIR / "node_modules" / ".bin" / "configurable-http-proxy"
# nbgrader's JupyterLab extensions a member of each kind does not get in their own server
# (staff grade through the course service, so their own server has no formgrader either).
DISABLED_LAB_EXTENSIONS = {
    "student": ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                "@jupyter/nbgrader:course-list"],
    "staff": ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"],
}


class Role(StrEnum):
    INSTRUCTOR = "instructor"
    TA = "ta"
    STUDENT = "student"


@dataclass(frozen=True)
class Member:
    """One person on the roster: a Unix account and a hub login of the same name."""

    login: str
    role: Role
    password: str


@dataclass(frozen=True)
class Roster:
    members: tuple[Member, ...]
    grader: str  # the shared Unix account that owns the course directory and runs formgrader

    @property
    def students(self) -> list[Member]:
        return [m for m in self.members if m.role is Role.STUDENT]

    @property
    def staff(self) -> list[Member]:
        return [m for m in self.members if m.role is not Role.STUDENT]

    def member(self, login: str) -> Member:
        return next(m for m in self.members if m.login == login)

    @classmethod
    def demo(cls, prefix: str = "gl-", students: int = 3) -> Roster:
        """An instructor, a TA and ``students`` students, each with a fresh random password."""
        people = [(f"{prefix}instructor", Role.INSTRUCTOR), (f"{prefix}ta", Role.TA)]
        people += [(f"{prefix}student{i}", Role.STUDENT) for i in range(1, students + 1)]
        return cls(tuple(Member(login, role, secrets.token_urlsafe(9)) for login, role in people),
                   grader=f"{prefix}grader")

    @classmethod
    def from_dict(cls, d: dict) -> Roster:
        return cls(tuple(Member(m["login"], Role(m["role"]), m["password"]) for m in d["members"]),
                   d["grader"])


@dataclass(frozen=True)
class Ports:
    hub: int        # the public URL (the proxy)
    hub_api: int    # the hub process itself
    proxy_api: int
    service: int    # the course service (formgrader)
    postgres: int

    @classmethod
    def free(cls) -> Ports:
        socks = [socket.socket() for _ in range(5)]
        try:
            for s in socks:
                s.bind(("127.0.0.1", 0))
            return cls(*(s.getsockname()[1] for s in socks))
        finally:
            for s in socks:
                s.close()


@dataclass(frozen=True)
class ClassSettings:
    """Everything ``hub/jupyterhub_config.py`` needs; written by the launcher as JSON (mode 0600)."""

    run_dir: str
    member_bin: str     # bin/ of the environment the members' servers and nbgrader run from
    roster: Roster
    ports: Ports
    admin_token: str    # the ``classroom`` service: the launcher's and tests' admin API token
    service_token: str  # the ``gradlab`` course service's API token (nbgrader's auth plugin uses it)
    course_id: str = COURSE_ID
    lang: str = "en"    # the course language: the release students fetch, gradlab's messages (GRADLAB_LANG)

    # paths derived from run_dir / the roster
    @property
    def exchange(self) -> Path:
        return Path(self.run_dir) / "exchange"

    @property
    def state_dir(self) -> Path:
        return Path(self.run_dir) / "hub"

    def etc(self, kind: str) -> Path:
        return Path(self.run_dir) / "etc" / kind

    @property
    def grader_home(self) -> Path:
        return Path(pwd.getpwnam(self.roster.grader).pw_dir)

    @property
    def course_root(self) -> Path:
        return self.grader_home / self.course_id

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports.hub}"

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))
        os.chmod(path, 0o600)

    @classmethod
    def load(cls, path: Path) -> ClassSettings:
        d = json.loads(Path(path).read_text())
        return cls(**{**d, "roster": Roster.from_dict(d["roster"]), "ports": Ports(**d["ports"])})


class ClassError(RuntimeError):
    """Setting up or running the class failed; the message says which component."""


def missing_components() -> list[str]:
    """What this machine lacks to run a class (empty when everything is there)."""
    missing = []
    if shutil.which("node") is None:
        missing.append("Node.js (`node`, for configurable-http-proxy)")
    elif not PROXY.exists():
        missing.append(f"configurable-http-proxy ({PROXY.relative_to(REPO)}; run `make hub-setup`)")
    if find_bin_dir() is None:
        missing.append("PostgreSQL server binaries (initdb, pg_ctl)")
    try:
        import jupyterhub  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as e:
        missing.append(f"Python package {e.name} (pip install -e '.[hub]'; `make hub-setup`)")
    if os.geteuid() != 0:
        missing.append("root (JupyterHub's LocalProcessSpawner starts each user's server as that user)")
    return missing


# -- Unix accounts ------------------------------------------------------------------------------
def create_unix_user(login: str, password: str | None) -> Path:
    """A new account with a private home (0700); the password is for the hub's PAM login."""
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", login], check=True,
                   capture_output=True)
    if password is not None:
        subprocess.run(["chpasswd"], input=f"{login}:{password}\n", text=True, check=True,
                       capture_output=True)
    home = Path(pwd.getpwnam(login).pw_dir)
    os.chmod(home, 0o700)
    return home


def remove_unix_user(login: str) -> None:
    subprocess.run(["pkill", "-KILL", "-u", login], capture_output=True)  # this user's leftovers only
    subprocess.run(["userdel", "--remove", "--force", login], capture_output=True)


def member_env() -> Path:
    """``bin/`` of the environment the members' servers, nbgrader and the grader run from: this
    checkout's ``.venv`` itself, which ``make`` builds from a Python every user can run
    (``tools/pick_python.py``). Refuses, naming the folder, when another user could not run it."""
    import sysconfig

    from autograder.sandbox import world_reachable
    bin_dir = Path(sys.prefix) / "bin"
    for what, path in (("the environment's Python", os.path.realpath(sys.executable)),
                       ("the environment's packages", sysconfig.get_paths()["purelib"])):
        if not world_reachable(path):
            raise ClassError(f"{what} ({path}) lies in a folder other users cannot traverse, so the "
                             "members' servers cannot run it: rebuild .venv with `make clean hub-setup` "
                             "(tools/pick_python.py picks a Python every user can run)")
    return bin_dir


def _source() -> Path:
    """The checkout's source notebooks (hidden tests, mark schemes): the course's ``source`` folder."""
    from autograder.course import Course

    return Path(Course.load().path("source"))


def protect_checkout() -> int | None:
    """The members' servers import this checkout's packages, so they can read the checkout: its
    ``solutions/`` (hidden tests, mark schemes) is made unreadable to them (``o-rwx``) while the
    class runs. Returns the previous mode (``Classroom.destroy`` puts it back)."""
    sol = _source()
    if not sol.is_dir():
        return None
    mode = os.stat(sol).st_mode & 0o7777
    os.chmod(sol, mode & ~0o007)
    return mode


# -- the class ----------------------------------------------------------------------------------
@dataclass
class Classroom:
    settings: ClassSettings
    cluster: Cluster
    db_url: str
    hub_proc: subprocess.Popen | None = None
    solutions_mode: int | None = None  # the checkout's solutions/ mode before the class (restored)
    timings: dict[str, float] = field(default_factory=dict)

    # ---- setup -----------------------------------------------------------------------------
    @classmethod
    def prepare(cls, run_dir: Path, roster: Roster, assignments: dict[str, list[str]] | None = None,
                ports: Ports | None = None, lang: str = "en") -> Classroom:
        """Accounts, folders, configs, the PostgreSQL cluster and gradebook database, the course.

        ``assignments``: ``{assignment: [notebook, ...]}`` copied from ``solutions/`` into the
        course (all of ``solutions/`` when None).
        """
        missing = missing_components()
        if missing:
            raise ClassError("cannot start a class here; missing: " + "; ".join(missing))
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(run_dir, 0o755)
        member_bin = member_env()
        settings = ClassSettings(str(run_dir), str(member_bin), roster, ports or Ports.free(),
                                 secrets.token_hex(32), secrets.token_hex(32), lang=lang)
        created: list[str] = []
        cluster = None
        try:
            for login, password in [(m.login, m.password) for m in roster.members] + [(roster.grader, None)]:
                create_unix_user(login, password)
                created.append(login)
            # the exchange: world-writable, as nbgrader's docs set it up; release/submit make the rest
            settings.exchange.mkdir(mode=0o777)
            os.chmod(settings.exchange, 0o777)
            settings.state_dir.mkdir(mode=0o700)
            settings.save(settings.state_dir / "settings.json")
            cluster = Cluster.create(run_dir / "postgres", settings.ports.postgres)
            cluster.start()
            db_url = cluster.create_database(COURSE_ID, COURSE_ID, secrets.token_urlsafe(18))
            room = cls(settings, cluster, db_url)
            room._write_member_configs()
            room._make_course(assignments)
            room.solutions_mode = protect_checkout()
            return room
        except BaseException:  # leave no accounts, server or folder behind
            for login in created:
                remove_unix_user(login)
            if cluster is not None:
                cluster.remove()
            shutil.rmtree(run_dir, ignore_errors=True)
            raise

    def _write_member_configs(self) -> None:
        s = self.settings
        for kind in ("student", "staff"):
            etc = s.etc(kind)
            (etc / "labconfig").mkdir(parents=True)
            (etc / "nbgrader_config.py").write_text(
                "# nbgrader for a hub member: the shared exchange, courses from the hub's groups\n"
                "from nbgrader.auth import JupyterHubAuthPlugin\n"
                "c = get_config()  # noqa: F821\n"
                f"c.Exchange.root = {str(s.exchange)!r}\n"
                "c.Exchange.path_includes_course = True\n"
                "c.Authenticator.plugin_class = JupyterHubAuthPlugin\n")
            (etc / "labconfig" / "page_config.json").write_text(json.dumps(
                {"disabledExtensions": {name: True for name in DISABLED_LAB_EXTENSIONS[kind]}}))
            for p in [etc.parent, etc, etc / "labconfig"]:
                os.chmod(p, 0o755)

    def _make_course(self, assignments: dict[str, list[str]] | None) -> None:
        """The course directory in the grader's home (0700): source, config with the gradebook URL."""
        s = self.settings
        root = s.course_root
        src = _source()
        chosen = assignments or {a.name: [] for a in sorted(src.iterdir()) if a.is_dir()}
        for assignment, notebooks in chosen.items():
            dest = root / src.relative_to(REPO) / assignment
            if notebooks:
                dest.mkdir(parents=True)
                for nb in notebooks:
                    shutil.copy2(src / assignment / nb, dest / nb)
            else:
                shutil.copytree(src / assignment, dest)
        jupyter = s.grader_home / ".jupyter"
        jupyter.mkdir()
        # the course config: the repository's nbgrader settings, this course's root and gradebook
        (jupyter / "nbgrader_config.py").write_text(
            "# The gradlab class course (written by hub/classroom.py). Contains the gradebook password.\n"
            "from nbgrader.auth import JupyterHubAuthPlugin\n"
            "c = get_config()  # noqa: F821\n"
            f"load_subconfig({str(REPO / 'autograder' / 'nbgrader_config.py')!r})  # noqa: F821\n"
            f"c.CourseDirectory.root = {str(root)!r}\n"
            f"c.CourseDirectory.db_url = {self.db_url!r}\n"
            f"c.Exchange.root = {str(s.exchange)!r}\n"
            "c.Exchange.path_includes_course = True\n"
            "c.Authenticator.plugin_class = JupyterHubAuthPlugin\n"
            "# feedback pages handed to students: nbgrader's default shows the hidden tests; not here\n"
            "from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor\n"
            "from nbgrader.preprocessors import ClearHiddenTests, GetGrades\n"
            "from autograder.plain_nbgrader import RefuseGenerateFeedback\n"
            "# formgrader's Generate Feedback button refuses (python -m autograder feedback writes the pages)\n"
            "c.GenerateFeedback.preprocessors = [RefuseGenerateFeedback, GetGrades, ClearHiddenTests, "
            "CSSHTMLHeaderPreprocessor]\n")
        os.chmod(jupyter / "nbgrader_config.py", 0o600)
        pw = pwd.getpwnam(s.roster.grader)
        subprocess.run(["chown", "-R", f"{pw.pw_uid}:{pw.pw_gid}", str(s.grader_home)], check=True)

    # ---- run -------------------------------------------------------------------------------
    def start(self, timeout: float = 120) -> None:
        """PostgreSQL (if stopped), then the hub (which starts the proxy and the course service)."""
        s = self.settings
        if not self.cluster.running():
            self.cluster.start()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
        env["GRADLAB_CLASS_SETTINGS"] = str(s.state_dir / "settings.json")
        hub_bin = str(Path(sys.executable).parent)  # the hub itself runs as root, from the checkout's venv
        env["PATH"] = os.pathsep.join([hub_bin, env.get("PATH", "/usr/bin:/bin")])
        t0 = time.perf_counter()
        log = open(s.state_dir / "jupyterhub.log", "ab")
        self.hub_proc = subprocess.Popen(
            [os.path.join(hub_bin, "jupyterhub"), "-f", str(HUB_DIR / "jupyterhub_config.py")],
            cwd=s.state_dir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait(lambda: self.hub_api("GET", "/")["version"], timeout, "the hub API")
        self.timings["hub_start_s"] = time.perf_counter() - t0
        self._wait(lambda: self._service_up(), timeout, "the course service (formgrader)")
        self._wait(lambda: self._proxy_up(), timeout, "the proxy's route to the hub")
        self.timings["hub_and_course_service_start_s"] = time.perf_counter() - t0

    def _proxy_up(self) -> bool:
        """The public URL (configurable-http-proxy) serves the hub's login page."""
        try:
            with urllib.request.urlopen(f"{self.settings.url}/hub/login", timeout=5) as r:
                return r.status == 200
        except urllib.error.HTTPError:
            return False

    def _service_up(self) -> bool:
        """The course service answers (403 without a token: it is up and checking the hub's auth)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.settings.ports.service}/services/"
                                        f"{COURSE_ID}/api/status", timeout=5) as r:
                return r.status < 500
        except urllib.error.HTTPError as e:
            return e.code < 500

    def _wait(self, probe, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        err = None
        while time.monotonic() < deadline:
            if self.hub_proc is not None and self.hub_proc.poll() is not None:
                raise ClassError(f"JupyterHub exited with {self.hub_proc.returncode} while waiting for "
                                 f"{what}:\n{self.log_tail()}")
            try:
                if probe():
                    return
            except (OSError, urllib.error.URLError, KeyError, ValueError) as e:
                err = e
            time.sleep(0.3)
        raise ClassError(f"{what} did not come up within {timeout:.0f} s ({err}):\n{self.log_tail()}")

    def log_tail(self, n: int = 4000) -> str:
        p = self.settings.state_dir / "jupyterhub.log"
        return p.read_text(errors="replace")[-n:] if p.exists() else ""

    def stop(self) -> None:
        """Stop the hub (it stops the users' servers, the course service and the proxy), then PostgreSQL."""
        if self.hub_proc is not None and self.hub_proc.poll() is None:
            self.hub_proc.send_signal(signal.SIGTERM)
            try:
                self.hub_proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.hub_proc.pid, signal.SIGKILL)
                self.hub_proc.wait(10)
        self.hub_proc = None
        self.cluster.stop()

    def destroy(self) -> None:
        """Stop everything and remove the accounts, their homes and the run folder."""
        try:
            self.stop()
        finally:
            for login in [m.login for m in self.settings.roster.members] + [self.settings.roster.grader]:
                remove_unix_user(login)
            self.cluster.remove()
            shutil.rmtree(self.settings.run_dir, ignore_errors=True)
            if self.solutions_mode is not None:
                os.chmod(_source(), self.solutions_mode)

    # ---- the hub's REST API (as the ``classroom`` admin service) ------------------------------
    def hub_api(self, method: str, path: str, body: dict | None = None, token: str | None = None):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.settings.ports.hub_api}/hub/api{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {token or self.settings.admin_token}",
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            data = r.read()
        return json.loads(data) if data else None

    def user_token(self, login: str) -> str:
        """An API token of ``login`` (what their single-user server would hold) for CLI runs as them."""
        return self.hub_api("POST", f"/users/{login}/tokens", {"note": "gradlab CLI"})["token"]

    def start_server(self, login: str, timeout: float = 120) -> float:
        """Start ``login``'s JupyterLab through the hub; returns the seconds it took."""
        t0 = time.perf_counter()
        try:
            self.hub_api("POST", f"/users/{login}/server")
        except urllib.error.HTTPError as e:
            if e.code != 400:  # 400: already running
                raise
        self._wait(lambda: self.hub_api("GET", f"/users/{login}")["servers"].get("", {}).get("ready"),
                   timeout, f"{login}'s server")
        return time.perf_counter() - t0

    # ---- commands as a member ---------------------------------------------------------------
    def run_as(self, login: str, cmd: list[str], cwd: Path | None = None, env: dict | None = None,
               check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        """Run ``cmd`` as Unix user ``login`` with a clean environment (their HOME, the venv's PATH)."""
        pw = pwd.getpwnam(login)
        base = {"HOME": pw.pw_dir, "USER": login, "LOGNAME": login, "LANG": "C.UTF-8",
                "PATH": f"{self.settings.member_bin}:/usr/bin:/bin", "MPLBACKEND": "Agg",
                "GRADLAB_PROGRESS": "0", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
        envs = [f"{k}={v}" for k, v in {**base, **(env or {})}.items()]
        proc = subprocess.run(["runuser", "-u", login, "--", "env", "-i", *envs, *cmd],
                              cwd=cwd or pw.pw_dir, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise ClassError(f"{' '.join(cmd)} as {login} exited {proc.returncode}:\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def hub_env(self, login: str, token: str) -> dict:
        """The variables nbgrader's JupyterHubAuthPlugin reads, as in a server the hub spawned."""
        return {"JUPYTERHUB_USER": login, "JUPYTERHUB_API_TOKEN": token,
                "JUPYTERHUB_API_URL": f"http://127.0.0.1:{self.settings.ports.hub_api}/hub/api"}

    def student_nbgrader(self, login: str, *args: str, token: str | None = None, check: bool = True):
        """``nbgrader ARGS`` as a student, with the student config and a hub token of theirs."""
        env = {**self.hub_env(login, token or self.user_token(login)),
               "JUPYTER_CONFIG_PATH": str(self.settings.etc("student"))}
        return self.run_as(login, [os.path.join(self.settings.member_bin, "nbgrader"), *args],
                           env=env, check=check)

    def grader_nbgrader(self, *args: str, check: bool = True, timeout: float = 600):
        """``nbgrader ARGS`` as the grader account, in the course directory."""
        s = self.settings
        return self.run_as(s.roster.grader, [os.path.join(s.member_bin, "nbgrader"), *args],
                           cwd=s.course_root, env=self.hub_env(s.roster.grader, s.service_token),
                           check=check, timeout=timeout)

    def release(self, assignment: str) -> None:
        """Generate ``assignment``'s release in the course language and put it in the exchange.

        nbgrader generates the English release into the course's ``course/``; for another language
        that folder is rebuilt from it and the repository's catalogs (``autograder/i18n.py``) before
        ``release_assignment`` copies it: students fetch the translated notebooks, graded as the
        English ones (same cell ids and grade ids).
        """
        s = self.settings
        self.grader_nbgrader("generate_assignment", assignment, "--force")
        if s.lang != "en":
            release = str(s.course_root / "course")
            self.run_as(s.roster.grader, [os.path.join(s.member_bin, "python"), "-m", "autograder.i18n", "build",
                                          assignment, "--lang", s.lang, "--release", release, "--out", release],
                        cwd=s.course_root, env=self.hub_env(s.roster.grader, s.service_token), check=True, timeout=300)
        self.grader_nbgrader("release_assignment", assignment, "--force")

    def describe(self) -> str:
        s = self.settings
        lines = [f"gradlab class running at {s.url}  (course service: {s.url}/services/{COURSE_ID}/)",
                 f"  gradebook : {redact(self.db_url)}",
                 f"  exchange  : {s.exchange}",
                 f"  course    : {s.course_root} (owned by {s.roster.grader})", "  logins:"]
        for m in s.roster.members:
            lines.append(f"    {m.role.value:<10} {m.login:<20} password {m.password}")
        return "\n".join(lines)


# -- make class ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hub.classroom", description=__doc__.split("\n\n")[0])
    ap.add_argument("--prefix", default="gl-", help="prefix of the demo Unix accounts (removed on exit)")
    ap.add_argument("--students", type=int, default=3, help="how many demo students")
    ap.add_argument("--port", type=int, default=0, help="the hub's public port on 127.0.0.1 (0: any free)")
    ap.add_argument("--release", default="01_vanishing_gradients",
                    help="assignment released to the students at start ('' for none)")
    ap.add_argument("--lang", default="en", choices=["en", "zh_CN"],
                    help="the course language: en, or zh_CN (the Chinese release, Chinese messages)")
    args = ap.parse_args(argv)
    missing = missing_components()
    if missing:
        print("make class needs: " + "; ".join(missing), file=sys.stderr)
        return 2
    ports = Ports.free()
    if args.port:
        ports = replace(ports, hub=args.port)
    run_dir = Path(tempfile_dir())
    room = Classroom.prepare(run_dir, Roster.demo(args.prefix, args.students), ports=ports, lang=args.lang)
    stop = {"now": False}

    def _stop(*_):
        stop["now"] = True
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        room.start()
        if args.release:
            room.release(args.release)
        print(room.describe())
        print(f"  hub started in {room.timings['hub_start_s']:.1f} s; Ctrl-C stops everything and "
              "removes the demo accounts.", flush=True)
        while not stop["now"]:
            if room.hub_proc.poll() is not None:
                print("JupyterHub exited:\n" + room.log_tail(), file=sys.stderr)
                return 1
            time.sleep(0.5)
        print("stopping the hub, the users' servers, the proxy and PostgreSQL ...", flush=True)
        return 0
    finally:
        room.destroy()


def tempfile_dir() -> str:
    import tempfile
    return tempfile.mkdtemp(prefix="gradlab-class-", dir="/tmp")


if __name__ == "__main__":
    raise SystemExit(main())
