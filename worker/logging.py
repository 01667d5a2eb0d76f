"""Logging for grantflow processes: JSON lines in production, readable lines in a terminal.

Both structlog events and standard-library records (the Temporal SDK's own, and `workflow.logger` /
`activity.logger`) go through the same chain, so the personnummer mask applies to all of them.
Workflow code keeps using `workflow.logger` (it knows about replay); structlog is for everything else.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, TextIO

import structlog
from pydantic import BaseModel, ValidationError
from structlog.typing import EventDict, Processor, WrappedLogger

# The mask is the domain's, shared with the register and Temporal UI; re-exported for the log tests.
from domain.privacy import MASK as MASK
from domain.privacy import PERSONNUMMER as PERSONNUMMER
from domain.privacy import mask_text
from infra.settings import LogFormat


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, bool | float | datetime | date) or value is None:
        return value
    if isinstance(value, int):
        text = str(value)
        masked = mask_text(text)
        return value if masked == text else masked
    if isinstance(value, Mapping):
        return {key: _mask(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask(item) for item in value]
    if isinstance(value, BaseModel):
        return _mask(value.model_dump(mode="json"))
    # Anything else is rendered with str()/repr() by the renderers: mask that text if it needs it.
    text = str(value)
    masked = mask_text(text)
    return value if masked == text else masked


def mask_personnummer(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask anything that looks like a personnummer in every value.

    A safety net, not the rule: code must not log personal data in the first place.
    """
    return {key: _mask(value) if not key.startswith("_") else value for key, value in event_dict.items()}


def _quotes_its_input(error: BaseException) -> str | None:
    """What to say instead of the message of an error that quotes the data it failed on, if it is one.

    psycopg's message carries the server's CONTEXT, which quotes a statement's parameters (the text of
    an application up to a NUL, say), and pydantic's lists each input value: both are what people
    wrote. Their kind, SQLSTATE and field paths say what operations need.
    """
    if type(error).__module__.split(".")[0] == "psycopg":
        sqlstate = getattr(error, "sqlstate", None)
        return f"(message withheld: it may quote input){f' SQLSTATE {sqlstate}' if sqlstate else ''}"
    if isinstance(error, ValidationError):
        where = ", ".join(".".join(str(p) for p in e["loc"]) or "$" for e in error.errors(include_url=False)[:5])
        return f"(message withheld: it may quote input) {error.error_count()} errors at {where}"
    return None


def format_exc_info(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog's format_exc_info, but no exception in the chain that quotes its input keeps its message.

    The Temporal SDK logs every failed activity attempt with its traceback ("Completing activity as
    failed"), so an error the activities did not translate (activities.db.fails_for_good) must not
    bring what people wrote to the log with it.
    """
    exc_info = event_dict.pop("exc_info", None)
    if not exc_info:
        return event_dict
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if not isinstance(exc_info, tuple) or exc_info[1] is None:
        return event_dict
    error: BaseException = exc_info[1]
    formatted = traceback.TracebackException(type(error), error, error.__traceback__, compact=True)
    seen: set[int] = set()
    pairs: list[tuple[traceback.TracebackException, BaseException]] = [(formatted, error)]
    while pairs:
        te, exc = pairs.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        withheld = _quotes_its_input(exc)
        if withheld is not None:
            te._str = withheld  # type: ignore[attr-defined]  # what follows the type's name in the traceback
        if te.__cause__ is not None and exc.__cause__ is not None:
            pairs.append((te.__cause__, exc.__cause__))
        if te.__context__ is not None and exc.__context__ is not None:
            pairs.append((te.__context__, exc.__context__))
        for group_te, group_exc in zip(te.exceptions or [], getattr(exc, "exceptions", None) or [], strict=False):
            pairs.append((group_te, group_exc))
    event_dict["exception"] = "".join(formatted.format())
    return event_dict


# A case number, as the intake hands them out (domain.case.CaseNumber): YYYY-NNNNN. A case's
# workflow uses it as its workflow id.
CASE_NUMBER = re.compile(r"\d{4}-\d{5}")


def case_number_of(workflow_id: str | None) -> str | None:
    """The case number a workflow id is, or None for any other workflow (a call's, the archive's)."""
    return workflow_id if workflow_id is not None and CASE_NUMBER.fullmatch(workflow_id) else None


def flatten_temporal_details(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the Temporal SDK's `extra` details as the top-level fields of every line.

    `workflow.logger` puts a `temporal_workflow` dict on its records, `activity.logger` a
    `temporal_activity` one (with the run id as `workflow_run_id`). Their ids become workflow_id,
    run_id and case_number (and activity_type and attempt for an activity), the names that structlog
    events carry, so that one query finds a case's lines whoever wrote them. Fields already there
    (bound by the activity interceptor, or passed in `extra`) are kept.
    """
    details: list[tuple[Any, dict[str, str]]] = [
        (event_dict.get("temporal_activity"), {"workflow_id": "workflow_id", "workflow_run_id": "run_id",
                                               "activity_type": "activity_type", "attempt": "attempt"}),
        (event_dict.get("temporal_workflow"), {"workflow_id": "workflow_id", "run_id": "run_id"}),
    ]
    for source, names in details:
        if not isinstance(source, Mapping):
            continue
        for name, field in names.items():
            if source.get(name) is not None:
                event_dict.setdefault(field, source[name])
        case_number = case_number_of(source.get("workflow_id"))
        if case_number is not None:
            event_dict.setdefault("case_number", case_number)
    return event_dict


# Libraries that narrate every step at INFO; their warnings and errors still show.
QUIET_LOGGERS = ("pgserver",)


class PathWithoutQuery(logging.Filter):
    """uvicorn's access log with each request's path but not its query string.

    A query carries what people typed and what a sign-in hands back: an inbox search names an
    applicant, the identity provider's callback carries its one-time code. The traces leave the
    query out for the same reason (api.app)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn's access record: (client address, method, path with query, HTTP version, status).
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], args[3], args[4])
        return True


def _shared_processors() -> list[Processor]:
    return [
        # What worker.interceptors binds for the activity running now: its case and workflow ids.
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(log_format: LogFormat, *, level: int = logging.INFO, stream: TextIO | None = None) -> None:
    renderer: Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=(stream or sys.stderr).isatty())
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        # Standard-library records (the Temporal SDK's, workflow.logger's, other libraries') get the
        # same fields as structlog events, the activity's bound context included (merge_contextvars).
        # ExtraAdder: the Temporal SDK puts workflow and activity info in `extra`.
        foreign_pre_chain=[*_shared_processors(), structlog.stdlib.ExtraAdder(), flatten_temporal_details],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Tracebacks become text before masking: exception messages carry values too.
            format_exc_info,
            # Last before rendering, so that no field added above escapes it.
            mask_personnummer,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, PathWithoutQuery) for f in access.filters):
        access.addFilter(PathWithoutQuery())
    structlog.configure(
        processors=[*_shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached, so that configuring again (the CLI, tests) reaches loggers created earlier.
        cache_logger_on_first_use=False,
    )


def bind_case(
    logger: structlog.stdlib.BoundLogger | None = None,
    *,
    case_number: str | None = None,
    stage: str | None = None,
    workflow_id: str | None = None,
    run_id: str | None = None,
) -> structlog.stdlib.BoundLogger:
    """A logger carrying the case's identifiers; unset ones are left out rather than logged as null."""
    fields = {"case_number": case_number, "stage": stage, "workflow_id": workflow_id, "run_id": run_id}
    base = logger if logger is not None else structlog.stdlib.get_logger("grantflow")
    return base.bind(**{key: value for key, value in fields.items() if value is not None})
