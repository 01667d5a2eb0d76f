"""What the inbox page shows of an overdue case, rendered from an inbox page as the API answers it."""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request

from api.web.pages import due, kr, templates
from domain.clock import end_of_day


def render(name: str, **context: Any) -> str:
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""})
    response = templates.TemplateResponse(request, name, {"me": {"name": "Anna", "role": "officer"},
                                                          "csrf": "x", **context})
    return bytes(response.body).decode()


def inbox_case(number: str, overdue: list[str], label: str) -> dict[str, Any]:
    return {"case_number": number, "call_id": "export", "title": "Projekt", "applicant_name": "Sökande AB",
            "stage": "completeness", "stage_label": "Komplettering och behörighet", "officer": "anna",
            "requested_amount": "570000.00", "records_pending_since": None, "overdue": overdue,
            "next_deadline": {"kind": overdue[0] if overdue else "final_report", "label": label,
                              "at": "2026-03-01T22:59:59.999999Z", "overdue": bool(overdue)}}


def test_an_overdue_deadline_stands_out_in_words_not_only_in_colour() -> None:
    page = {"cases": [inbox_case("2026-00001", ["completion_reply"], "Svar på begäran om komplettering"),
                      inbox_case("2026-00002", [], "Slutrapport")],
            "counts": [{"stage": "completeness", "label": "Komplettering och behörighet", "count": 2}],
            "total": 2, "next_cursor": None}
    html = render("inbox.html", page=page, problem=None, errors={}, q=QueryParams(""), calls=[],
                  chosen_stages=set(), next_query=None)
    late, on_time = html.split("2026-00002")[0], html.split("2026-00002")[1]
    assert 'class="overdue"' in late and "Försenad" in late
    assert "Försenad" not in on_time and "Komplettering och behörighet</a>: <strong>2</strong>" in html
    assert html.startswith("<!doctype html>") and '<html lang="sv">' in html


def test_amounts_are_written_the_swedish_way() -> None:
    assert kr("400000") == "400\u00a0000,00\u00a0kr"
    assert kr("1234567.5") == "1\u00a0234\u00a0567,50\u00a0kr"
    assert kr(None) == "–"


def test_a_deadline_that_ends_a_day_is_shown_as_that_last_day() -> None:
    """The register keeps "by 30 November" as the first instant of 1 December in Stockholm (end_of_day)."""
    last_day = end_of_day(date(2022, 11, 30))
    assert due(last_day.isoformat()) == "2022-11-30"
    assert due(end_of_day(date(2026, 7, 1)).isoformat()) == "2026-07-01"  # summer time: 22:00 UTC
    assert due("2026-03-02T09:15:00Z") == "2026-03-02 kl. 10:15"  # an instant that ends no day keeps its time
    assert due(None) == "–"
    page = {"cases": [inbox_case("2026-00001", [], "Slutrapport") | {
        "next_deadline": {"kind": "final_report", "label": "Slutrapport", "at": last_day.isoformat(),
                          "overdue": False}}], "counts": [], "total": 1, "next_cursor": None}
    html = render("inbox.html", page=page, problem=None, errors={}, q=QueryParams(""), calls=[],
                  chosen_stages=set(), next_query=None)
    assert "Slutrapport: 2022-11-30" in html and "2022-12-01" not in html
