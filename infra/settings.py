"""Production settings, read from GRANTFLOW_* environment variables.

Every field maps to one variable by name: `temporal_tls_cert` is GRANTFLOW_TEMPORAL_TLS_CERT and
`smtp.port` is GRANTFLOW_SMTP_PORT, so an error can always name the variable the operator has to fix.
An empty variable counts as unset (systemd and compose files often write `X=`).
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, ValidationInfo, field_validator

from domain.bank import normalize_bankgiro
from domain.state_aid import ExchangeRatesError, parse_exchange_rates
from domain.users import ApiRole
from infra.codec import parse_keys
from infra.errors import InputError, InputProblem, Unavailable

PREFIX = "GRANTFLOW_"
SMTP_PREFIX = PREFIX + "SMTP_"
OIDC_PREFIX = PREFIX + "OIDC_"

LogFormat = Literal["json", "console"]

# ISO 9362, as pain.001.001.03's BICIdentifier has it.
_BIC = re.compile(r"[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?", re.ASCII)


def env_name(loc: Sequence[int | str]) -> str:
    """The variable behind a field path: ("smtp", "port") -> GRANTFLOW_SMTP_PORT."""
    return PREFIX + "_".join(str(part) for part in loc).upper()


class SettingsError(InputError):
    """The environment cannot be used as it stands; each problem names the variable and the reason."""

    @classmethod
    def from_validation_error(cls, exc: ValidationError) -> SettingsError:
        problems = []
        for error in exc.errors(include_url=False):
            loc = error["loc"]
            if error["type"] == "missing" and loc[:1] in (("smtp",), ("oidc",)):
                reason = f"required when any other {PREFIX}{str(loc[0]).upper()}_* variable is set"
            elif error["type"] == "value_error":
                # Our own validators' messages, without pydantic's "Value error, " prefix.
                reason = str(error["ctx"]["error"])
            else:
                reason = error["msg"]
            problems.append(InputProblem(field=env_name(loc), reason=reason))
        return cls(problems)


def _existing_file(path: Path | None) -> Path | None:
    if path is not None and not path.is_file():
        raise ValueError(f"{path} is not a readable file")
    return path


class SmtpConfig(BaseModel):
    """Where letters are sent from. Absent as a whole when GRANTFLOW_SMTP_HOST and friends are unset."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(min_length=3)
    starttls: bool = True

    @field_validator("sender")
    @classmethod
    def _sender_is_an_address(cls, value: str) -> str:
        if "@" not in value:
            raise ValueError("expected an e-mail address such as registrator@myndigheten.se")
        return value

    @field_validator("password", mode="after")
    @classmethod
    def _password_needs_username(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None and info.data.get("username") is None:
            raise ValueError(f"is set but {SMTP_PREFIX}USERNAME is not")
        return value


def _http_url(value: str) -> str:
    if not value.startswith(("https://", "http://")) or len(value) < 10:
        raise ValueError("must be an https:// URL")
    return value


def forwarded_allow_ips(value: str) -> str:
    """Addresses whose X-Forwarded-Proto/-For uvicorn believes: IPs or networks, comma-separated, or *."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise ValueError("names no address: IPs or networks separated by commas, e.g. 10.0.0.5,10.1.0.0/16, or *")
    for item in items:
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network, e.g. 10.0.0.5 or 10.1.0.0/16") from None
    return ",".join(items)


def public_url(value: str) -> str:
    """The address people type, e.g. https://grantflow.myndigheten.se: scheme and host, no path."""
    parts = urlsplit(value.strip().rstrip("/"))
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.path or parts.query or parts.fragment \
            or parts.username or parts.password:
        raise ValueError("must be the site's address, scheme and host only, e.g. https://grantflow.myndigheten.se")
    try:
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        raise ValueError("has a port that is not a number") from None
    return f"{parts.scheme}://{parts.netloc.lower()}"


class OidcConfig(BaseModel):
    """Signing in with the agency's identity provider: the API accepts its JWTs (api/signin.py).

    Absent as a whole when no GRANTFLOW_OIDC_* variable is set: then only development tokens sign in.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str  # exactly the tokens' `iss`, e.g. https://login.myndigheten.se/realms/grantflow
    audience: str = Field(min_length=1)  # the tokens' `aud` must contain it (the API's client id)
    # The keys; without it they are found through {issuer}/.well-known/openid-configuration.
    jwks_url: str | None = None
    # The claim with the person's groups or roles; a dotted path reaches into an object
    # (Keycloak: realm_access.roles). A list of strings, or one string.
    role_claim: str = Field(default="roles", min_length=1)
    # The identity provider's role names to grantflow's, e.g. "grantflow-officer=officer,grantflow-dm=decision_maker".
    # When a person has several, the first in this list wins.
    role_map: dict[str, ApiRole]
    # The claim with an applicant's organisation number; required when a role maps to applicant.
    org_claim: str | None = Field(default=None, validate_default=True)
    user_claim: str = Field(default="sub", min_length=1)  # the person's id as cases record it
    name_claim: str = Field(default="name", min_length=1)

    @field_validator("issuer", "jwks_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)

    @field_validator("role_map", mode="before")
    @classmethod
    def _pairs(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        pairs: dict[str, str] = {}
        roles = ", ".join(role.value for role in ApiRole)
        for item in filter(None, (part.strip() for part in value.split(","))):
            name, sep, role = (side.strip() for side in item.partition("="))
            if not sep or not name or not role:
                raise ValueError(f"{item!r} is not NAME=ROLE, e.g. grantflow-officer=officer")
            if role not in ApiRole.__members__.values():
                raise ValueError(f"{role!r} is not a role: one of {roles}")
            if name in pairs:
                raise ValueError(f"{name!r} is mapped twice")
            pairs[name] = role
        if not pairs:
            raise ValueError("maps no role: NAME=ROLE pairs separated by commas, e.g. grantflow-officer=officer")
        return pairs

    @field_validator("org_claim", mode="after")
    @classmethod
    def _org_claim_for_applicants(cls, value: str | None, info: ValidationInfo) -> str | None:
        mapped = info.data.get("role_map") or {}
        if value is None and ApiRole.APPLICANT in mapped.values():
            raise ValueError(f"required when {OIDC_PREFIX}ROLE_MAP maps a role to applicant")
        return value


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = Field(default="default", min_length=1)
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = Field(default=None, validate_default=True)
    temporal_tls_ca: Path | None = None
    # None: decided by the files given (see `tls_enabled`); an explicit value wins.
    temporal_tls: bool | None = Field(default=None, validate_default=True)
    # repr=False: a URL may carry a password, and settings end up in logs and tracebacks.
    database_url: str | None = Field(default=None, repr=False)
    smtp: SmtpConfig | None = None
    oidc: OidcConfig | None = None
    data_dir: Path = Path("data")
    task_queue: str = Field(default="grantflow", min_length=1)
    # Cases wait for people for months: a worker need not keep them all in memory. An evicted
    # case is replayed from its history when something next happens to it.
    worker_cached_cases: int = Field(default=200, ge=10, le=100_000)
    # Workflow tasks run in one Python process, one at a time under the GIL: more than a few in
    # flight only make each of them slower, until a burst of new cases times tasks out (10 s)
    # and every timed-out task is done again. The slots also cover local activities' I/O.
    worker_workflow_tasks: int = Field(default=20, ge=2, le=1000)
    # Activity tasks from the task queue (payments, bank files, the archive) a worker runs at once:
    # the SDK's default. Register writes and letters are local activities, inside workflow tasks.
    worker_activity_tasks: int = Field(default=100, ge=1, le=10_000)
    # Connections a worker's pool to PostgreSQL may hold. Each worker has its own pool: the sum over
    # the workers (and the API processes) must stay below the server's max_connections.
    worker_database_pool: int = Field(default=10, ge=1, le=1000)
    log_format: LogFormat = "json"
    # Prometheus metrics on http://HOST:PORT/metrics (infra/metrics.py); unset: none. One port per
    # process: a worker and an API on one machine need one each (their --metrics-port flags).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = Field(default="0.0.0.0", min_length=1)
    # The register's gauges (cases, deadlines, payouts, letters); the same in every process, so an
    # installation with many may leave them to one (false elsewhere). Off: only the SDK's series.
    metrics_register: bool = True
    # The agency as payer in its bank files. The defaults serve the embedded demo (the
    # bankgiro number only has a valid check digit); a real agency sets its own.
    agency_name: str = Field(default="Tillväxtverket", min_length=1, max_length=140)
    agency_bankgiro: str = Field(default="123-4566", validate_default=True)
    agency_bic: str | None = None
    # What is sent to Temporal is encrypted (infra/codec.py, docs/decisions/0028): `ID:BASE64` keys, the first
    # encrypts, all decrypt; in the variable or one per line in the file. Without either, nothing connects to
    # Temporal unless GRANTFLOW_CODEC_DISABLED=true says payloads may lie there in clear.
    codec_keys: SecretStr | None = Field(default=None, repr=False)
    codec_key_file: Path | None = None
    codec_disabled: bool = Field(default=False, validate_default=True)
    # EUR/SEK rates for the state-aid check (domain/exchange_rates.toml's format); unset: the bundled file.
    exchange_rates_file: Path | None = None
    # `grantflow api` behind a TLS proxy on another host: the proxy's addresses, whose X-Forwarded-Proto
    # and X-Forwarded-For uvicorn believes (--forwarded-allow-ips); `*` trusts everyone who reaches the port.
    forwarded_allow_ips: str = "127.0.0.1"
    # The address people use, e.g. https://grantflow.myndigheten.se. When set, the web pages' same-origin
    # check, their cookies' Secure flag and the sign-in's OIDC redirect_uri are built from it, not from
    # the request (docs/decisions/0032).
    public_url: str | None = None

    @field_validator("temporal_address")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"{value!r} is not HOST:PORT, e.g. temporal.myndigheten.se:7233")
        return value

    @field_validator("temporal_tls_cert", "temporal_tls_ca")
    @classmethod
    def _file_exists(cls, value: Path | None) -> Path | None:
        return _existing_file(value)

    @field_validator("temporal_tls_key")
    @classmethod
    def _key_pairs_with_cert(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # A client certificate is useless without its key and the reverse; say which one is missing.
        # (A certificate that was itself refused is absent from info.data: one error about it is enough.)
        if "temporal_tls_cert" in info.data:
            cert = info.data["temporal_tls_cert"]
            if value is None and cert is not None:
                raise ValueError(f"required when {PREFIX}TEMPORAL_TLS_CERT is set")
            if value is not None and cert is None:
                raise ValueError(f"is set but {PREFIX}TEMPORAL_TLS_CERT is not")
        return _existing_file(value)

    @field_validator("temporal_tls")
    @classmethod
    def _not_off_with_certificates(cls, value: bool | None, info: ValidationInfo) -> bool | None:
        # Files that would be silently ignored are a misconfiguration, not a preference.
        given = [name for name in ("temporal_tls_cert", "temporal_tls_ca") if info.data.get(name) is not None]
        if value is False and given:
            names = " and ".join(env_name([name]) for name in given)
            raise ValueError(f"is false, yet {names} {'is' if len(given) == 1 else 'are'} set: remove one or the other")
        return value

    @field_validator("exchange_rates_file")
    @classmethod
    def _rates_file(cls, value: Path | None) -> Path | None:
        if (value := _existing_file(value)) is not None:
            try:
                parse_exchange_rates(value.read_text(encoding="utf-8"), str(value))
            except (OSError, UnicodeDecodeError, ExchangeRatesError) as error:
                raise ValueError(str(error)) from None
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        # Never echo the value: it may hold a password.
        if value is not None and "://" in value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL (or a libpq key=value string)")
        return value

    @field_validator("data_dir")
    @classmethod
    def _data_dir_is_a_directory(cls, value: Path) -> Path:
        if value.exists() and not value.is_dir():
            raise ValueError(f"{value} exists and is not a directory")
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _forwarded_allow_ips(cls, value: str) -> str:
        return forwarded_allow_ips(value)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        return None if value is None else public_url(value)

    @field_validator("agency_bankgiro")
    @classmethod
    def _bankgiro(cls, value: str) -> str:
        # Kept as the digits a bank file carries; the reason never quotes the number.
        return normalize_bankgiro(value)

    @field_validator("agency_bic")
    @classmethod
    def _bic(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.upper()
        if _BIC.fullmatch(value) is None:
            raise ValueError("is not a BIC: 8 or 11 letters and digits, e.g. ESSESESS or HANDSESSXXX")
        return value

    @field_validator("codec_keys")
    @classmethod
    def _codec_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_keys(value.get_secret_value())  # KeyFormatError names the key, never its secret
        return value

    @field_validator("codec_key_file")
    @classmethod
    def _codec_key_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is not None and info.data.get("codec_keys") is not None:
            raise ValueError(f"is set and so is {PREFIX}CODEC_KEYS: give the keys in one place")
        return _existing_file(value)

    @field_validator("codec_disabled")
    @classmethod
    def _codec_off_without_keys(cls, value: bool, info: ValidationInfo) -> bool:
        if value and (info.data.get("codec_keys") is not None or info.data.get("codec_key_file") is not None):
            raise ValueError(f"is true, yet {PREFIX}CODEC_KEYS or {PREFIX}CODEC_KEY_FILE is set: "
                             "remove one or the other")
        return value

    @property
    def tls_enabled(self) -> bool:
        if self.temporal_tls is not None:
            return self.temporal_tls
        # A client certificate or a private CA only make sense over TLS.
        return self.temporal_tls_cert is not None or self.temporal_tls_ca is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, *, stderr_is_tty: bool | None = None) -> Settings:
        """Read the GRANTFLOW_* variables; raise SettingsError naming each bad variable and why.

        `stderr_is_tty` decides the default log format (console for a person, JSON lines for a log
        collector); by default it looks at the real stderr.
        """
        env = {name: value.strip() for name, value in environ.items() if name.startswith(PREFIX) and value.strip()}
        # Unknown GRANTFLOW_* variables are left alone rather than refused: other parts of grantflow
        # (e.g. GRANTFLOW_CALLS_DIR) read their own variables from the same environment.
        raw: dict[str, Any] = {}
        groups: dict[str, tuple[str, type[BaseModel]]] = {"smtp": (SMTP_PREFIX, SmtpConfig),
                                                          "oidc": (OIDC_PREFIX, OidcConfig)}
        for name, value in env.items():
            group = next((g for g, (prefix, _) in groups.items() if name.startswith(prefix)), None)
            if group is not None:
                prefix, model = groups[group]
                field = name.removeprefix(prefix).lower()
                if field in model.model_fields:
                    raw.setdefault(group, {})[field] = value
            else:
                field = name.removeprefix(PREFIX).lower()
                if field in cls.model_fields and field not in groups:
                    raw[field] = value.lower() if field == "log_format" else value
        if "log_format" not in raw:
            tty = sys.stderr.isatty() if stderr_is_tty is None else stderr_is_tty
            raw["log_format"] = "console" if tty else "json"
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise SettingsError.from_validation_error(exc) from None


# --- finding the running `grantflow up` -----------------------------------------------------------

# Where the settings name the stack; when none of them is set, a command looks for a running `up`.
LOCATION_VARIABLES = (PREFIX + "DATA_DIR", PREFIX + "DATABASE_URL", PREFIX + "TEMPORAL_ADDRESS")
DEV_KEY_FILE = "codec-keys"  # `grantflow up`'s development key for payloads, in its data directory
NO_STACK = (
    "no running grantflow found: start `grantflow up`, or set GRANTFLOW_DATA_DIR / GRANTFLOW_DATABASE_URL"
)


class StackRecord(BaseModel):
    """What a running `grantflow up` tells the commands started elsewhere: where it is."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    pid: int
    data_dir: Path
    temporal_address: str
    temporal_namespace: str
    # repr=False: an external database's URL may carry a password (the file is the user's own, 0600).
    database_url: str | None = Field(default=None, repr=False)
    codec_key_file: Path | None = None  # the payload keys `up` uses, when none were given to it
    codec_server: str | None = None  # the codec server's URL for Temporal UI


def stack_record_path(environ: Mapping[str, str] = os.environ) -> Path:
    """$XDG_STATE_HOME/grantflow/stack.json, else ~/.local/state/grantflow/stack.json (one per user)."""
    state = environ.get("XDG_STATE_HOME", "").strip()
    # The XDG spec: a relative path is invalid and is ignored.
    base = Path(state) if state and Path(state).is_absolute() else Path(os.path.expanduser("~")) / ".local" / "state"
    return base / "grantflow" / "stack.json"


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (one that died but was not reaped holds its pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except (OverflowError, ValueError):
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux): the signal check is all there is
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def read_stack_record(environ: Mapping[str, str] = os.environ) -> StackRecord | None:
    """The record of a running `grantflow up`; None when there is none, or its process is gone."""
    try:
        record = StackRecord.model_validate_json(stack_record_path(environ).read_bytes())
    except (OSError, ValueError):  # absent, unreadable or not ours: as if there were none
        return None
    return record if _running(record.pid) else None


def write_stack_record(record: StackRecord, environ: Mapping[str, str] = os.environ) -> Path:
    path = stack_record_path(environ)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{record.pid}.partial")
    # 0600 from the start: the database URL may carry a password.
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(record.model_dump_json(indent=2))
    os.replace(partial, path)  # readers never see half a record
    return path


def remove_stack_record(pid: int, environ: Mapping[str, str] = os.environ) -> None:
    """Remove the record if it is still this process's (another `up` may have started since)."""
    path = stack_record_path(environ)
    try:
        if StackRecord.model_validate_json(path.read_bytes()).pid == pid:
            path.unlink()
    except (OSError, ValueError):
        pass


def client_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings for a command that works with a running grantflow, wherever it is started.

    With none of GRANTFLOW_DATA_DIR, GRANTFLOW_DATABASE_URL and GRANTFLOW_TEMPORAL_ADDRESS set, the
    running `grantflow up` recorded in the user's state directory is used; with GRANTFLOW_DATA_DIR set,
    only an `up` on that data directory. Raises Unavailable (NO_STACK) when nothing names a stack:
    a command must never start an empty embedded database in whatever folder it was run from.
    """
    settings = Settings.from_env(environ)
    given = {name for name in LOCATION_VARIABLES if environ.get(name, "").strip()}
    record = read_stack_record(environ)
    # A data directory given names the stack too: the record then fills in the rest, unless it is another one.
    if record is not None and (not given or (
        PREFIX + "DATABASE_URL" not in given and settings.data_dir.resolve() == record.data_dir.resolve()
    )):
        update: dict[str, Any] = {"data_dir": record.data_dir, "database_url": record.database_url}
        if not codec_configured(settings):
            update["codec_key_file"] = record.codec_key_file  # the development key `up` made
        if PREFIX + "TEMPORAL_ADDRESS" not in given:
            update["temporal_address"] = record.temporal_address
            update["temporal_tls"] = False  # `up`'s dev server speaks plain gRPC on 127.0.0.1
            if not environ.get(PREFIX + "TEMPORAL_NAMESPACE", "").strip():
                update["temporal_namespace"] = record.temporal_namespace
        return settings.model_copy(update=update)
    if not given and not has_embedded_database(settings.data_dir):
        raise Unavailable(NO_STACK)
    development_key = settings.data_dir / DEV_KEY_FILE
    if not codec_configured(settings) and has_embedded_database(settings.data_dir) and development_key.is_file():
        return settings.model_copy(update={"codec_key_file": development_key})  # `up`'s, while it is stopped
    return settings


def codec_configured(settings: Settings) -> bool:
    """Whether the settings say how payloads are encrypted: keys, a key file, or disabled on purpose."""
    return settings.codec_keys is not None or settings.codec_key_file is not None or settings.codec_disabled


def has_embedded_database(data_dir: Path) -> bool:
    """Whether `grantflow up` has made its PostgreSQL in `data_dir`."""
    return (data_dir / "postgres" / "PG_VERSION").is_file()
