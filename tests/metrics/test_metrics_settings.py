"""Where metrics are served: GRANTFLOW_METRICS_* and the --metrics-port flags; a bad value names its variable."""

from __future__ import annotations

import socket

import pytest

from infra.errors import InputError
from infra.settings import Settings, SettingsError
from worker.metrics import start_metrics


def test_metrics_are_off_unless_a_port_is_given() -> None:
    settings = Settings.from_env({})
    assert settings.metrics_port is None
    assert start_metrics(settings) is None


def test_the_variables_are_read() -> None:
    settings = Settings.from_env({"GRANTFLOW_METRICS_PORT": "9464", "GRANTFLOW_METRICS_HOST": "127.0.0.1",
                                  "GRANTFLOW_METRICS_REGISTER": "false"})
    assert (settings.metrics_port, settings.metrics_host, settings.metrics_register) == (9464, "127.0.0.1", False)


@pytest.mark.parametrize("port", ["abc", "0", "70000"])
def test_a_bad_port_names_the_variable(port: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"GRANTFLOW_METRICS_PORT": port})
    assert [p.field for p in raised.value.problems] == ["GRANTFLOW_METRICS_PORT"]


def test_a_port_in_use_names_the_variable() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InputError) as raised:
            start_metrics(Settings(metrics_register=False), host="127.0.0.1", port=port)
    assert raised.value.problems[0].field == "GRANTFLOW_METRICS_PORT"
    assert str(port) in raised.value.problems[0].reason


def test_the_flag_refuses_what_is_not_a_port(capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main

    with pytest.raises(SystemExit) as exited:
        main(["worker", "--metrics-port", "nio"])
    assert exited.value.code == 2
    assert "--metrics-port" in capsys.readouterr().err
