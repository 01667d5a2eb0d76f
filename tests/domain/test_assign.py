"""Assigning a case to an officer: who may, when, and that the assigned officer is kept from deciding."""

from __future__ import annotations

import pytest

from domain.actions import refusal, roles_for
from domain.application import Application
from domain.case import Assign, Decide, DeclareNoConflict, Resume, Role, new_case
from domain.lifecycle import Stage
from infra.calls import load_catalog
from infra.errors import InputError
from tests.domain.test_who_decides import T0, act, approval, assessed_by_anna, command, granted, refused
from tests.factories import application_2021, check


def test_the_role_table_answers_who_may_take_an_action():
    assert roles_for(Assign) == {Role.ADMINISTRATOR}
    assert roles_for(Decide) == {Role.DECISION_MAKER}
    assert roles_for(DeclareNoConflict) == {Role.OFFICER, Role.DECISION_MAKER}
    assert roles_for(Resume) == {Role.OPERATIONS}


def test_only_an_administrator_assigns_and_the_assigned_officer_is_the_cases_officer():
    state = assessed_by_anna()
    assert state.officer == "anna"  # the assessor until the case is assigned
    assert "administratör" in refused(state, "assign", "officer:anna", officer="erik")
    receipt = act(state, "assign", "administrator:admin", officer="erik")
    assert receipt.action == "Assign" and "erik" in receipt.message
    assert (state.assigned_officer, state.officer, state.handled_by) == ("erik", "erik", {"erik", "anna"})
    assert "redan tilldelat erik" in refused(state, "assign", "administrator:admin", officer="erik")


def test_neither_the_assigned_officer_nor_the_assessor_decides():
    for person in ("erik", "anna"):
        state = assessed_by_anna()
        act(state, "assign", "administrator:admin", officer="erik")
        act(state, "prepare-decision", "officer:anna", **approval(state))
        if not state.has_declared(person):
            act(state, "declare-no-conflict", f"decision_maker:{person}")
        assert "fyraögonsprincipen" in refused(state, "decide", f"decision_maker:{person}")
    act(state, "declare-no-conflict", "decision_maker:bo")
    act(state, "decide", "decision_maker:bo")
    assert state.stage is Stage.PAYMENTS


def test_a_case_is_assigned_in_any_stage_before_it_closes():
    state = granted(assessed_by_anna())
    act(state, "assign", "administrator:admin", officer="kim")
    assert "bo har fattat beslutet" in refused(state, "assign", "administrator:admin", officer="bo")
    act(state, "withdraw", "applicant:region", reason="Avbryter projektet.")
    assert state.stage is Stage.CLOSED
    assert "steget" in refused(state, "assign", "administrator:admin", officer="lo")


def test_a_personnummer_is_never_an_officer_to_assign(person="19121212-1212"):
    for written in (person, person.replace("-", ""), person[2:]):
        with pytest.raises(InputError, match="aldrig ett personnummer"):
            command("assign", "administrator:admin", officer=written)


def test_a_completion_cannot_hand_the_case_to_another_organisation():
    data = application_2021()
    data["attachments"] = [a for a in data["attachments"] if a["kind"] != "signatory_authority"]
    state = new_case(case_number="2021-00002", submission_id="s-2", call=load_catalog().get(data["call_id"]),
                     application=Application.model_validate(data), received_at=T0, imported=False,
                     verdict=check(data))
    assert state.stage is Stage.COMPLETENESS
    act(state, "request-completion", "officer:anna", missing=["Intyg om behörig firmatecknare"])
    other = state.application.model_dump(mode="json")
    other["applicant"] = {**other["applicant"], "org_number": "556912-3408", "name": "Ett annat AB"}
    assert "byta sökande organisation" in refused(state, "submit-completion", "applicant:sokande", application=other)
    same = state.application.model_dump(mode="json")
    same["applicant"]["org_number"] = "16" + same["applicant"]["org_number"]  # the same number, written longer
    assert refusal(state, command("submit-completion", "applicant:sokande", application=same), T0) is None


def test_an_officer_the_case_was_assigned_to_earlier_does_not_decide_it_either():
    state = assessed_by_anna()
    act(state, "assign", "administrator:admin", officer="erik")
    act(state, "assign", "administrator:admin", officer="karin")
    act(state, "prepare-decision", "officer:anna", **approval(state))
    act(state, "declare-no-conflict", "decision_maker:erik")
    assert state.handled_by == {"anna", "erik", "karin"}
    assert "fyraögonsprincipen" in refused(state, "decide", "decision_maker:erik")
