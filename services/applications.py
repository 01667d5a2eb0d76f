"""Reading and checking applications: the same path for the CLI, the API and the case workflow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from domain.application import Application
from domain.call import Call
from domain.clock import STOCKHOLM, format_instant_sv
from domain.findings import Verdict
from domain.validation import validate
from infra.calls import CallCatalog
from infra.errors import InputError, from_validation_error
from services.inputs import json_text

# Far above any real application (the largest texts are 20 000 characters each), low
# enough that a hostile client cannot make the service parse gigabytes.
MAX_APPLICATION_BYTES = 2_000_000

_WRITE_INSTANT = "skriv t.ex. 2021-03-01T10:00:00+01:00"

# How far ahead of this machine's clock an imported receipt may lie: the other system's clock may
# run a little ahead of ours, but a receipt hours or years ahead is a typo.
IMPORT_CLOCK_SKEW = timedelta(minutes=1)


def read_application(raw: bytes | str) -> Application:
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_APPLICATION_BYTES:
        raise InputError.one("$", f"ansökan är {size} byte; högst {MAX_APPLICATION_BYTES} tas emot")
    try:
        return Application.model_validate_json(json_text(raw, "$"))
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def parse_instant(text: str, field: str = "received") -> datetime:
    if not text.strip():
        # An empty value is a mistake (an unset shell variable), not a request for "now".
        raise InputError.one(field, f"är tom; {_WRITE_INSTANT}")
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise InputError.one(field, f"{text!r} är ingen tidpunkt enligt ISO 8601; {_WRITE_INSTANT}") from None
    if instant.tzinfo is None:
        raise InputError.one(field, f"{text!r} saknar tidszon; {_WRITE_INSTANT}")
    try:
        # Stockholm too: every rule reads the receipt day there, so it must exist there.
        instant.astimezone(STOCKHOLM)
        return instant.astimezone(UTC)
    except OverflowError:
        raise InputError.one(
            field, f"{text!r} ligger utanför åren 1–9999 i UTC eller svensk tid, så ingen dag kan räknas från den"
        ) from None


def check_imported_received(
    received_at: datetime, field: str = "imported_received_at", *, now: datetime | None = None
) -> datetime:
    """An imported application's own receipt instant, which cannot lie in the future.

    A future receipt would number the case in a year to come and count every deadline from a day
    that has not been.
    """
    current = now if now is not None else datetime.now(UTC)
    if received_at > current + IMPORT_CLOCK_SKEW:
        raise InputError.one(
            field, f"{format_instant_sv(received_at)} ligger i framtiden; ange när ansökan faktiskt kom in"
        )
    return received_at


@dataclass(frozen=True)
class CheckedApplication:
    call: Call
    application: Application
    received_at: datetime
    verdict: Verdict


def check_application(
    catalog: CallCatalog,
    raw: bytes | str,
    *,
    call_id: str | None = None,
    received_at: datetime | None = None,
) -> CheckedApplication:
    if call_id is not None:
        catalog.get(call_id)  # an unknown call is said before anything about the application
    application = read_application(raw)
    if call_id is not None and application.call_id != call_id:
        raise InputError.one(
            "$.call_id", f"ansökan gäller utlysningen {application.call_id!r}, inte {call_id!r}"
        )
    call = catalog.get(application.call_id)
    received = received_at if received_at is not None else datetime.now(UTC)
    verdict = validate(call, catalog.form, application, received)
    return CheckedApplication(call=call, application=application, received_at=received, verdict=verdict)
