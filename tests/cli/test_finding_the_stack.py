"""The CLI finds the running `grantflow up` from any folder, and never makes a database where it is run."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from cli.main import main
from infra.calls import default_catalog, install_call, load_catalog
from infra.errors import Unavailable
from infra.settings import (
    NO_STACK,
    Settings,
    StackRecord,
    client_settings,
    read_stack_record,
    stack_record_path,
    write_stack_record,
)
from tests.worker.helpers import free_port
from tests.worker.test_stack import RecordingComponents, needs_temporal, running

ROOT = Path(__file__).parents[2]


@pytest.fixture
def state(tmp_path, monkeypatch) -> Path:
    """A state directory of this test's own, no GRANTFLOW_* settings, and an empty folder to run from."""
    for name in list(os.environ):
        if name.startswith("GRANTFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return tmp_path / "state"


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Outside pytest's tmp_path, as in tests/worker/test_stack.py: the embedded PostgreSQL may run as another user.
    parent = Path(tempfile.mkdtemp(prefix="grantflow-record-test-"))
    yield parent / "data"
    shutil.rmtree(parent, ignore_errors=True)


def grantflow(cwd: Path, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRANTFLOW_")}
    result = subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=cwd, capture_output=True, text=True,
                            timeout=60, env=env | {"XDG_STATE_HOME": str(state), "PYTHONPATH": str(ROOT)})
    assert "Traceback" not in result.stderr, result.stderr
    return result


def run(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


@needs_temporal
async def test_up_records_where_it_runs_and_commands_from_any_folder_find_it(data_dir, state, tmp_path):
    settings = Settings(data_dir=data_dir, task_queue="record-test", log_format="json")
    port, ui_port = free_port(), free_port()
    elsewhere = tmp_path / "cwd"

    async with running(settings, port, ui_port, RecordingComponents().components()):
        record = read_stack_record()
        assert record is not None and record.pid == os.getpid() and record.data_dir == data_dir.resolve()
        assert record.temporal_address == f"127.0.0.1:{port}" and record.database_url
        # The database URL may hold a password: only its owner reads the record.
        assert stat.S_IMODE(stack_record_path().stat().st_mode) == 0o600

        listed = await asyncio.to_thread(grantflow, elsewhere, state, "cases")
        assert listed.returncode == 0, listed.stderr  # the register of the stack, empty
        unknown = await asyncio.to_thread(grantflow, elsewhere, state, "case", "2099-99999")
        # Temporal answered: the case is not there.
        assert unknown.returncode == 2 and "det finns inget ärende '2099-99999'" in unknown.stderr, unknown.stderr

    assert not stack_record_path().exists()  # a clean stop takes the record back
    stopped = await asyncio.to_thread(grantflow, elsewhere, state, "cases")
    assert stopped.returncode == 3 and stopped.stderr == f"error: {NO_STACK}\n"
    assert list(elsewhere.iterdir()) == []


def _record(pid: int, data_dir: Path, database_url: str = "postgresql://nobody@127.0.0.1:1/none") -> None:
    write_stack_record(StackRecord(pid=pid, data_dir=data_dir, temporal_address="127.0.0.1:1",
                                   temporal_namespace="recorded", database_url=database_url))


def test_without_a_stack_a_reading_command_says_what_to_do_and_makes_nothing(state, capsys):
    for command in (["cases"], ["letters"], ["payouts"], ["case", "2021-00001"], ["db", "upgrade"],
                    ["bank-file", "export"], ["archive", "show", "2021-00001"]):
        assert run(capsys, *command) == (3, f"error: {NO_STACK}\n"), command
    assert list(Path.cwd().iterdir()) == []


def test_a_data_dir_without_a_database_is_not_given_one(state, tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty-data"
    monkeypatch.setenv("GRANTFLOW_DATA_DIR", str(empty))
    code, err = run(capsys, "cases")
    assert code == 3 and err == f"error: {NO_STACK} (there is no database in {empty})\n"
    assert not empty.exists()


def test_a_record_whose_process_has_died_is_ignored(state, tmp_path, capsys):
    gone = subprocess.Popen(["true"])
    gone.wait()
    _record(gone.pid, tmp_path)
    assert read_stack_record() is None
    assert run(capsys, "cases") == (3, f"error: {NO_STACK}\n")


def test_a_record_whose_process_is_a_zombie_is_ignored(state, tmp_path):
    child = subprocess.Popen(["true"])
    # Wait for it to end without reaping it: it stays a zombie, which os.kill(pid, 0) still finds.
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    try:
        _record(child.pid, tmp_path)
        assert read_stack_record() is None
    finally:
        child.wait()


def test_the_record_of_a_live_stack_gives_every_location_setting(state, tmp_path):
    _record(os.getpid(), tmp_path / "recorded")
    settings = client_settings()
    assert (settings.data_dir, settings.database_url, settings.temporal_address, settings.temporal_namespace) == (
        tmp_path / "recorded", "postgresql://nobody@127.0.0.1:1/none", "127.0.0.1:1", "recorded")


def test_an_explicit_setting_wins_over_the_record(state, tmp_path, monkeypatch, capsys):
    _record(os.getpid(), tmp_path / "recorded")
    monkeypatch.setenv("GRANTFLOW_DATA_DIR", str(tmp_path / "other"))
    settings = client_settings()
    assert settings.data_dir == tmp_path / "other" and settings.database_url is None
    assert settings.temporal_address == "localhost:7233"
    code, err = run(capsys, "cases")
    assert code == 3 and f"there is no database in {tmp_path / 'other'}" in err

    # The same data directory as the record's: the record fills in the rest.
    monkeypatch.setenv("GRANTFLOW_DATA_DIR", str(tmp_path / "recorded"))
    assert client_settings().database_url == "postgresql://nobody@127.0.0.1:1/none"

    monkeypatch.setenv("GRANTFLOW_DATABASE_URL", "postgresql://someone@db.example/grantflow")
    assert client_settings().database_url == "postgresql://someone@db.example/grantflow"


def test_with_nothing_recorded_and_no_settings_there_is_no_stack(state):
    with pytest.raises(Unavailable, match="no running grantflow found"):
        client_settings()


@pytest.fixture
def empty_database(database_url) -> Iterator[str]:
    """A database without grantflow's tables (never migrated)."""
    name = f"empty_{uuid.uuid4().hex}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(database_url, dbname=name)
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_a_database_without_the_register_says_to_upgrade_it(state, empty_database, monkeypatch, capsys):
    monkeypatch.setenv("GRANTFLOW_DATABASE_URL", empty_database)
    for command in (["cases"], ["letters"]):
        assert run(capsys, *command) == (
            3, "error: database: the register's tables are missing; run `grantflow db upgrade`\n")


def test_the_calls_the_running_installation_opened_are_known_from_any_folder(state, tmp_path, capsys):
    recorded = tmp_path / "recorded"
    seeds = load_catalog()
    seed = seeds.calls["export-samverkan-2021"]
    install_call(recorded, seed.model_copy(update={"id": "export-samverkan-2021-demo"}), seeds.texts[seed.id])
    _record(os.getpid(), recorded)
    default_catalog.cache_clear()
    try:
        assert main(["calls"]) == 0
        assert "export-samverkan-2021-demo" in capsys.readouterr().out
    finally:
        default_catalog.cache_clear()


def test_a_command_finds_the_development_key_of_a_stopped_up_in_its_data_directory(tmp_path):
    from infra.settings import DEV_KEY_FILE, client_settings

    data_dir = tmp_path / "data"
    (data_dir / "postgres").mkdir(parents=True)
    (data_dir / "postgres" / "PG_VERSION").write_text("16\n")
    (data_dir / DEV_KEY_FILE).write_text("dev:" + "A" * 43 + "=\n")
    environ = {"GRANTFLOW_DATA_DIR": str(data_dir), "XDG_STATE_HOME": str(tmp_path / "state")}
    assert client_settings(environ).codec_key_file == data_dir / DEV_KEY_FILE
    # Keys given win over it.
    assert client_settings(environ | {"GRANTFLOW_CODEC_DISABLED": "true"}).codec_key_file is None
