"""The register's chain (migration 0010): rows written before it are chained by it, and the register's
one statement chains each new row to its case's head, as domain.audit recomputes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from activities import db as db_module
from activities.audit import chain_rows, heads
from activities.db import migrations, open_pool, upgrade
from activities.register import CaseEvent, Register, RegisterWrite
from domain.audit import chain_findings
from domain.lifecycle import Stage

AT = datetime(2026, 3, 2, 8, 15, 30, 123456, tzinfo=UTC)


def event(number: str, event_id: str, minutes: int, summary: str = "Noterat: å, ä och ö.") -> CaseEvent:
    return CaseEvent(case_number=number, event_id=event_id, at=AT + timedelta(minutes=minutes), actor_id="anna",
                     actor_role="officer", kind="noted", stage=Stage.ASSESSMENT, summary=summary)


async def test_rows_from_before_the_chain_are_chained_by_the_migration_and_new_ones_follow(empty_db, monkeypatch):
    before = [m for m in migrations() if m.name < "0010"]
    monkeypatch.setattr(db_module, "migrations", lambda: before)
    await upgrade(empty_db)
    async with await psycopg.AsyncConnection.connect(empty_db, autocommit=True) as conn:
        for number in ("2026-00001", "2026-00002"):
            await conn.execute(
                "INSERT INTO cases (case_number, submission_id, call_id, received_at, sender_name, subject,"
                " requested_amount, stage) VALUES (%s, %s, 'c', now(), 'Region Exempel', 'Projekt', 1, 'assessment')",
                (number, f"s-{number}"))
            for minutes, event_id in ((2, "b"), (1, "a"), (2, "a2")):
                await conn.execute(
                    "INSERT INTO case_events (case_number, event_id, at, actor_id, actor_role, kind, stage, summary)"
                    " VALUES (%s, %s, %s, 'anna', 'officer', 'noted', 'assessment', 'Noterat.')",
                    (number, event_id, AT + timedelta(minutes=minutes)))
    monkeypatch.undo()
    assert await upgrade(empty_db) == [m.name for m in migrations() if m.name >= "0010"]

    pool = await open_pool(empty_db)
    try:
        rows = await chain_rows(pool, "2026-00001")
        # In the register's order (at, event id), numbered from 1, every hash as the Python definition has it.
        assert [(r.event_id, r.seq) for r in rows] == [("a", 1), ("a2", 2), ("b", 3)]
        assert chain_findings("2026-00001", rows) == []
        # Two writes, the second with a retry of the first's rows: each new row follows the head, nothing twice.
        register = Register(pool)
        await register.write(RegisterWrite(case_number="2026-00001", events=[event("2026-00001", "c", 5),
                                                                               event("2026-00001", "d", 4)]))
        await register.write(RegisterWrite(case_number="2026-00001", events=[
            event("2026-00001", "d", 4), event("2026-00001", "e", 6, summary="x" * 5000)]))
        rows = await chain_rows(pool, "2026-00001")
        assert [(r.event_id, r.seq) for r in rows] == [("a", 1), ("a2", 2), ("b", 3), ("c", 4), ("d", 5), ("e", 6)]
        assert chain_findings("2026-00001", rows) == []
        assert rows[3].prev_hash == rows[2].hash
        assert [(h.case_number, h.seq, h.hash) for h in await heads(pool)] == [
            ("2026-00001", 6, rows[-1].hash), ("2026-00002", 3, (await chain_rows(pool, "2026-00002"))[-1].hash)]
    finally:
        await pool.close()
