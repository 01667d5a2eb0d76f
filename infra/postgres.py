"""The embedded PostgreSQL of a data directory (pgserver): started once, found again after a crash.

`grantflow up` keeps its database here; reading commands use it when `up` is running.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import warnings
from pathlib import Path
from typing import Protocol

import structlog

from infra.errors import Unavailable

log = structlog.stdlib.get_logger("grantflow.stack")

POSTGRES_SETTLE_TIMEOUT = 30.0  # seconds for a PostgreSQL a killed `up` left starting or stopping
POSTGRES_SYSTEM_USER = "pgserver"  # pgserver's choice (not configurable) for running PostgreSQL as root

class StackError(Unavailable):
    """The stack cannot start or stopped on its own; the message says why and what to do."""


class _PostgresServer(Protocol):
    def get_uri(self) -> str: ...
    def cleanup(self) -> None: ...


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

