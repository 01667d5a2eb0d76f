"""Logs: JSON lines or console lines, and a personnummer never reaches either."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from worker.logging import MASK, bind_case, configure_logging, mask_personnummer, mask_text


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("19850101-1234", MASK),
        ("198501011234", MASK),
        ("850101-1234", MASK),
        ("8501011234", MASK),
        ("121212+1212", MASK),  # over 100 years old
        ("19850161-1234", MASK),  # samordningsnummer: day + 60
        ("Sökande 850101-1234, enskild firma", f"Sökande {MASK}, enskild firma"),
        ("pnr=198512311234.", f"pnr={MASK}."),
        ("850101-1234 och 900202-2345", f"{MASK} och {MASK}"),
    ],
)
def test_a_personnummer_is_masked(text, expected):
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "556000-0167",  # an organisationsnummer: digits 3-4 are 20 or more
        "165560000167",  # its 12-digit form
        "2021-00123",  # a case number
        "570000.00",  # money
        "4512345678901",  # longer than any personnummer
        "20240315-1234-7abc-9def-0123456789ab",  # a UUID (run id) that happens to start with digits
        "8513011234",  # month 13
    ],
)
def test_what_is_not_a_personnummer_is_left_alone(text):
    assert mask_text(text) == text


def test_the_processor_masks_every_value_at_any_depth():
    event = mask_personnummer(
        None,
        "info",
        {
            "event": "applicant 19850101-1234",
            "pnr": 198501011234,
            "amount_ore": 57000000,
            "nested": {"people": [{"id": "850101-1234"}], "org": "556000-0167"},
            "flag": True,
        },
    )
    assert event == {
        "event": f"applicant {MASK}",
        "pnr": MASK,
        "amount_ore": 57000000,
        "nested": {"people": [{"id": MASK}], "org": "556000-0167"},
        "flag": True,
    }


def test_json_logs_mask_structlog_events_stdlib_records_and_tracebacks(restore_logging):
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    log = bind_case(case_number="2021-00123", stage="assessment", workflow_id="2021-00123", run_id="r1")
    log.info("letter sent", recipient="Anna, 850101-1234")
    try:
        raise ValueError("no such applicant 19850101-1234")
    except ValueError:
        log.exception("lookup failed")
    # What the Temporal SDK's activity.logger does: a stdlib record with the details in `extra`.
    logging.getLogger("temporalio.activity").warning(
        "retrying for 850101-1234", extra={"temporal_activity": {"activity_id": "1", "note": "198501011234"}}
    )

    output = stream.getvalue()
    assert "1234" not in output.replace("2021-00123", "")
    sent, failed, retry = json_lines(stream)
    assert sent["event"] == "letter sent"
    assert sent["recipient"] == f"Anna, {MASK}"
    assert (sent["case_number"], sent["stage"], sent["workflow_id"], sent["run_id"]) == (
        "2021-00123", "assessment", "2021-00123", "r1",
    )
    assert sent["level"] == "info" and "timestamp" in sent
    assert MASK in str(failed["exception"]) and "ValueError" in str(failed["exception"])
    assert retry["event"] == f"retrying for {MASK}"
    assert retry["temporal_activity"] == {"activity_id": "1", "note": MASK}


def test_console_logs_are_masked_too(restore_logging):
    stream = io.StringIO()
    configure_logging("console", stream=stream)
    structlog.stdlib.get_logger("test").info("applicant 850101-1234", case_number="2021-00123")
    output = stream.getvalue()
    assert MASK in output and "850101" not in output
    assert not output.lstrip().startswith("{")


def test_bind_case_leaves_out_what_is_unknown(restore_logging):
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    bind_case(case_number="2021-00123").info("received")
    (line,) = json_lines(stream)
    assert line["case_number"] == "2021-00123"
    assert not {"stage", "workflow_id", "run_id"} & set(line)
