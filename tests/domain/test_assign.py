"""Assigning a case to an officer: who may, when, and that the assigned officer is kept from deciding."""

from __future__ import annotations

from domain.actions import roles_for
from domain.case import Assign, Decide, DeclareNoConflict, Resume, Role
from domain.lifecycle import Stage
from tests.domain.test_who_decides import act, approval, assessed_by_anna, granted, refused


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
