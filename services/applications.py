"""Reading and checking applications: the same path for the CLI, the API and the case workflow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from domain.application import Application
from domain.call import Call
from domain.clock import STOCKHOLM
from domain.findings import Verdict
from domain.validation import validate
from services.calls import CallCatalog
from services.errors import InputError, from_validation_error

# Far above any real application (the largest texts are 20 000 characters each), low
# enough that a hostile client cannot make the service parse gigabytes.
MAX_APPLICATION_BYTES = 2_000_000


def read_application(raw: bytes | str) -> Application:
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_APPLICATION_BYTES:
        raise InputError.one("$", f"the application is {size} bytes; at most {MAX_APPLICATION_BYTES} are accepted")
    try:
        return Application.model_validate_json(raw)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def parse_instant(text: str, field: str = "received") -> datetime:
    if not text.strip():
        # An empty value is a mistake (an unset shell variable), not a request for "now".
        raise InputError.one(field, "is empty; write e.g. 2021-03-01T10:00:00+01:00")
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise InputError.one(field, f"{text!r} is not an ISO 8601 date and time") from None
    if instant.tzinfo is None:
        raise InputError.one(field, f"{text!r} has no UTC offset; write e.g. 2021-03-01T10:00:00+01:00")
    try:
        # Stockholm too: every rule reads the receipt day there, so it must exist there.
        instant.astimezone(STOCKHOLM)
        return instant.astimezone(UTC)
    except OverflowError:
        raise InputError.one(
            field, f"{text!r} falls outside the years 1–9999 in UTC or Stockholm time, so no day can be counted from it"
        ) from None


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
            "$.call_id", f"the application is for call {application.call_id!r}, not {call_id!r}"
        )
    call = catalog.get(application.call_id)
    received = received_at if received_at is not None else datetime.now(UTC)
    verdict = validate(call, catalog.form, application, received)
    return CheckedApplication(call=call, application=application, received_at=received, verdict=verdict)
