"""queue: grading on several machines, through a procrastinate queue on the course's PostgreSQL.

The course side (``grade --queue``, ``serve``) plans every notebook run and builds its payload
(``run.build_payload``: per-cell one-way keys, never the batch secret); a task is one payload. A
worker (``python -m autograder worker``, on any machine that reaches the database) takes a task
(``SELECT … FOR UPDATE SKIP LOCKED``, procrastinate), runs it in its local bubblewrap sandbox
exactly as ``grade`` does (``run.execute_raw``), and inserts what the sandbox left (``RawRun``)
into ``gradlab_results`` under the task's key. The course side reads that row with the same rules
as a local run (``run.read``), judges and records: workers never write the gradebook,
``autograded/`` or a page.

The key is a hash of everything that decides the run (payload, limits, language, data files), so
a task is run once however often it is asked for: a retried job finds its row, a reference run
(same source, seed and skip flag: the same payload) is shared by every submission of the batch.

Faults: a worker that stops sending heartbeats (killed, its machine gone) for ``STALLED_S`` has its
jobs put back by the course side (``Janitor``); a task that failed ``MAX_ATTEMPTS`` times (an
exception in the worker, or the worker dying every time) gets an error row, and the batch goes on.
Lost connections (PostgreSQL restarted) are retried by both sides until ``RECONNECT_S`` passes.
"""
from __future__ import annotations

import asyncio
import base64
import concurrent.futures as cf
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import socket
import tempfile
import threading
import time

from . import run, sandbox
from .limits import MB, Limits
from .records import RunOutput

QUEUE, UNSAFE_QUEUE = "gradlab", "gradlab-unsafe"   # an unsandboxed worker never takes a sandboxed batch's work
TASK = "gradlab.run"
MAX_ATTEMPTS = 3         # runs of one task before its error row (worker exceptions and worker deaths alike)
POLL_S = 0.25            # how often the course side looks for the results it waits for
HEARTBEAT_S = 2.0        # a worker's heartbeat
STALLED_S = 10.0         # a worker silent this long is gone: its jobs are put back for another
RECONNECT_S = 600.0      # how long a lost database is waited for before giving up
ASSET_BYTES = 16 * MB    # the release's data files travel with each task; larger belongs in the image
RESULTS_DDL = """CREATE TABLE IF NOT EXISTS gradlab_results (
    key text PRIMARY KEY,
    output jsonb NOT NULL,
    worker text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now())"""
log = logging.getLogger("autograder.workqueue")


class QueueError(RuntimeError):
    """The queue cannot be used (no PostgreSQL gradebook, procrastinate missing, schema refused)."""


def conninfo(db_url: str) -> str:
    """The libpq URL of a gradebook URL (SQLAlchemy's ``postgresql+psycopg://`` → ``postgresql://``)."""
    scheme, sep, rest = db_url.partition("://")
    if not sep or scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise QueueError("the worker queue lives in the course's PostgreSQL gradebook; this course's db_url is "
                         f"{scheme or db_url!r}, not postgresql:// (see README, 'Grading on several machines')")
    return "postgresql://" + rest


@dataclasses.dataclass(frozen=True)
class Task:
    """One notebook run as it crosses the queue (procrastinate stores these fields as the job's
    arguments): nothing in it is secret from a worker."""
    key: str
    payload: str              # run.build_payload's JSON
    limits: dict              # dataclasses.asdict(Limits)
    lang: str
    assets: dict              # the release's data files: name -> base64

    @classmethod
    def make(cls, payload: bytes, limits: Limits, lang: str, assignment_dir: str | None) -> Task:
        assets, size = {}, 0
        for name in sorted(os.listdir(assignment_dir)) if assignment_dir else []:
            with open(os.path.join(assignment_dir, name), "rb") as f:
                data = f.read()
            size += len(data)
            if size > ASSET_BYTES:
                raise QueueError(f"the assignment's data files pass {ASSET_BYTES // MB} MB: put them in the "
                                 "workers' image instead of each task")
            assets[name] = base64.b64encode(data).decode()
        body = {"payload": payload.decode(), "limits": dataclasses.asdict(limits), "lang": lang, "assets": assets}
        key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        return cls(key=key, **body)


def error_output(note: str) -> dict:
    """A results row for a task that never gave one: read back, it is an error run with ``note``."""
    return {**run.RawRun(b"", 0, b"", None, False, 0.0, 0).to_json(), "error": note[:500]}


def read_output(d, limits: Limits) -> RunOutput:
    """A ``gradlab_results`` row as the course side believes it (``run.read``'s rules)."""
    from .records import Status

    if isinstance(d, dict) and isinstance(d.get("error"), str):
        return RunOutput(Status.ERROR, [], [d["error"][:500]], 0.0, {})
    return run.read(run.RawRun.from_json(d), limits)


