"""grantflow's business gauges, read from the register when Prometheus scrapes, never kept in memory.

One indexed query per family, on a connection of the collector's own (opened on the first scrape,
opened again after a failure), so a scrape costs the database a few index lookups and the worker's
pool and event loop nothing. A register that does not answer gives `grantflow_register_up 0` and
no business series; the SDK's series are served all the same.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import structlog
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from domain.banking import banking_days_between
from domain.clock import end_of_day, stockholm_date
from domain.inbox import DeadlineKind

_log = structlog.get_logger(__name__)

# A scrape must never hang on a database in trouble; Prometheus gives up after 10 s by default.
STATEMENT_TIMEOUT_MS = 3000

CASES = "SELECT call_id, stage, sum(n)::bigint FROM case_counts GROUP BY call_id, stage HAVING sum(n) <> 0"
# Any passed deadline is at or after the case's nearest one (deadline_at): index cases_deadline_at.
DEADLINES = """
    SELECT d.kind, count(*), min(d.at)
    FROM cases CROSS JOIN LATERAL unnest(cases.deadline_kinds, cases.deadline_ats) AS d(kind, at)
    WHERE cases.deadline_at <= %(now)s AND d.at <= %(now)s
    GROUP BY d.kind
"""
PAYOUTS = "SELECT count(*), COALESCE(sum(amount), 0), min(paid_at) FROM payouts WHERE bank_file_id IS NULL"
LETTERS = """
    SELECT count(*) FILTER (WHERE recipient_email IS NOT NULL), count(*) FILTER (WHERE recipient_email IS NULL),
           min(created_at) FILTER (WHERE recipient_email IS NOT NULL)
    FROM letters WHERE sent_at IS NULL
"""
# A request is due by the end of the day it came in (domain.records.records_request_deadline): one
# still waiting that came in before today began is past its target. Index cases_records_pending.
RECORDS = """
    SELECT count(*), count(*) FILTER (WHERE records_pending_since < %(today)s),
           min(records_pending_since) FILTER (WHERE records_pending_since < %(today)s)
    FROM cases WHERE records_pending_since IS NOT NULL
"""


def _age(now: datetime, since: datetime | None) -> float:
    return 0.0 if since is None else max((now - since).total_seconds(), 0.0)


class RegisterGauges(Collector):
    """A prometheus_client collector over the register at `conninfo`."""

    def __init__(self, conninfo: str, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._conninfo = conninfo
        self._clock = clock
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self._lock = threading.Lock()  # scrapes may come in parallel; they take turns on the connection

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def describe(self) -> list[Metric]:
        return []  # the families depend on the register; nothing to check when registered

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        with self._lock:
            try:
                families = self._read()
                up = 1.0
            except psycopg.Error as exc:
                _log.warning("the register did not answer a metrics scrape", error=str(exc).strip())
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                families, up = [], 0.0
        yield GaugeMetricFamily("grantflow_register_up", "1 when the register answered this scrape's queries", up)
        yield GaugeMetricFamily("grantflow_register_scrape_duration_seconds",
                                "Time taken to read the register's gauges", time.perf_counter() - started)
        yield from families

    def _connection(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=3,
                                         options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
                                         application_name="grantflow-metrics")
        return self._conn

    def _read(self) -> list[Metric]:
        now = self._clock()
        today_began = end_of_day(stockholm_date(now) - timedelta(days=1))
        conn = self._connection()
        out: list[Metric] = []

        cases = GaugeMetricFamily("grantflow_cases", "Cases in the register by call and stage",
                                  labels=["call", "stage"])
        for call_id, stage, n in conn.execute(CASES):
            cases.add_metric([str(call_id), str(stage)], float(n))
        out.append(cases)

        overdue = {kind.value: (0, None) for kind in DeadlineKind if kind is not DeadlineKind.RECORDS_REQUEST}
        for kind, n, oldest in conn.execute(DEADLINES, {"now": now}):
            overdue[str(kind)] = (n, oldest)
        count = GaugeMetricFamily("grantflow_deadlines_overdue", "Deadlines passed and not met, by kind",
                                  labels=["kind"])
        age = GaugeMetricFamily("grantflow_deadlines_overdue_oldest_age_seconds",
                                "Time since the longest-passed deadline of each kind passed (0: none)", labels=["kind"])
        for kind, (n, oldest) in sorted(overdue.items()):
            count.add_metric([kind], float(n))
            age.add_metric([kind], _age(now, oldest))
        out += [count, age]

        row = conn.execute(PAYOUTS).fetchone()
        assert row is not None
        n, amount, oldest = row
        waiting_days = 0 if oldest is None else banking_days_between(stockholm_date(oldest), stockholm_date(now))
        out += [
            GaugeMetricFamily("grantflow_payouts_waiting", "Payouts approved and not yet in a bank file", n),
            GaugeMetricFamily("grantflow_payouts_waiting_kronor", "Their sum in kronor", float(amount)),
            GaugeMetricFamily("grantflow_payouts_waiting_oldest_age_seconds",
                              "Age of the oldest payout waiting for a bank file (0: none)", _age(now, oldest)),
            GaugeMetricFamily("grantflow_payouts_waiting_oldest_banking_days",
                              "Swedish banking days the oldest waiting payout has waited (0: none)", waiting_days),
        ]

        row = conn.execute(LETTERS).fetchone()
        assert row is not None
        by_email, by_post, oldest = row
        letters = GaugeMetricFamily("grantflow_letters_unsent",
                                    "Letters in the outbox not sent: with an e-mail address (sending failed or "
                                    "waits to be retried), or without one (to be posted)", labels=["recipient"])
        letters.add_metric(["email"], float(by_email))
        letters.add_metric(["post"], float(by_post))
        out += [letters, GaugeMetricFamily("grantflow_letters_unsent_oldest_age_seconds",
                                           "Age of the oldest unsent letter with an e-mail address (0: none)",
                                           _age(now, oldest))]

        row = conn.execute(RECORDS, {"today": today_began}).fetchone()
        assert row is not None
        waiting, late, oldest = row
        out += [
            GaugeMetricFamily("grantflow_records_requests_waiting", "Cases with a public-records request waiting",
                              waiting),
            GaugeMetricFamily("grantflow_records_requests_overdue",
                              "Cases whose records request was not answered the day it came in", late),
            GaugeMetricFamily("grantflow_records_requests_overdue_oldest_age_seconds",
                              "Age of the oldest records request past its same-day target (0: none)",
                              _age(now, oldest)),
        ]
        return out
