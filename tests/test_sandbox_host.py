"""The host is safe from one notebook's sandbox: sized and read-only filesystems, one memory limit
for the whole sandbox (cgroup), no keyring, inert instructor pages, submissions read without
following links, and CI never skipping a missing component."""
from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import require, sandbox_problem
from coursekit import ROOT

from autograder import cgroup, discover, sandbox, sanitize
from autograder.limits import MB, Limits

KEY_SPEC_SESSION_KEYRING = -3
NR = {"x86_64": {"add_key": 248, "request_key": 249, "keyctl": 250}}.get(os.uname().machine, {})


def _in_sandbox(code: str, limits: Limits, scope=None, timeout=120) -> subprocess.CompletedProcess:
    """``python -c code`` in a fresh sandbox, as ``grade`` starts one (uid, rlimits, cgroup, filter)."""
    launch = sandbox.command(limits, inner=["-s", "-c", code])
    try:
        return subprocess.run(launch.argv, preexec_fn=sandbox.preexec(sandbox.sandbox_uid(7), limits, scope),
                              pass_fds=launch.fds, capture_output=True, text=True, timeout=timeout)
    finally:
        launch.close()


def _shmem_kb() -> int:
    with open("/proc/meminfo") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Shmem:"))


# -- the sandbox's filesystems ------------------------------------------------------------------------
def test_root_and_dev_are_read_only_and_every_tmpfs_is_sized():
    require("sandbox", sandbox_problem())
    limits = Limits(tmpfs_mb=32)
    code = textwrap.dedent("""
        import json, os
        out = {}
        for path in ('/x', '/dev/x', '/usr/x', '/opt/x'):
            try:
                open(path, 'w').write('x')
                out[path] = 'written'
            except OSError as e:
                out[path] = e.errno
        for d in ('/tmp', '/dev/shm', '/home/student', '/notebook'):
            st = os.statvfs(d)
            out[d] = st.f_blocks * st.f_frsize
        print(json.dumps(out))
    """)
    proc = _in_sandbox(code, limits)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for path in ("/x", "/dev/x", "/usr/x", "/opt/x"):
        assert out[path] in (30, 13), (path, out[path])      # EROFS (or EACCES): nothing written
    for d in ("/tmp", "/dev/shm", "/home/student", "/notebook"):
        assert out[d] <= 32 * MB, (d, out[d])


def test_filling_every_tmpfs_does_not_raise_the_hosts_shared_memory():
    """Shmem (tmpfs pages) of the host while a sandbox holds everything it could write: bounded by
    the sized mounts (and, with a cgroup, by the memory limit)."""
    require("sandbox", sandbox_problem())
    limits = Limits(tmpfs_mb=48, memory_mb=1024)
    code = textwrap.dedent("""
        import os, sys, time
        total = 0
        for d in ('/', '/dev', '/dev/shm', '/tmp', '/home/student', '/notebook'):
            try:
                with open(os.path.join(d, 'fill'), 'wb') as f:
                    for _ in range(400):
                        f.write(b'x' * 2**20)
                        total += 2**20
            except OSError:
                pass
        print(total, flush=True)
        sys.stdout.close()
        time.sleep(4)
    """)
    before = _shmem_kb()
    launch = sandbox.command(limits, inner=["-s", "-c", code])
    proc = subprocess.Popen(launch.argv, preexec_fn=sandbox.preexec(sandbox.sandbox_uid(7), limits),
                            pass_fds=launch.fds, stdout=subprocess.PIPE, text=True)
    launch.close()
    written = int(proc.stdout.readline())
    during = _shmem_kb()
    proc.wait(30)
    grown_mb = (during - before) / 1024
    print(f"written inside {written / MB:.0f} MB; host Shmem {before} kB -> {during} kB (+{grown_mb:.0f} MB)")
    assert written <= 4 * 48 * MB                # /, /dev: nothing; four sized tmpfs
    assert grown_mb < 4 * 48 + 64                # the rest of the host moves a little meanwhile


def test_children_together_over_the_limit_are_stopped_by_the_cgroup():
    require("sandbox", sandbox_problem())
    if cgroup.mode()[0] == "none":
        pytest.skip(cgroup.describe())   # not a missing component: this host has no cgroup for us
    limits = Limits(memory_mb=600, max_procs=32)
    code = textwrap.dedent("""
        import os, time
        kids = []
        for _ in range(4):           # each child stays under RLIMIT_AS; together 1.2 GB > 600 MB
            pid = os.fork()
            if pid == 0:
                b = bytearray(300 * 2**20)
                for i in range(0, len(b), 4096):
                    b[i] = 1
                time.sleep(20)
                os._exit(0)
            kids.append(pid)
        for pid in kids:
            os.waitpid(pid, 0)
    """)
    scope = cgroup.Scope.create(limits)
    assert scope.kind != "none"
    try:
        _in_sandbox(code, limits, scope, timeout=120)
    finally:
        scope.close()
    assert scope.oom_kills > 0
    assert all(not os.path.exists(d) for d in scope.dirs)   # nothing left behind