# -- the procrastinate app --------------------------------------------------------------------------
def _app(db_url: str):
    try:
        import procrastinate
    except ImportError as e:
        raise QueueError("the worker queue needs the hub extra (make hub-setup: procrastinate, psycopg)") from e
    return procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=conninfo(db_url), kwargs={"connect_timeout": 5}), worker_defaults={"install_signal_handlers": True})


def ensure_schema(db_url: str) -> None:
    """procrastinate's tables and ``gradlab_results``, created once (an advisory lock orders the
    course side and the workers that start at the same time)."""
    import procrastinate
    import psycopg

    with psycopg.connect(conninfo(db_url), autocommit=True, connect_timeout=5) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(727170)")
        if conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0] is None:
            conn.execute(procrastinate.schema.SchemaManager.get_schema())
        conn.execute(RESULTS_DDL)


def _retrying(what: str, fn, *args):
    """``fn(*args)``, again every few seconds while the database is unreachable (a restart)."""
    import psycopg

    deadline, pause = time.monotonic() + RECONNECT_S, 0.5
    while True:
        try:
            return fn(*args)
        except (psycopg.OperationalError, OSError) as e:
            if time.monotonic() > deadline:
                raise
            log.warning("%s: database unreachable (%s); retrying", what, str(e).splitlines()[0][:200])
            time.sleep(pause)
            pause = min(5.0, pause * 2)


def store_result(db_url: str, key: str, output: dict, worker: str) -> None:
    """Insert the row of ``key``; a row already there (a retried job) wins: nothing is doubled."""
    import psycopg
    from psycopg.types.json import Jsonb

    def insert():
        with psycopg.connect(conninfo(db_url), autocommit=True, connect_timeout=5) as conn:
            conn.execute("INSERT INTO gradlab_results (key, output, worker) VALUES (%s, %s, %s) "
                         "ON CONFLICT (key) DO NOTHING", (key, Jsonb(output), worker))
    _retrying(f"storing the result of {key[:12]}", insert)


# -- the worker -------------------------------------------------------------------------------------
class Worker:
    """Runs tasks in this machine's sandbox (``python -m autograder worker``).

    Args:
        db_url: the course's PostgreSQL gradebook URL (the queue lives there).
        jobs: notebooks run at once (one torch thread each; one per free core).
        unsafe: run without the sandbox (only where it cannot start); takes only ``UNSAFE_QUEUE``'s
            tasks, which a batch started with ``--unsafe-no-sandbox`` enqueues and flags.
    """

    def __init__(self, db_url: str, *, jobs: int = 1, unsafe: bool = False):
        self.db_url, self.jobs, self.unsafe = db_url, max(1, jobs), unsafe
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        # slots (and so sandbox uids as root, whose RLIMIT_NPROC is per uid) of their own, apart from
        # another worker's on the same machine
        base = (os.getpid() % 65536) * 64
        self._slots = iter(range(base, base + 64 * 1024))
        self._local = threading.local()
        self.cache: str | None = None

    def check(self) -> str | None:
        """Why this machine must not take work (its sandbox cannot start), or None."""
        return None if self.unsafe else sandbox.check()

    def run_task(self, context, key: str, payload: str, limits: dict, lang: str, assets: dict) -> None:
        """One task: run it unless its row exists, and store what the sandbox left."""
        attempt = context.job.attempts + 1
        try:
            if self._has_result(key):
                return   # a retried job whose first run finished after all
            out = self._execute(payload, limits, lang, assets)
        except Exception as e:  # noqa: BLE001 — a failure of this worker, not a verdict on the student
            if attempt < MAX_ATTEMPTS:
                raise   # procrastinate retries it (any worker)
            log.error("task %s failed %d times: %s", key[:12], attempt, e)
            store_result(self.db_url, key, error_output(
                f"the run failed on the grading workers {attempt} times (last: {type(e).__name__}: {str(e)[:200]})"),
                self.name)
            raise   # the job stays 'failed' in procrastinate's table, for the instructor to see
        store_result(self.db_url, key, out.to_json(), self.name)

    def _has_result(self, key: str) -> bool:
        import psycopg

        def look():
            with psycopg.connect(conninfo(self.db_url), autocommit=True, connect_timeout=5) as conn:
                return conn.execute("SELECT 1 FROM gradlab_results WHERE key = %s", (key,)).fetchone() is not None
        return _retrying(f"looking up {key[:12]}", look)

    def _execute(self, payload: str, limits: dict, lang: str, assets: dict) -> run.RawRun:
        if not hasattr(self._local, "slot"):
            self._local.slot = next(self._slots)
        lim = Limits(**limits)
        folder = None
        try:
            if assets:   # world-readable, as the sandbox's uid must read them
                folder = tempfile.mkdtemp(prefix="gradlab-assets-")
                os.chmod(folder, 0o755)
                for name, data in assets.items():
                    if os.path.basename(name) != name or name.startswith("."):
                        raise ValueError(f"data file name {name!r}")
                    with open(os.path.join(folder, name), "wb") as f:
                        f.write(base64.b64decode(data))
                    os.chmod(os.path.join(folder, name), 0o644)
            return run.execute_raw(payload.encode(), limits=lim, slot=self._local.slot, assignment_dir=folder,
                                   cache_dir=self.cache, unsafe=self.unsafe, lang=lang)
        finally:
            if folder:
                shutil.rmtree(folder, ignore_errors=True)

    def serve(self) -> None:
        """Take tasks until stopped (SIGTERM / Ctrl-C: the running ones finish first); a lost
        database is waited for and the worker starts again."""
        run_dir = tempfile.mkdtemp(prefix="gradlab-worker-")
        os.chmod(run_dir, 0o711)
        try:
            self.cache = sandbox.copy_cache(os.path.join(run_dir, "cache"))
            _retrying("creating the queue's tables", ensure_schema, self.db_url)
            while True:
                app = _app(self.db_url)
                app.task(name=TASK, pass_context=True, retry=MAX_ATTEMPTS - 1)(self.run_task)
                try:
                    app.run_worker(queues=[UNSAFE_QUEUE if self.unsafe else QUEUE], concurrency=self.jobs,
                                   name=self.name, update_heartbeat_interval=HEARTBEAT_S,
                                   stalled_worker_timeout=STALLED_S, fetch_job_polling_interval=1.0,
                                   delete_jobs="successful")
                    return   # stopped by a signal
                except Exception as e:  # noqa: BLE001 — the database went away: start again when it is back
                    log.warning("worker stopped (%s: %s); starting again", type(e).__name__, str(e)[:200])
                    time.sleep(2.0)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)


