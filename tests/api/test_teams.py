"""Teams over HTTP: an administrator keeps them, and the inbox's `team` filter reads them from the register."""

from __future__ import annotations

from api.auth import ApiRole
from domain.lifecycle import Stage
from tests.api.conftest import Api
from tests.api.test_inbox import inbox, write_case


async def test_an_administrator_keeps_the_teams_and_bad_names_are_named(api: Api) -> None:
    admin = api.token(ApiRole.ADMINISTRATOR, "ada")

    added = await api.as_(admin, "PUT", "/teams/handlaggning-norr/members/anna")
    assert added.status_code == 200, added.text
    assert added.json()["changed"] == ["anna"]
    assert [(m["person"], m["added_by"]) for m in added.json()["team"]["members"]] == [("anna", "ada")]
    again = await api.as_(admin, "PUT", "/teams/handlaggning-norr/members/anna")
    assert again.json()["changed"] == [] and len(again.json()["team"]["members"]) == 1
    # One person, several teams; a member need not have a development token (OIDC subjects have none).
    for team, person in (("handlaggning-norr", "erik"), ("ekonomi-syd", "anna"), ("ekonomi-syd", "oidc-subject-7")):
        assert (await api.as_(admin, "PUT", f"/teams/{team}/members/{person}")).status_code == 200

    listed = await api.as_(admin, "GET", "/teams")
    assert listed.status_code == 200
    assert {t["name"]: [m["person"] for m in t["members"]] for t in listed.json()} == {
        "ekonomi-syd": ["anna", "oidc-subject-7"], "handlaggning-norr": ["anna", "erik"]}

    removed = await api.as_(admin, "DELETE", "/teams/ekonomi-syd/members/anna")
    assert removed.status_code == 200 and [m["person"] for m in removed.json()["team"]["members"]] == [
        "oidc-subject-7"]
    gone = await api.as_(admin, "DELETE", "/teams/ekonomi-syd/members/anna")
    assert gone.status_code == 404 and "inte med i teamet" in gone.json()["detail"]

    for path, field, words in (
        ("/teams/Team%20Norr/members/anna", "team", "små bokstäver"),
        ("/teams/mine/members/anna", "team", "reserverat"),
        ("/teams/-norr/members/anna", "team", "små bokstäver"),
        ("/teams/norr/members/198001011234", "person", "personnummer"),
        ("/teams/norr/members/anna%20a", "person", "användar-id"),
    ):
        bad = await api.as_(admin, "PUT", path)
        assert bad.status_code == 422, (path, bad.text)
        assert bad.headers["content-type"].startswith("application/problem+json")
        [error] = bad.json()["errors"]
        assert error["field"] == field and words in error["reason"], (path, error)

    officer = api.token(ApiRole.OFFICER, "anna")
    assert (await api.as_(officer, "PUT", "/teams/norr/members/anna")).status_code == 403
    assert (await api.as_(officer, "GET", "/teams")).status_code == 403


async def test_the_inbox_shows_my_cases_my_teams_or_one_teams(api: Api) -> None:
    admin = api.token(ApiRole.ADMINISTRATOR, "ada")
    for team, person in (("norr", "anna"), ("norr", "erik"), ("syd", "erik"), ("syd", "kim"), ("vast", "lo")):
        assert (await api.as_(admin, "PUT", f"/teams/{team}/members/{person}")).status_code == 200
    cases = {officer: await write_case(api, i, officer=officer, stage=stage) for i, (officer, stage) in enumerate((
        ("anna", Stage.ASSESSMENT), ("erik", Stage.DECISION), ("kim", Stage.ASSESSMENT), ("lo", Stage.PAYMENTS),
        ("nils", Stage.ASSESSMENT)))}
    unassigned = await write_case(api, 9, officer=None)

    def numbers(page: dict) -> set[str]:
        return {c["case_number"] for c in page["cases"]}

    anna, erik, nils = (api.token(ApiRole.OFFICER, p) for p in ("anna", "erik", "nils"))
    # anna is in norr (with erik); erik in norr and syd (with kim); nils in none: only his own.
    mine = await inbox(api, anna, team="mine")
    assert numbers(mine) == {cases["anna"], cases["erik"]} and mine["total"] == 2
    assert {c["stage"]: c["count"] for c in mine["counts"] if c["count"]} == {"assessment": 1, "decision": 1}
    assert numbers(await inbox(api, erik, team="mine")) == {cases["anna"], cases["erik"], cases["kim"]}
    assert numbers(await inbox(api, nils, team="mine")) == {cases["nils"]}
    # One team, by name, for any staff; with other filters, the counts are the cases' own.
    assert numbers(await inbox(api, nils, team="syd")) == {cases["erik"], cases["kim"]}
    narrowed = await inbox(api, erik, team="mine", stage="assessment", min_amount="1")
    assert numbers(narrowed) == {cases["anna"], cases["kim"]}
    assert {c["stage"]: c["count"] for c in narrowed["counts"] if c["count"]} == {"assessment": 2, "decision": 1}
    assert numbers(await inbox(api, anna, team="ingen-sadan")) == set()
    assert unassigned in numbers(await inbox(api, anna))

    bad = await api.as_(anna, "GET", "/inbox", params={"team": "Norr Team"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "team"