def test_doctor_says_which_guarantees_hold():
    proc = subprocess.run([sys.executable, "-m", "autograder", "doctor"], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)
    assert "cgroup memory limit: " in proc.stdout
    assert ("cgroup memory limit: yes" in proc.stdout) == (cgroup.mode()[0] != "none"), proc.stdout
    assert "keyring: " in proc.stdout and "read-only" in proc.stdout


# -- the keyring -----------------------------------------------------------------------------------------
def test_keyring_filter_is_a_whole_bpf_program():
    prog = sandbox.keyring_filter()
    if prog is None:
        pytest.skip(f"no keyring filter for {os.uname().machine}")
    assert len(prog) % 8 == 0 and 0 < len(prog) // 8 < 64


@pytest.mark.skipif(not NR, reason="syscall numbers known for x86_64 only")
def test_instructor_key_is_unreachable_and_keyring_calls_fail():
    require("sandbox", sandbox_problem())
    libc = ctypes.CDLL(None, use_errno=True)
    key = libc.syscall(NR["add_key"], b"user", b"gradlab-instructor", b"s3cret", 6, KEY_SPEC_SESSION_KEYRING)
    if key < 0:
        pytest.skip(f"this kernel gives no keyring to plant a key in (errno {ctypes.get_errno()})")
    code = textwrap.dedent(f"""
        import ctypes, json
        libc = ctypes.CDLL(None, use_errno=True)
        r = {{}}
        r['read'] = libc.syscall({NR['keyctl']}, 11, {key}, None, 0)                  # KEYCTL_READ
        r['search'] = libc.syscall({NR['request_key']}, b'user', b'gradlab-instructor', None, 0)
        r['plant'] = libc.syscall({NR['add_key']}, b'user', b'gradlab-planted', b'x', 1, -3)
        r['errno'] = ctypes.get_errno()
        print(json.dumps(r))
    """)
    try:
        proc = _in_sandbox(code, Limits())
        assert proc.returncode == 0, proc.stderr
        r = json.loads(proc.stdout)
        assert r["read"] == r["search"] == r["plant"] == -1, r
        assert r["errno"] == 1, r  # EPERM from the filter
    finally:
        libc.syscall(NR["keyctl"], 3, key)   # KEYCTL_REVOKE


# -- instructor pages ---------------------------------------------------------------------------------------
PAYLOADS = ['<img src=x onerror="window.__pwned=1">', "<script>window.__pwned=1</script>",
            '<a href="javascript:window.__pwned=1">x</a>', '<svg onload="window.__pwned=1"></svg>',
            "<iframe src=\"javascript:alert(1)\"></iframe>", '<div style="background:url(javascript:x)">s</div>']


@pytest.mark.parametrize("payload", PAYLOADS)
def test_sanitised_html_carries_no_script(payload):
    import re
    out = sanitize.clean_html(payload).lower()
    tags = re.findall(r"<[^>]*>", out)     # what a browser parses as markup (the rest is escaped text)
    for tag in tags:
        assert not re.match(r"<\s*/?\s*(script|svg|iframe|style)", tag), (payload, out)
        assert not re.search(r"\son\w+\s*=|javascript:|style\s*=", tag), (payload, out)


def test_outputs_keep_data_and_drop_code():
    outputs = [{"output_type": "display_data", "metadata": {"x": 1},
                "data": {"application/javascript": "window.__pwned=1", "text/plain": "p",
                         "image/png": "iVBORw0KGgo=", "image/svg+xml": "<svg onload=alert(1)/>",
                         "application/vnd.jupyter.widget-view+json": {"model_id": "x"},
                         "text/html": "<b>bold</b><script>x</script>"}},
               {"output_type": "display_data", "metadata": {}, "data": {"application/javascript": "x"}},
               {"output_type": "stream", "name": "stdout", "text": "<script>"}]
    [first, stream] = sanitize.clean_outputs(outputs)
    assert set(first["data"]) == {"text/plain", "image/png", "text/html"} and first["metadata"] == {}
    assert first["data"]["text/html"].startswith("<b>bold</b>") and "<script>" not in first["data"]["text/html"]
    assert stream["text"] == "<script>"   # escaped by every renderer


