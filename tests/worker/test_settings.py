"""Settings from the environment: defaults, every variable, and a clear error for each bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings import Settings, SettingsError
from infra.temporal import tls_config


def problems(environ: dict[str, str]) -> dict[str, str]:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ, stderr_is_tty=False)
    return {p.field: p.reason for p in caught.value.problems}


@pytest.fixture
def pem(tmp_path: Path) -> dict[str, Path]:
    files = {}
    for name in ("cert", "key", "ca"):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_bytes(f"-----{name}-----".encode())
    return files


def test_defaults_with_an_empty_environment():
    settings = Settings.from_env({}, stderr_is_tty=False)
    assert settings.temporal_address == "localhost:7233"
    assert settings.temporal_namespace == "default"
    assert settings.task_queue == "grantflow"
    assert settings.data_dir == Path("data")
    assert settings.database_url is None
    assert settings.smtp is None
    assert not settings.tls_enabled
    assert tls_config(settings) is False


def test_log_format_defaults_to_console_for_a_terminal_and_json_otherwise():
    assert Settings.from_env({}, stderr_is_tty=True).log_format == "console"
    assert Settings.from_env({}, stderr_is_tty=False).log_format == "json"
    assert Settings.from_env({"GRANTFLOW_LOG_FORMAT": "JSON"}, stderr_is_tty=True).log_format == "json"


def test_every_variable(pem, tmp_path):
    settings = Settings.from_env(
        {
            "GRANTFLOW_TEMPORAL_ADDRESS": "grantflow.a1b2c.tmprl.cloud:7233",
            "GRANTFLOW_TEMPORAL_NAMESPACE": "grantflow.a1b2c",
            "GRANTFLOW_TEMPORAL_TLS_CERT": str(pem["cert"]),
            "GRANTFLOW_TEMPORAL_TLS_KEY": str(pem["key"]),
            "GRANTFLOW_TEMPORAL_TLS_CA": str(pem["ca"]),
            "GRANTFLOW_DATABASE_URL": "postgresql://grantflow:hemligt@db.internal:5432/grantflow",
            "GRANTFLOW_SMTP_HOST": "smtp.internal",
            "GRANTFLOW_SMTP_PORT": "2525",
            "GRANTFLOW_SMTP_USERNAME": "grantflow",
            "GRANTFLOW_SMTP_PASSWORD": "också-hemligt",
            "GRANTFLOW_SMTP_SENDER": "registrator@myndigheten.se",
            "GRANTFLOW_SMTP_STARTTLS": "false",
            "GRANTFLOW_DATA_DIR": str(tmp_path / "state"),
            "GRANTFLOW_TASK_QUEUE": "grantflow-prod",
            "GRANTFLOW_LOG_FORMAT": "console",
            "GRANTFLOW_CALLS_DIR": "/etc/grantflow/calls",  # someone else's variable: left alone
            "PATH": "/usr/bin",
        },
        stderr_is_tty=False,
    )
    assert settings.temporal_address == "grantflow.a1b2c.tmprl.cloud:7233"
    assert settings.temporal_namespace == "grantflow.a1b2c"
    assert settings.tls_enabled
    assert settings.database_url == "postgresql://grantflow:hemligt@db.internal:5432/grantflow"
    assert settings.smtp is not None
    assert (settings.smtp.host, settings.smtp.port, settings.smtp.username) == ("smtp.internal", 2525, "grantflow")
    assert settings.smtp.password is not None and settings.smtp.password.get_secret_value() == "också-hemligt"
    assert settings.smtp.starttls is False
    assert settings.data_dir == tmp_path / "state"
    assert settings.task_queue == "grantflow-prod"
    assert settings.log_format == "console"
    tls = tls_config(settings)
    assert not isinstance(tls, bool)
    assert (tls.client_cert, tls.client_private_key, tls.server_root_ca_cert) == (
        b"-----cert-----",
        b"-----key-----",
        b"-----ca-----",
    )


def test_secrets_stay_out_of_repr():
    settings = Settings.from_env(
        {
            "GRANTFLOW_DATABASE_URL": "postgresql://grantflow:hemligt@db/grantflow",
            "GRANTFLOW_SMTP_HOST": "smtp.internal",
            "GRANTFLOW_SMTP_USERNAME": "grantflow",
            "GRANTFLOW_SMTP_PASSWORD": "också-hemligt",
            "GRANTFLOW_SMTP_SENDER": "registrator@myndigheten.se",
        },
        stderr_is_tty=False,
    )
    assert "hemligt" not in repr(settings)
    assert "hemligt" not in str(settings)


def test_an_empty_variable_counts_as_unset():
    settings = Settings.from_env(
        {"GRANTFLOW_TEMPORAL_ADDRESS": "", "GRANTFLOW_SMTP_HOST": " ", "GRANTFLOW_DATABASE_URL": ""},
        stderr_is_tty=False,
    )
    assert settings.temporal_address == "localhost:7233"
    assert settings.smtp is None
    assert settings.database_url is None


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"GRANTFLOW_TEMPORAL_TLS": "true"}, True),
        ({"GRANTFLOW_TEMPORAL_TLS": "0"}, False),
        ({"GRANTFLOW_TEMPORAL_TLS": "yes"}, True),
    ],
)
def test_tls_switch(environ, variable):
    settings = Settings.from_env(environ, stderr_is_tty=False)
    assert settings.tls_enabled is variable
    # TLS without files: the system's root certificates and no client certificate.
    assert tls_config(settings) is variable


def test_a_client_certificate_turns_tls_on(pem):
    settings = Settings.from_env(
        {"GRANTFLOW_TEMPORAL_TLS_CERT": str(pem["cert"]), "GRANTFLOW_TEMPORAL_TLS_KEY": str(pem["key"])},
        stderr_is_tty=False,
    )
    assert settings.tls_enabled


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"GRANTFLOW_TEMPORAL_ADDRESS": "localhost"}, {"GRANTFLOW_TEMPORAL_ADDRESS": "is not HOST:PORT"}),
        ({"GRANTFLOW_TEMPORAL_ADDRESS": "localhost:99999"}, {"GRANTFLOW_TEMPORAL_ADDRESS": "is not HOST:PORT"}),
        ({"GRANTFLOW_TEMPORAL_TLS": "maybe"}, {"GRANTFLOW_TEMPORAL_TLS": "valid boolean"}),
        ({"GRANTFLOW_TEMPORAL_TLS_CA": "/no/such/ca.pem"}, {"GRANTFLOW_TEMPORAL_TLS_CA": "not a readable file"}),
        ({"GRANTFLOW_LOG_FORMAT": "xml"}, {"GRANTFLOW_LOG_FORMAT": "'json' or 'console'"}),
        ({"GRANTFLOW_WORKER_WORKFLOW_TASKS": "1"}, {"GRANTFLOW_WORKER_WORKFLOW_TASKS": "greater than or equal to 2"}),
        ({"GRANTFLOW_WORKER_CACHED_CASES": "many"}, {"GRANTFLOW_WORKER_CACHED_CASES": "valid integer"}),
        ({"GRANTFLOW_WORKER_ACTIVITY_TASKS": "0"}, {"GRANTFLOW_WORKER_ACTIVITY_TASKS": "greater than or equal to 1"}),
        ({"GRANTFLOW_WORKER_DATABASE_POOL": "x"}, {"GRANTFLOW_WORKER_DATABASE_POOL": "valid integer"}),
        ({"GRANTFLOW_DATABASE_URL": "mysql://root:hemligt@db/x"}, {"GRANTFLOW_DATABASE_URL": "postgresql://"}),
        ({"GRANTFLOW_SMTP_PORT": "25"}, {
            "GRANTFLOW_SMTP_HOST": "required when any other GRANTFLOW_SMTP_* variable is set",
            "GRANTFLOW_SMTP_SENDER": "required when any other GRANTFLOW_SMTP_* variable is set",
        }),
        (
            {"GRANTFLOW_SMTP_HOST": "smtp", "GRANTFLOW_SMTP_PORT": "smtp", "GRANTFLOW_SMTP_SENDER": "registrator"},
            {"GRANTFLOW_SMTP_PORT": "valid integer", "GRANTFLOW_SMTP_SENDER": "e-mail address"},
        ),
        (
            {"GRANTFLOW_SMTP_HOST": "smtp", "GRANTFLOW_SMTP_SENDER": "a@b.se", "GRANTFLOW_SMTP_PASSWORD": "x"},
            {"GRANTFLOW_SMTP_PASSWORD": "GRANTFLOW_SMTP_USERNAME is not"},
        ),
    ],
)
def test_a_bad_value_names_the_variable_and_the_reason(environ, expected):
    found = problems(environ)
    assert set(found) == set(expected)
    for variable, reason in expected.items():
        assert reason in found[variable]


def test_the_certificate_and_the_key_come_together(pem):
    assert problems({"GRANTFLOW_TEMPORAL_TLS_CERT": str(pem["cert"])}) == {
        "GRANTFLOW_TEMPORAL_TLS_KEY": "required when GRANTFLOW_TEMPORAL_TLS_CERT is set"
    }
    assert problems({"GRANTFLOW_TEMPORAL_TLS_KEY": str(pem["key"])}) == {
        "GRANTFLOW_TEMPORAL_TLS_KEY": "is set but GRANTFLOW_TEMPORAL_TLS_CERT is not"
    }
    found = problems(
        {
            "GRANTFLOW_TEMPORAL_TLS": "false",
            "GRANTFLOW_TEMPORAL_TLS_CERT": str(pem["cert"]),
            "GRANTFLOW_TEMPORAL_TLS_KEY": str(pem["key"]),
        }
    )
    assert list(found) == ["GRANTFLOW_TEMPORAL_TLS"]
    found = problems({"GRANTFLOW_TEMPORAL_TLS": "false", "GRANTFLOW_TEMPORAL_TLS_CA": str(pem["ca"])})
    assert found["GRANTFLOW_TEMPORAL_TLS"] == "is false, yet GRANTFLOW_TEMPORAL_TLS_CA is set: remove one or the other"


def test_a_database_url_is_never_echoed_in_an_error():
    found = problems({"GRANTFLOW_DATABASE_URL": "mysql://root:hemligt@db/x"})
    assert "hemligt" not in found["GRANTFLOW_DATABASE_URL"]


def test_a_data_dir_that_is_a_file(tmp_path):
    file = tmp_path / "data"
    file.write_text("")
    assert "is not a directory" in problems({"GRANTFLOW_DATA_DIR": str(file)})["GRANTFLOW_DATA_DIR"]


def test_the_error_message_lists_every_problem():
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"GRANTFLOW_TEMPORAL_ADDRESS": "x", "GRANTFLOW_LOG_FORMAT": "xml"}, stderr_is_tty=False)
    message = str(caught.value)
    assert "GRANTFLOW_TEMPORAL_ADDRESS" in message and "GRANTFLOW_LOG_FORMAT" in message
