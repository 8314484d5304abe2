"""A throwaway PostgreSQL cluster for the course gradebook: ``initdb`` + ``pg_ctl``, well under a second.

PostgreSQL refuses to run as root, so when the caller is root the server binaries run as the
``postgres`` system user (``runuser -u postgres``); otherwise as the caller. The server listens on
127.0.0.1 only (no Unix socket), every TCP login needs a password (``scram-sha-256``), so a student
on the same machine cannot open the gradebook without the password kept in the grader's private
nbgrader config.

    cluster = Cluster.create(Path("/srv/class/pg"), port=5433)   # initdb (once)
    cluster.start()
    url = cluster.create_database("gradlab", role="gradlab", password="...")
    ...                                                          # nbgrader: c.CourseDirectory.db_url = url
    cluster.stop()
"""
from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from autograder.files import redact_db_url as redact  # noqa: F401 — the hub names databases by the one rule

BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")
DRIVER = "postgresql+psycopg"  # SQLAlchemy dialect for psycopg 3 (nbgrader's db_url goes to SQLAlchemy)


class PostgresError(RuntimeError):
    """A PostgreSQL server command failed; the message names the cluster and the command."""


def find_bin_dir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl`` (Debian's layout first, then ``PATH``)."""
    for d in BIN_CANDIDATES:
        if os.access(os.path.join(d, "pg_ctl"), os.X_OK):
            return Path(d)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def server_user() -> str:
    """The Unix account that runs the server: ``postgres`` when we are root, else ourselves."""
    return "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


@dataclass(frozen=True)
class Cluster:
    """One PostgreSQL data directory and the server serving it on ``127.0.0.1:port``."""

    data_dir: Path
    port: int
    bin_dir: Path
    os_user: str
    superuser_password: str

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def create(cls, data_dir: Path, port: int, bin_dir: Path | None = None) -> Cluster:
        """``initdb`` a new cluster in ``data_dir`` (which must not exist yet)."""
        bin_dir = bin_dir or find_bin_dir()
        if bin_dir is None:
            raise PostgresError("PostgreSQL server binaries (initdb, pg_ctl) not found; "
                                "install Debian's postgresql package")
        cluster = cls(Path(data_dir), port, Path(bin_dir), server_user(), secrets.token_urlsafe(24))
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, mode=0o700)
        pw = pwd.getpwnam(cluster.os_user)
        os.chown(data_dir, pw.pw_uid, pw.pw_gid)
        pwfile = data_dir / "pwfile"
        pwfile.write_text(cluster.superuser_password + "\n")
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        os.chmod(pwfile, 0o600)
        pgdata = data_dir / "data"
        cluster._run("initdb", "-D", str(pgdata), "-U", "postgres", "--pwfile", str(pwfile),
                     "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
                     "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
        pwfile.unlink()
        (data_dir / "cluster.json").write_text(json.dumps({**asdict(cluster), "data_dir": str(data_dir),
                                                          "bin_dir": str(cluster.bin_dir)}))
        os.chmod(data_dir / "cluster.json", 0o600)
        return cluster

    def start(self, timeout: int = 30) -> None:
        """Start the server (TCP on 127.0.0.1 only, no Unix socket) and wait until it accepts logins."""
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
                "-c fsync=off -c max_connections=100")
        self._run("pg_ctl", "start", "-w", "-t", str(timeout), "-D", str(self.pgdata),
                  "-l", str(self.log), "-o", opts)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back open transactions; ``immediate``: as a crash)."""
        if self.running():
            self._run("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.pgdata))

    def running(self) -> bool:
        return (self.pgdata / "postmaster.pid").exists() and subprocess.run(
            self._cmd("pg_ctl", "status", "-D", str(self.pgdata)), capture_output=True).returncode == 0

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- databases -------------------------------------------------------------------------
    def create_database(self, name: str, role: str, password: str) -> str:
        """A database ``name`` owned by a login ``role`` that can reach nothing else; returns its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(**self.connect_args("postgres", "postgres", self.superuser_password),
                             autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(role)))
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))
        return self.url(name, role, password)

    def url(self, database: str, role: str, password: str) -> str:
        return f"{DRIVER}://{role}:{password}@127.0.0.1:{self.port}/{database}"

    def connect_args(self, database: str, role: str, password: str | None) -> dict:
        args = dict(host="127.0.0.1", port=self.port, dbname=database, user=role, connect_timeout=5)
        if password is not None:
            args["password"] = password
        return args

    # -- plumbing --------------------------------------------------------------------------
    @property
    def pgdata(self) -> Path:
        return self.data_dir / "data"

    @property
    def log(self) -> Path:
        return self.data_dir / "server.log"

    def _cmd(self, tool: str, *args: str) -> list[str]:
        cmd = [str(self.bin_dir / tool), *args]
        if self.os_user != pwd.getpwuid(os.geteuid()).pw_name:
            cmd = ["runuser", "-u", self.os_user, "--", *cmd]
        return cmd

    def _run(self, tool: str, *args: str) -> None:
        proc = subprocess.run(self._cmd(tool, *args), capture_output=True, text=True, cwd="/")
        if proc.returncode != 0:
            tail = ""
            if self.log.exists():
                tail = "\n" + self.log.read_text(errors="replace")[-2000:]
            raise PostgresError(f"PostgreSQL {tool} {args[0] if args else ''} failed for the cluster in "
                                f"{self.data_dir} (port {self.port}): {proc.stderr.strip() or proc.stdout.strip()}{tail}")