@pytest.mark.parametrize("md", ["[a](javascript:alert(1))", "[a](<JaVa\tScRiPt:alert(1)>)", "<javascript:alert(1)>",
                                "[a](jav&#x61;script:alert(1))", "![i](data:text/html;base64,PHNjcmlwdD4=)",
                                "[r]: javascript:alert(1)\n\n[a][r]"])
def test_markdown_links_to_code_are_blocked(md):
    out = sanitize.clean_markdown(md)
    assert "javascript:" not in out.lower().replace("\t", "").replace(" ", "") and "data:text" not in out, out


def test_markdown_math_and_images_survive():
    md = "The loss $L = -\\sum_i y_i \\log p_i$ where $a<b$ & ![plot](data:image/png;base64,iVBORw0KGgo=)"
    out = sanitize.clean_markdown(md)
    assert "$L = -\\sum_i y_i \\log p_i$" in out and "data:image/png;base64,iVBORw0KGgo=" in out
    assert "$a\\lt b$" in out and "&amp;" in out   # MathJax's \\lt; outside math, & is escaped


# -- submissions are read without following links ----------------------------------------------------------
def test_read_file_never_follows_a_link(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("root only")
    os.chmod(secret, 0o600)
    (tmp_path / "timestamp.txt").symlink_to(secret)
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tmp_path / "fifo.txt")
    for name in ("timestamp.txt", "dangling.txt"):
        with pytest.raises(ValueError, match="link"):
            discover.read_file(str(tmp_path / name), 100)
    with pytest.raises(ValueError, match="regular file"):
        discover.read_file(str(tmp_path / "fifo.txt"), 100)
    (tmp_path / "big.txt").write_bytes(b"x" * 200)
    with pytest.raises(ValueError, match="too large"):
        discover.read_file(str(tmp_path / "big.txt"), 100)
    assert discover._timestamp(str(tmp_path)) is None


def test_feedback_exchange_files_never_follow_links(tmp_path):
    from autograder.record import write_exchange_files
    secret = tmp_path / "secret"
    secret.write_text("ROOT-ONLY-CONTENT")
    submitted, autograded, out = tmp_path / "sub", tmp_path / "ag", tmp_path / "fb"
    submitted.mkdir()
    (submitted / "timestamp.txt").symlink_to(secret)
    (submitted / "submission_secret.txt").symlink_to(secret)
    (submitted / "ps1.ipynb").symlink_to(tmp_path / "nowhere")     # dangling: must not stop anything
    write_exchange_files(str(out), [str(autograded), str(submitted)], fallback=True)
    for name in ("timestamp.txt", "submission_secret.txt"):
        assert "ROOT-ONLY" not in (out / name).read_text()


# -- CI never skips a component -----------------------------------------------------------------------------
def test_require_fails_under_ci_and_skips_otherwise(tmp_path):
    (tmp_path / "test_x.py").write_text("from conftest import require\n\n"
                                        "def test_needs_it():\n    require('sandbox', 'bubblewrap is not installed')\n")
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
            "-c", os.devnull, str(tmp_path / "test_x.py")]
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = os.path.join(ROOT, "tests")
    skipped = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path)
    failed = subprocess.run(argv, capture_output=True, text=True, env=dict(env, CI="true"), cwd=tmp_path)
    assert "1 skipped" in skipped.stdout and skipped.returncode == 0, skipped.stdout
    assert "1 failed" in failed.stdout and "bubblewrap is not installed" in failed.stdout, failed.stdout
    with pytest.raises(ValueError):
        require("cuda", "no GPU")   # CUDA tests may skip: not a component of the grader


def test_every_component_skip_goes_through_require():
    """No test skips for a missing sandbox, database, Node or browser by itself."""
    import re
    words = re.compile(r"sandbox|bubblewrap|bwrap|postgres|initdb|node|proxy|chromium|playwright", re.I)
    offenders = []
    for name in sorted(os.listdir(os.path.join(ROOT, "tests"))):
        if not name.endswith(".py") or name in ("conftest.py", os.path.basename(__file__)):
            continue
        with open(os.path.join(ROOT, "tests", name), encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if ("pytest.skip(" in line or "skipif(" in line or "importorskip(" in line) and words.search(line) \
                        and "geteuid" not in line:   # "needs root" is not a missing component
                    offenders.append(f"{name}:{i}: {line.strip()}")
    assert not offenders, offenders
