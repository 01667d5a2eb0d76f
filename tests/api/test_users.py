"""Development users: a token printed once, only its hash kept, revoked or replaced at once."""

from __future__ import annotations

import asyncio
import hashlib

import psycopg
import pytest

from cli.main import main
from infra.errors import InputError
from services import users
from tests.api.conftest import Api


async def _add(api: Api, id: str, role: str, **kwargs: str) -> users.Issued:
    return await users.add(api.harness.pool, users.new_user(id, role, **kwargs))


async def test_a_new_users_token_signs_them_in_as_who_they_are(api: Api) -> None:
    issued = await _add(api, "anna", "officer", name="Anna Andersson")
    assert issued.new and issued.token.startswith("gf_") and len(issued.token) == 46
    response = await api.as_(issued.token, "GET", "/me")
    assert response.status_code == 200
    assert response.json() == {"id": "anna", "name": "Anna Andersson", "role": "officer", "org_number": None}

    applicant = await _add(api, "sokande-1", "applicant", org_number="16232100-0016")
    me = (await api.as_(applicant.token, "GET", "/me")).json()
    assert (me["role"], me["org_number"]) == ("applicant", "232100-0016")


async def test_a_revoked_or_replaced_token_is_refused_with_a_problem(api: Api) -> None:
    first = await _add(api, "anna", "officer")
    again = await _add(api, "anna", "officer")
    assert not again.new and again.token != first.token
    for token, status in ((first.token, 401), (again.token, 200)):
        assert (await api.as_(token, "GET", "/me")).status_code == status

    revoked = await users.revoke(api.harness.pool, "anna")
    assert [(u.id, u.role.value) for u in revoked] == [("anna", "officer")] and revoked[0].revoked_at is not None
    response = await api.as_(again.token, "GET", "/me")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"] == "Token är ogiltig, har gått ut eller har återkallats."
    assert await users.revoke(api.harness.pool, "anna") == []  # already revoked: nothing to do
    with pytest.raises(InputError, match="ingen användare nobody"):
        await users.revoke(api.harness.pool, "nobody")

    # A new token for a revoked user brings them back: that is how a lost token is replaced.
    back = await _add(api, "anna", "officer")
    assert (await api.as_(back.token, "GET", "/me")).status_code == 200


async def test_one_person_may_hold_two_roles_with_a_token_each(api: Api) -> None:
    as_officer, as_decider = api.token("officer", "bo"), api.token("decision_maker", "bo")
    assert as_officer != as_decider and api.token("officer", "bo") == as_officer
    assert (await api.as_(as_officer, "GET", "/me")).json()["role"] == "officer"
    assert (await api.as_(as_decider, "GET", "/me")).json()["role"] == "decision_maker"
    await users.revoke(api.harness.pool, "bo", users.ApiRole.OFFICER)
    assert (await api.as_(as_officer, "GET", "/me")).status_code == 401
    assert (await api.as_(as_decider, "GET", "/me")).status_code == 200


@pytest.mark.parametrize("token", ["", "gf_", "gf_" + "x" * 43, "gf_" + "x" * 20_000, "not-a-token", "Bearer x"])
async def test_no_made_up_token_signs_anyone_in(api: Api, token: str) -> None:
    api.token("officer", "anna")
    response = await api.http.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.headers["content-type"] == "application/problem+json"
    assert (await api.http.get("/me")).status_code == 401


async def test_the_database_holds_only_the_hash_and_the_list_never_a_token(api: Api) -> None:
    issued = await _add(api, "anna", "officer")
    async with api.harness.pool.connection() as conn:
        rows = await (await conn.execute("SELECT * FROM api_users")).fetchall()
    assert len(rows) == 1
    digest = hashlib.sha256(issued.token.encode()).hexdigest()
    assert digest in rows[0]
    assert not any(issued.token in str(value) for value in rows[0])

    listed = await users.users(api.harness.pool)
    assert [u.id for u in listed] == ["anna"]
    shown = listed[0].model_dump_json()
    assert issued.token not in shown and "sha256" not in shown and digest not in shown


@pytest.mark.parametrize(("args", "field", "reason"), [
    (("anna", "applicant"), "org_number", "behövs för rollen applicant"),
    (("anna", "applicant", None, "19121212-1212"), "org_number", "inte ett personnummer"),
    (("anna", "applicant", None, "556912-3409"), "org_number", "kontrollsiffran stämmer inte"),
    (("anna", "officer", None, "556912-3408"), "org_number", "gäller bara rollen applicant"),
    (("19121212-1212", "officer"), "id", "aldrig ett personnummer"),
    (("anna andersson", "officer"), "id", "får bara innehålla"),
    (("anna", "boss"), "role", "ska vara"),
    (("anna", "officer", "Anna\x00"), "name", "styrtecken"),
])
def test_a_user_that_cannot_be_is_refused_naming_the_field(args: tuple[str, ...], field: str, reason: str) -> None:
    id, role, name, org = (*args, None, None)[:4]
    with pytest.raises(InputError) as refused:
        users.new_user(id, role, name=name, org_number=org)
    assert [p.field for p in refused.value.problems] == [field]
    assert reason in refused.value.problems[0].reason


async def test_the_commands_print_a_token_once_and_list_no_tokens(db: str, monkeypatch, capsys) -> None:
    monkeypatch.setenv("GRANTFLOW_DATABASE_URL", db)

    async def grantflow(*args: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(main, ["users", *args])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = await grantflow("add", "anna", "--role", "applicant", "--org", "232100-0016", "--name", "Anna A")
    token = out.strip().splitlines()[-1]
    assert code == 0 and token.startswith("gf_") and "anna (sökande, 232100-0016)" in out
    code, out, _ = await grantflow("list")
    assert code == 0 and out.startswith("anna\tsökande\t232100-0016\tAnna A\ttoken utfärdad ") and token not in out
    code, out, _ = await grantflow("list", "--json")
    assert code == 0 and token not in out and "sha256" not in out
    code, out, _ = await grantflow("revoke", "anna")
    assert code == 0 and "Återkallad: anna (sökande, 232100-0016)" in out
    async with await psycopg.AsyncConnection.connect(db) as conn:
        cursor = await conn.execute("SELECT revoked_at IS NOT NULL FROM api_users")
        assert await cursor.fetchall() == [(True,)]

    code, _, err = await grantflow("add", "anna", "--role", "applicant")
    assert (code, err) == (2, "error: --org: behövs för rollen applicant: organisationen som användaren företräder\n")
    code, _, err = await grantflow("revoke", "nobody")
    assert (code, err) == (2, "error: NAME: det finns ingen användare nobody\n")


@pytest.mark.parametrize(("role", "org_number", "token_sha256"), [
    ("applicant", None, "a" * 64),  # an applicant acts for an organisation
    ("officer", "232100-0016", "a" * 64),  # staff for none
    ("applicant", "191212-1212", "a" * 64),  # never a personnummer
    ("officer", None, "gf_not-a-hash"),  # a hash, never a token
    ("boss", None, "a" * 64),
])
async def test_the_table_itself_refuses_what_the_service_refuses(db: str, role: str, org_number: str | None,
                                                                  token_sha256: str) -> None:
    async with await psycopg.AsyncConnection.connect(db) as conn:
        with pytest.raises(psycopg.errors.CheckViolation):
            await conn.execute("INSERT INTO api_users (id, role, name, org_number, token_sha256) "
                               "VALUES ('anna', %s, 'Anna', %s, %s)", (role, org_number, token_sha256))
