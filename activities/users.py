"""The API's development users in the database (`api_users`): only the hash of a token is stored.

Plain reads and writes for `services.users`; no workflow calls them.
"""

from __future__ import annotations

from datetime import datetime

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from domain.users import ApiRole

_COLUMNS = "id, role, name, org_number, created_at, issued_at, revoked_at"


class UserRow(BaseModel):
    """A development user as stored, without the token's hash."""

    id: str
    role: ApiRole
    name: str
    org_number: str | None
    created_at: datetime
    issued_at: datetime
    revoked_at: datetime | None


async def save_user(pool: AsyncConnectionPool, *, id: str, role: ApiRole, name: str, org_number: str | None,
                    token_sha256: str) -> tuple[UserRow, bool]:
    """Add the user, or give an existing one (revoked or not) this new token; True when it was new."""
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(_Saved))
        await cursor.execute(
            f"""
            INSERT INTO api_users AS u (id, role, name, org_number, token_sha256)
            VALUES (%(id)s, %(role)s, %(name)s, %(org_number)s, %(token_sha256)s)
            ON CONFLICT (id, role) DO UPDATE
                SET name = EXCLUDED.name, org_number = EXCLUDED.org_number, token_sha256 = EXCLUDED.token_sha256,
                    issued_at = now(), revoked_at = NULL
            RETURNING {_COLUMNS}, (xmax = 0) AS new
            """,
            {"id": id, "role": role.value, "name": name, "org_number": org_number, "token_sha256": token_sha256},
        )
        saved = await cursor.fetchone()
    assert saved is not None
    return UserRow.model_validate(saved.model_dump(exclude={"new"})), saved.new


class _Saved(UserRow):
    new: bool


async def list_users(pool: AsyncConnectionPool) -> list[UserRow]:
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(UserRow))
        await cursor.execute(f"SELECT {_COLUMNS} FROM api_users ORDER BY id, role")
        return await cursor.fetchall()


async def revoke_users(pool: AsyncConnectionPool, id: str, role: ApiRole | None = None) -> list[UserRow]:
    """Revoke the user's tokens (in one role, or all); returns those revoked now."""
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(UserRow))
        await cursor.execute(
            f"""
            UPDATE api_users SET revoked_at = now()
            WHERE id = %(id)s AND revoked_at IS NULL AND (%(role)s::text IS NULL OR role = %(role)s)
            RETURNING {_COLUMNS}
            """,
            {"id": id, "role": role.value if role is not None else None},
        )
        return sorted(await cursor.fetchall(), key=lambda row: row.role.value)


async def user_by_token(pool: AsyncConnectionPool, token_sha256: str) -> UserRow | None:
    """The user whose current token has this hash, unless revoked."""
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(UserRow))
        await cursor.execute(
            f"SELECT {_COLUMNS} FROM api_users WHERE token_sha256 = %s AND revoked_at IS NULL", (token_sha256,)
        )
        return await cursor.fetchone()
