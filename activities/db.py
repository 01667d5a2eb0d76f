"""The database: a connection pool and the schema migrations.

Migrations are numbered SQL files in `activities/migrations/` (`NNNN_name.sql`),
applied in order, each recorded in `schema_migrations`. `upgrade` holds a
transaction-level advisory lock while it works, so two processes starting at the
same moment (two workers, a worker and the CLI) apply each migration exactly once:
the second waits, then finds nothing left to do.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import ParamSpec, TypeVar

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError

_log = structlog.get_logger(__name__)

# Any constant will do, as long as nothing else in the database uses it: "grantflw".
_MIGRATION_LOCK = 0x6772616E74666C77

_MIGRATION_FILE = re.compile(r"^(?P<number>[0-9]{4})_[a-z0-9_]+\.sql$")


# Errors about what a statement carries (a text PostgreSQL cannot store, a value out of range, a
# constraint the data breaks): the same statement fails the same way on every retry.
_FOR_GOOD: tuple[type[Exception], ...] = (psycopg.DataError, psycopg.IntegrityError)

P = ParamSpec("P")
R = TypeVar("R")


def database_failure(error: psycopg.Error) -> ApplicationError:
    """A database error as Temporal, its UI and the logs may see it: its kind and SQLSTATE only.

    The error's own message may quote the values of the statement (psycopg's "CONTEXT: unnamed
    portal parameter $8 = '…'"), which are what people wrote: it is never passed on. An error that
    no retry can mend is not retryable, so that the workflow learns of it instead of retrying for ever.
    """
    kind = type(error).__name__
    state = f" (SQLSTATE {error.sqlstate})" if error.sqlstate else ""
    for_good = isinstance(error, _FOR_GOOD)
    verb = "refused" if for_good else "failed on"
    return ApplicationError(f"the database {verb} the statement: {kind}{state}", type=kind, non_retryable=for_good)


def invalid_model(error: ValidationError) -> ApplicationError:
    """A model the activity built from its input does not validate: the same input fails again."""
    where = ", ".join(".".join(str(part) for part in e["loc"]) or "$" for e in error.errors(include_url=False)[:5])
    return ApplicationError(f"invalid {error.title}: {error.error_count()} errors at {where}",
                            type="ValidationError", non_retryable=True)


def fails_for_good(activity_fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Under `@activity.defn`: what no retry can mend fails the activity for good, and without its text.

    `from None`: the original error would otherwise travel along as the cause, message and all, to
    the SDK's "Completing activity as failed" log line and to the failure Temporal stores.
    """
    @functools.wraps(activity_fn)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await activity_fn(*args, **kwargs)
        except psycopg.Error as error:
            raise database_failure(error) from None
        except ValidationError as error:
            raise invalid_model(error) from None

    return run


async def _configure(conn: psycopg.AsyncConnection) -> None:
    # Instants come back as UTC whatever the server's default time zone is.
    await conn.execute("SET TIME ZONE 'UTC'")


async def open_pool(conninfo: str, *, min_size: int = 1, max_size: int = 10) -> AsyncConnectionPool:
    """An opened pool; it fails here, not at the first query, if the database is unreachable.

    Its connections are in autocommit: a single statement is its own transaction, one trip to
    the server instead of three (BEGIN, the statement, COMMIT), and every activity that needs
    more than one statement to be atomic opens `conn.transaction()` for them.
    """
    pool = AsyncConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        open=False,
        configure=_configure,
        kwargs={"autocommit": True},
        name="grantflow",
    )
    await pool.open(wait=True)
    return pool


@dataclass(frozen=True, slots=True)
class Migration:
    name: str  # the file name without .sql, e.g. "0001_initial"
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations() -> list[Migration]:
    """The bundled migrations in the order they apply."""
    found: list[Migration] = []
    numbers: set[str] = set()
    for entry in resources.files("activities").joinpath("migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _MIGRATION_FILE.match(entry.name)
        if match is None:
            raise RuntimeError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        if match["number"] in numbers:
            raise RuntimeError(f"two migrations share the number {match['number']}")
        numbers.add(match["number"])
        found.append(Migration(name=entry.name.removesuffix(".sql"), sql=entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda migration: migration.name)


async def upgrade(conninfo: str) -> list[str]:
    """Apply the migrations not yet applied; returns the names applied by this call.

    All of them run in one transaction: a failing migration leaves the schema as it
    was. (So a migration must not use statements that refuse to run in a transaction,
    such as CREATE INDEX CONCURRENTLY.)
    """
    wanted = migrations()
    applied_now: list[str] = []
    async with await psycopg.AsyncConnection.connect(conninfo) as conn, conn.transaction():
        # Lock before CREATE TABLE IF NOT EXISTS: two concurrent creates of the same
        # table can still collide on the catalog's unique index.
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                name text PRIMARY KEY,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        cursor = await conn.execute("SELECT name, checksum FROM schema_migrations")
        done = {name: checksum for name, checksum in await cursor.fetchall()}
        for migration in wanted:
            if migration.name in done:
                # An applied migration that was edited afterwards never ran in its new
                # form anywhere that already had it: refuse rather than drift.
                if done[migration.name] != migration.checksum:
                    raise RuntimeError(
                        f"migration {migration.name} was changed after it was applied; add a new migration instead"
                    )
                continue
            # No parameters, so psycopg sends the file as one simple query: several
            # statements are allowed. Bytes, because the text is not a literal.
            await conn.execute(migration.sql.encode())
            await conn.execute(
                "INSERT INTO schema_migrations (name, checksum) VALUES (%s, %s)",
                (migration.name, migration.checksum),
            )
            applied_now.append(migration.name)
    if applied_now:
        _log.info("schema upgraded", applied=applied_now)
    return applied_now
