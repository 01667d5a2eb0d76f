"""`grantflow teams`: an administrator keeps the teams at the terminal, through the API's own service."""

from __future__ import annotations

import json

from tests.cli.test_cli import grantflow


async def test_teams_are_added_listed_and_removed_and_bad_names_named(db, tmp_path):
    env = {"GRANTFLOW_DATABASE_URL": db, "GRANTFLOW_DATA_DIR": str(tmp_path)}
    added = grantflow("teams", "add", "handlaggning-norr", "anna", "erik", "--by", "ada", env=env)
    assert added.returncode == 0, added.stderr
    assert added.stdout.splitlines() == ["Tillagda i handlaggning-norr: anna, erik."]
    again = grantflow("teams", "add", "handlaggning-norr", "erik", "kim", "--by", "ada", env=env)
    assert again.stdout.splitlines() == ["Tillagda i handlaggning-norr: kim.", "Redan med i handlaggning-norr: erik."]

    listed = grantflow("teams", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    [team] = json.loads(listed.stdout)
    assert team["name"] == "handlaggning-norr"
    assert [(m["person"], m["added_by"]) for m in team["members"]] == [("anna", "ada"), ("erik", "ada"),
                                                                       ("kim", "ada")]
    text = grantflow("teams", "list", env=env).stdout.splitlines()
    assert text[0] == "handlaggning-norr" and text[1].startswith("  anna\ttillagd ") and text[1].endswith("av ada")

    removed = grantflow("teams", "remove", "handlaggning-norr", "erik", env=env)
    assert removed.returncode == 0 and "erik är inte längre med i handlaggning-norr" in removed.stdout
    not_there = grantflow("teams", "remove", "handlaggning-norr", "erik", env=env)
    assert not_there.returncode == 0 and "inget ändrades" in not_there.stdout

    bad = grantflow("teams", "add", "Norr Team", "anna", "198001011234", env=env)
    assert bad.returncode == 2
    assert "error: TEAM: ska skrivas med små bokstäver" in bad.stderr
    assert "error: PERSON: '198001011234': ska vara ett användar-id" in bad.stderr
    assert grantflow("teams", "list", env=env).stdout.count("\n  ") == 2  # anna and kim; nothing else written
    for by in ("x" * 101, "198001011234"):  # too long for the register; a personnummer is never stored
        refused = grantflow("teams", "add", "handlaggning-norr", "ada", "--by", by, env=env)
        assert refused.returncode == 2 and "error: --by: ska vara ett användar-id" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
