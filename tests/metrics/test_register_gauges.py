"""The register's gauges: what a scrape reads from PostgreSQL, at a fixed instant."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from activities.gauges import DEADLINES, PAYOUTS, RECORDS, RegisterGauges
from tests.metrics.support import value

# A Wednesday, 10:00 in Stockholm.
NOW = datetime(2026, 12, 9, 9, 0, tzinfo=UTC)


def _case(conn: psycopg.Connection, number: str, *, call: str = "call-a", stage: str = "assessment",
          deadlines: tuple[tuple[str, datetime], ...] = (), records_since: datetime | None = None) -> None:
    nearest = min(deadlines, key=lambda d: d[1], default=None)
    conn.execute(
        "INSERT INTO cases (case_number, submission_id, call_id, received_at, sender_name, subject, requested_amount,"
        " stage, deadline_at, deadline_kind, deadline_kinds, deadline_ats, records_pending_since)"
        " VALUES (%s, %s, %s, %s, 'Sökande AB', 'Projekt', 1000, %s, %s, %s, %s, %s, %s)",
        (number, f"s-{number}", call, NOW - timedelta(days=30), stage, nearest and nearest[1], nearest and nearest[0],
         [k for k, _ in deadlines], [a for _, a in deadlines], records_since))


@pytest.fixture
def register(db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db, autocommit=True) as conn:
        yield conn


def _scrape(db: str) -> str:
    gauges = RegisterGauges(db, clock=lambda: NOW)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(gauges)
    try:
        return generate_latest(registry).decode()
    finally:
        gauges.close()


def test_an_empty_register_reads_as_nothing_waiting(db: str) -> None:
    text = _scrape(db)
    assert value(text, "grantflow_register_up") == 1
    for kind in ("completion_reply", "final_report", "decision_request", "claim_due"):
        assert f'grantflow_deadlines_overdue{{kind="{kind}"}} 0.0' in text
    assert value(text, "grantflow_payouts_waiting") == 0
    assert value(text, "grantflow_payouts_waiting_oldest_banking_days") == 0
    assert value(text, "grantflow_records_requests_overdue") == 0
    assert "grantflow_cases{" not in text


def test_the_gauges_read_what_the_register_holds(db: str, register: psycopg.Connection) -> None:
    hour = timedelta(hours=1)
    _case(register, "2026-00001", deadlines=(("completion_reply", NOW - 3 * hour), ("final_report", NOW + 48 * hour)))
    _case(register, "2026-00002", deadlines=(("completion_reply", NOW - hour),))
    _case(register, "2026-00003", call="call-b", stage="payments", deadlines=(("final_report", NOW + hour),))
    _case(register, "2026-00004", stage="reclaim",
          deadlines=(("reclaim_reply", NOW - 5 * hour), ("claim_due", NOW - 2 * hour)))
    # Records requests: one from yesterday evening (past its same-day target), one from this morning.
    _case(register, "2026-00005", records_since=datetime(2026, 12, 8, 20, 0, tzinfo=UTC))
    _case(register, "2026-00006", records_since=datetime(2026, 12, 9, 7, 0, tzinfo=UTC))
    # Payouts: one approved last Thursday, not in a bank file (Fri, Mon, Tue, Wed: 4 banking days), one exported.
    register.execute("INSERT INTO bank_files (message_id, created_at, transactions, control_sum, xml)"
                     " VALUES ('m1', now(), 1, 500, '<x/>')")
    for request, paid, bank_file in ((0, datetime(2026, 12, 3, 12, 0, tzinfo=UTC), None),
                                     (1, NOW - 5 * hour, 1)):
        register.execute(
            "INSERT INTO payouts (case_number, request_number, kind, amount, payee_name, payee_bankgiro, reference,"
            " paid_at, bank_file_id) VALUES ('2026-00003', %s, %s, 1500.50, 'Sökande AB', '1234566', '2026-00003',"
            " %s, %s)", (request, "advance" if request == 0 else "payment", paid, bank_file))
    for letter, email, sent in (("a", "x@example.se", None), ("b", None, None), ("c", "y@example.se", NOW)):
        register.execute(
            "INSERT INTO letters (case_number, letter_id, kind, recipient_name, recipient_email, subject, body,"
            " created_at, sent_at) VALUES ('2026-00001', %s, 'receipt', 'Sökande AB', %s, 'Ämne', 'Brev', %s, %s)",
            (letter, email, NOW - 2 * hour, sent))

    text = _scrape(db)
    assert value(text, "grantflow_register_up") == 1
    assert value(text, "grantflow_cases", call="call-a", stage="assessment") == 4
    assert value(text, "grantflow_cases", call="call-b", stage="payments") == 1
    assert value(text, "grantflow_deadlines_overdue", kind="completion_reply") == 2
    assert value(text, "grantflow_deadlines_overdue_oldest_age_seconds", kind="completion_reply") == 3 * 3600
    assert value(text, "grantflow_deadlines_overdue", kind="final_report") == 0  # not yet passed
    assert value(text, "grantflow_deadlines_overdue", kind="claim_due") == 1
    assert value(text, "grantflow_deadlines_overdue", kind="reclaim_reply") == 1
    assert value(text, "grantflow_payouts_waiting") == 1
    assert value(text, "grantflow_payouts_waiting_kronor") == 1500.5
    assert value(text, "grantflow_payouts_waiting_oldest_banking_days") == 4
    assert value(text, "grantflow_letters_unsent", recipient="email") == 1
    assert value(text, "grantflow_letters_unsent", recipient="post") == 1
    assert value(text, "grantflow_letters_unsent_oldest_age_seconds") == 2 * 3600
    assert value(text, "grantflow_records_requests_waiting") == 2
    assert value(text, "grantflow_records_requests_overdue") == 1
    assert value(text, "grantflow_records_requests_overdue_oldest_age_seconds") == 13 * 3600


def test_a_register_that_does_not_answer_is_a_gauge_not_a_failed_scrape() -> None:
    text = _scrape("postgresql://nobody@127.0.0.1:1/nothing")
    assert value(text, "grantflow_register_up") == 0
    assert "grantflow_cases{" not in text
    assert "grantflow_payouts_waiting " not in text


@pytest.mark.parametrize(("query", "index"), [(DEADLINES, "cases_deadline_at"), (PAYOUTS, "payouts_waiting"),
                                              (RECORDS, "cases_records_pending")])
def test_each_query_can_use_its_index(register: psycopg.Connection, query: str, index: str) -> None:
    # Sequential scans off: on a tiny table the planner rightly prefers them; the question is whether
    # the index fits the query at all.
    register.execute("SET enable_seqscan = off")
    plan = "\n".join(str(row[0]) for row in register.execute(
        "EXPLAIN " + query, {"now": NOW, "today": NOW}).fetchall())
    assert index in plan, plan