# -- the course side --------------------------------------------------------------------------------
class QueueRunner:
    """``run.run_notebook`` through the workers: ``Batch(..., runner=QueueRunner(db_url))``.

    Each call builds the payload here (where the batch secret is), enqueues it once per key and
    blocks until its row arrives; one thread (an asyncio loop) enqueues, polls the rows every
    ``POLL_S`` and puts back the jobs of stalled workers, reconnecting when the database restarts.

    Examples::

        >>> runner = QueueRunner(target.db_url)                                       # doctest: +SKIP
        >>> Batch(submissions, out, runner=runner, jobs=64).grade(); runner.close()  # doctest: +SKIP
    """

    def __init__(self, db_url: str, *, unsafe: bool = False, echo=log.warning):
        self.db_url, self.queue, self.echo = db_url, UNSAFE_QUEUE if unsafe else QUEUE, echo
        ensure_schema(db_url)
        self._waiting: dict[str, tuple[cf.Future, Limits]] = {}
        self._answered: set[str] = set()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop = False
        self._said = 0.0   # when the "no worker" line was last said
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._main(),),
                                        name="gradlab-queue", daemon=True)
        self._thread.start()
        self._ready.wait(30)

    def __call__(self, plan, *, seed: int, limits: Limits, slot: int = 0, assignment_dir: str | None = None,
                 cache_dir: str | None = None, unsafe: bool = False, lang: str = "en") -> RunOutput:
        task = Task.make(run.build_payload(plan, seed=seed, limits=limits), limits, lang, assignment_dir)
        return self.submit(task, limits).result()

    def submit(self, task: Task, limits: Limits) -> cf.Future:
        """A future of the ``RunOutput`` of ``task`` (enqueued unless its key is already known)."""
        with self._lock:
            if task.key in self._waiting:
                return self._waiting[task.key][0]
            future: cf.Future = cf.Future()
            self._waiting[task.key] = (future, limits)
        asyncio.run_coroutine_threadsafe(self._defer(task), self._loop)
        return future

    def close(self) -> None:
        """Stop the loop and delete the rows this runner read (students' raw outputs are kept no
        longer than the batch that judged them; the results of a lost runner can be deleted by age)."""
        import psycopg

        self._stop = True
        self._thread.join(10)
        with self._lock:
            keys = sorted(self._answered)
        try:
            with psycopg.connect(conninfo(self.db_url), autocommit=True, connect_timeout=5) as conn:
                conn.execute("DELETE FROM gradlab_results WHERE key = ANY(%s)", (keys,))
        except psycopg.Error as e:
            self.echo(f"queue: the batch's {len(keys)} result rows were not deleted ({type(e).__name__})")

    # -- the loop thread ----------------------------------------------------------------------
    async def _main(self) -> None:
        self.app = _app(self.db_url)
        while True:   # the database may be restarting just now
            try:
                await self.app.open_async()
                break
            except Exception as e:  # noqa: BLE001
                self.echo(f"queue: cannot reach the database yet ({type(e).__name__}); retrying")
                await asyncio.sleep(1.0)
        self._ready.set()
        last_janitor = 0.0
        try:
            while not self._stop:
                try:
                    await self._collect()
                    if time.monotonic() - last_janitor > HEARTBEAT_S:
                        last_janitor = time.monotonic()
                        await self._put_back_stalled()
                except Exception as e:  # noqa: BLE001 — PostgreSQL restarting: the next round reconnects
                    self.echo(f"queue: database unreachable ({type(e).__name__}: {str(e)[:120]}); retrying")
                    await asyncio.sleep(1.0)
                await asyncio.sleep(POLL_S)
        finally:
            await self.app.close_async()

    async def _defer(self, task: Task) -> None:
        from procrastinate import exceptions

        pause = 0.5
        for _ in range(int(RECONNECT_S)):
            try:
                row = await self.app.connector.execute_query_one_async(
                    "SELECT count(*) AS n FROM gradlab_results WHERE key = %(key)s", key=task.key)
                if row["n"]:
                    return   # already run (a reference run of this batch's seed): _collect picks it up
                await self.app.configure_task(TASK, queue=self.queue, lock=task.key, queueing_lock=task.key).defer_async(
                    **dataclasses.asdict(task))
                return
            except exceptions.AlreadyEnqueued:
                return
            except Exception as e:  # noqa: BLE001
                self.echo(f"queue: enqueueing {task.key[:12]} failed ({type(e).__name__}); retrying")
                await asyncio.sleep(pause)
                pause = min(5.0, pause * 2)
        self._resolve(task.key, error_output("the task could not be enqueued (database unreachable)"))

    async def _collect(self) -> None:
        with self._lock:
            keys = list(self._waiting)
        if not keys:
            return
        rows = await self.app.connector.execute_query_all_async(
            "SELECT key, output::text AS output FROM gradlab_results WHERE key = ANY(%(keys)s)", keys=keys)
        for row in rows:
            text = row["output"]
            with self._lock:
                limits = self._waiting.get(row["key"], (None, Limits()))[1]
            cap = 2 * limits.result_mb * MB + 1 * MB   # base64 of the capped results, plus the log
            try:
                output = json.loads(text) if len(text) <= cap else error_output("the worker's result was too large")
            except ValueError:
                output = error_output("the worker's result was not JSON")
            self._resolve(row["key"], output)

    def _resolve(self, key: str, output: dict) -> None:
        with self._lock:
            future, limits = self._waiting.pop(key, (None, None))
            self._answered.add(key)
        if future is not None and not future.done():
            try:
                future.set_result(read_output(output, limits))
            except Exception as e:  # noqa: BLE001 — a row that cannot be read is that notebook's error
                future.set_result(read_output(error_output(f"unreadable result: {type(e).__name__}"), limits))

    async def _put_back_stalled(self) -> None:
        """Jobs of workers silent for ``STALLED_S`` go back to the queue (another worker takes them),
        or, after ``MAX_ATTEMPTS`` runs, get their error row."""
        jobs = await self.app.job_manager.get_stalled_jobs(queue=self.queue, task_name=TASK,
                                                         seconds_since_heartbeat=STALLED_S)
        for job in jobs:
            key = job.task_kwargs.get("key", "")
            if job.attempts + 1 >= MAX_ATTEMPTS:
                store_note = (f"the run stopped its grading worker {job.attempts + 1} times (the worker died or its "
                              "machine went away); not tried again")
                await asyncio.to_thread(store_result, self.db_url, key, error_output(store_note), "course-side")
                await self.app.job_manager.finish_job_by_id_async(job.id, status=_failed(), delete_job=False)
            else:
                self.echo(f"queue: worker {job.worker_id} stopped; task {key[:12]} goes to another worker")
                await self.app.job_manager.retry_job(job)
        await self.app.job_manager.prune_stalled_workers(STALLED_S)
        with self._lock:
            waiting = len(self._waiting)
        if waiting and time.monotonic() - self._said > 60:
            row = await self.app.connector.execute_query_one_async(
                "SELECT count(*) AS n FROM procrastinate_workers WHERE last_heartbeat > now() - interval '10 seconds'")
            if not row["n"]:
                self._said = time.monotonic()
                self.echo(f"queue: {waiting} notebook(s) waiting and no worker is running: start "
                          "`python -m autograder worker` on a machine that reaches this database")


def _failed():
    from procrastinate.jobs import Status
    return Status.FAILED
