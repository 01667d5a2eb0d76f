from __future__ import annotations

import asyncio
from datetime import UTC

import psycopg
import pytest

from activities import db as db_module
from activities.db import Migration, migrations, open_pool, upgrade

TABLES = {
    "case_numbers", "cases", "case_events", "case_documents", "letters", "budget_grants", "call_budgets",
    "payouts", "bank_files", "case_archive",
    "api_users",  # 0004
    "secret_readings",  # 0007
    "submissions",  # 0009
    "attachments",  # 0008
    "case_counts",  # 0005
    "state_aid",  # 0011
    "team_members",  # 0012
}


async def tables(url: str) -> set[str]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {name for (name,) in await cursor.fetchall()}


def names() -> list[str]:
    return [migration.name for migration in migrations()]


def test_migrations_are_numbered_and_bundled():
    assert names()[:2] == ["0001_initial", "0002_payments"]
    assert names() == sorted(names())


async def test_upgrade_twice_applies_nothing_the_second_time(empty_db):
    assert await upgrade(empty_db) == names()
    assert await upgrade(empty_db) == []
    assert await tables(empty_db) == TABLES | {"schema_migrations"}


async def test_concurrent_upgrades_apply_each_migration_once(empty_db):
    results = await asyncio.gather(*(upgrade(empty_db) for _ in range(4)))
    assert sorted(results, key=len, reverse=True) == [names(), [], [], []]
    async with await psycopg.AsyncConnection.connect(empty_db) as conn:
        cursor = await conn.execute("SELECT count(*) FROM schema_migrations")
        assert await cursor.fetchone() == (len(names()),)


async def test_a_migration_edited_after_it_ran_is_refused(empty_db, monkeypatch):
    await upgrade(empty_db)
    edited = [Migration(name=m.name, sql=m.sql + "\n-- edited\n") for m in migrations()]
    monkeypatch.setattr(db_module, "migrations", lambda: edited)
    with pytest.raises(RuntimeError, match="0001_initial was changed"):
        await upgrade(empty_db)


async def test_a_failing_migration_leaves_the_schema_as_it_was(empty_db, monkeypatch):
    broken = [*migrations(), Migration(name="9999_broken", sql="CREATE TABLE broken (id int); SELECT 1/0;")]
    monkeypatch.setattr(db_module, "migrations", lambda: broken)
    with pytest.raises(psycopg.errors.DivisionByZero):
        await upgrade(empty_db)
    assert await tables(empty_db) == set()


async def test_pool_is_open_and_speaks_utc(db):
    pool = await open_pool(db, min_size=1, max_size=2)
    try:
        async with pool.connection() as conn:
            cursor = await conn.execute("SELECT now()")
            row = await cursor.fetchone()
        assert row is not None
        assert row[0].utcoffset() == UTC.utcoffset(None)
    finally:
        await pool.close()
