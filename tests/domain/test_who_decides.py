"""Who may act on a case (issue 18, items 3-5): declarations of no conflict of interest, an explicit
replacement of a proposal, a revocation prepared and heard before it is decided, and an action id
reused with other content. Pure calls on CaseState: `refusal` answers, `apply` carries out."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.actions import apply, deadline_passed, refusal
from domain.after_decision import Revoke
from domain.application import Application
from domain.case import CaseState, Receipt, RecordEvent, SendLetter, new_case
from domain.clock import format_instant_sv
from domain.lifecycle import Stage
from domain.reclaim import ReclaimBasis
from infra.calls import load_catalog
from infra.errors import InputError
from services.cases import build_command
from tests.factories import RECEIVED_2021, application_2021, check

T0 = RECEIVED_2021
DAY = timedelta(days=1)
D = Decimal


class Refused(Exception):
    pass


def command(action: str, actor: str, action_id: str | None = None, **payload: Any):
    role, _, person = actor.partition(":")
    return build_command(action, {"role": role, "id": person}, payload, action_id or uuid.uuid4().hex)


def act(state: CaseState, action: str, actor: str, at=T0, action_id: str | None = None, **payload: Any) -> Receipt:
    cmd = command(action, actor, action_id, **payload)
    if (reason := refusal(state, cmd, at)) is not None:
        raise Refused(reason)
    return apply(state, cmd, at)


def refused(state: CaseState, action: str, actor: str, at=T0, **payload: Any) -> str:
    reason = refusal(state, command(action, actor, **payload), at)
    assert reason is not None, f"{action} by {actor} was accepted"
    return reason


def assessed_by_anna() -> CaseState:
    data = application_2021()
    state = new_case(case_number="2021-00001", submission_id="s-1", call=load_catalog().get(data["call_id"]),
                     application=Application.model_validate(data), received_at=T0, imported=False,
                     verdict=check(data))
    assert state.stage is Stage.SECRECY_REVIEW
    act(state, "record-secrecy-review", "officer:anna", rulings=[
        {"section": m.section, "secret": False, "reason": "Inget men."} for m in state.application.secret_sections])
    act(state, "declare-no-conflict", "officer:anna")
    act(state, "score", "officer:anna", scores=[
        {"criterion": c, "score": 4, "motivation": "Väl underbyggt."} for c in state.applicable_criteria()])
    return state


def approval(state: CaseState, amount: str = "400000.00", **extra: Any) -> dict[str, Any]:
    start = state.application.project.start
    return {"kind": "approve", "amount": amount, "period_start": start.isoformat(),
            "period_end": (start + 60 * DAY).isoformat(), "final_report_due": (start + 90 * DAY).isoformat(),
            **extra}


def granted(state: CaseState) -> CaseState:
    act(state, "prepare-decision", "officer:anna", **approval(state))
    act(state, "declare-no-conflict", "decision_maker:bo")
    act(state, "decide", "decision_maker:bo")
    assert state.stage is Stage.PAYMENTS and state.granted == D("400000.00")
    return state


def events(state: CaseState) -> list[RecordEvent]:
    return [e for e in state.outbox if isinstance(e, RecordEvent)]


# --- item 4: every officer step from assessment on, and the decision, by someone who has declared ---


def test_an_officer_who_has_not_declared_may_not_prepare_a_decision_on_a_case_another_assessed():
    state = assessed_by_anna()
    reason = refused(state, "prepare-decision", "officer:mallory", **approval(state))
    assert "mallory har inte förklarat att jäv inte föreligger" in reason and "FL 16–18" in reason
    act(state, "declare-no-conflict", "officer:mallory")
    # Declared, mallory may: the declaration is recorded with who, which role and when.
    act(state, "prepare-decision", "officer:mallory", **approval(state))
    assert state.prepared.prepared_by == "mallory"
    assert [(d.person, d.role) for d in state.declarations] == [("anna", "officer"), ("mallory", "officer")]
    assert state.assessment.assessor == "anna"  # the first officer to declare assesses the case


def test_an_officer_who_has_not_declared_may_not_score():
    state = assessed_by_anna()
    scores = [{"criterion": c, "score": 2, "motivation": "Svagt."} for c in state.applicable_criteria()]
    assert "mallory har inte förklarat att jäv inte föreligger" in refused(state, "score", "officer:mallory",
                                                                           scores=scores)


def test_an_officer_who_has_not_declared_may_not_review_a_payment_request():
    state = granted(assessed_by_anna())
    reason = refused(state, "review-payment-request", "officer:mallory", request_number=1, costs=[])
    assert "mallory har inte förklarat att jäv inte föreligger" in reason
    act(state, "declare-no-conflict", "officer:mallory", at=T0 + DAY)
    # Declared, mallory meets the rules of the review itself.
    assert "ingen ansökan om utbetalning nummer 1" in refused(state, "review-payment-request", "officer:mallory",
                                                              request_number=1, costs=[])


def test_a_decision_maker_who_has_not_declared_may_not_decide():
    state = assessed_by_anna()
    act(state, "prepare-decision", "officer:anna", **approval(state))
    assert "bo har inte förklarat att jäv inte föreligger" in refused(state, "decide", "decision_maker:bo")
    act(state, "declare-no-conflict", "decision_maker:bo")
    assert state.declarations[-1].role == "decision_maker"
    act(state, "decide", "decision_maker:bo")
    assert state.decision.decided_by == "bo"
    # The four-eyes rule stands: the assessor, declared, still never decides.
    other = assessed_by_anna()
    act(other, "prepare-decision", "officer:anna", **approval(other))
    assert "fyraögonsprincipen" in refused(other, "decide", "decision_maker:anna")


def test_a_declaration_is_made_once_and_only_by_those_who_handle_or_decide():
    state = assessed_by_anna()
    assert "redan förklarat" in refused(state, "declare-no-conflict", "officer:anna")
    assert "handläggare eller beslutsfattare" in refused(state, "declare-no-conflict", "applicant:region")


def test_an_assessor_who_declared_before_declarations_were_listed_counts_as_declared():
    state = assessed_by_anna()
    # A case that a running workflow holds from before: its assessor's declaration is only in the assessment.
    old = CaseState.model_validate(state.model_dump(mode="json", exclude={"declarations"}))
    assert old.declarations == [] and old.has_declared("anna")
    act(old, "prepare-decision", "officer:anna", **approval(old))
    assert "mallory har inte förklarat" in refused(old, "prepare-decision", "officer:mallory",
                                                   replaces_proposal=True, **approval(old))


def test_a_proposal_is_replaced_only_by_an_explicit_new_proposal_which_the_history_shows():
    state = assessed_by_anna()
    act(state, "prepare-decision", "officer:anna", **approval(state))
    act(state, "declare-no-conflict", "officer:erik")
    reject = {"kind": "reject", "reasons": "Svag förankring i regionen."}
    reason = refused(state, "prepare-decision", "officer:erik", **reject)
    assert "redan ett beslutsförslag (bifall) av anna" in reason and "replaces_proposal" in reason
    assert state.prepared.prepared_by == "anna"
    receipt = act(state, "prepare-decision", "officer:erik", action_id="forslag-2", replaces_proposal=True, **reject)
    assert state.prepared.prepared_by == "erik" and state.prepared.kind.value == "reject"
    [entry] = [e for e in events(state) if e.event_id == "forslag-2"]
    assert entry.summary == receipt.message
    assert "ersätter beslutsförslaget av anna (bifall)" in entry.summary and entry.actor_id == "erik"
    # Nothing to replace is a mistake too.
    fresh = assessed_by_anna()
    assert "inget beslutsförslag att ersätta" in refused(fresh, "prepare-decision", "officer:anna",
                                                        replaces_proposal=True, **approval(fresh))


# --- item 3: an action id reused with other content ---------------------------------------


def test_an_action_id_reused_with_another_payload_is_refused_and_the_same_payload_gets_the_first_receipt():
    state = assessed_by_anna()
    first = act(state, "prepare-decision", "officer:anna", action_id="a-1", **approval(state))
    assert first.fingerprint is not None
    same = command("prepare-decision", "officer:anna", "a-1", **approval(state))
    assert refusal(state, same, T0 + DAY) is None and apply(state, same, T0 + DAY) == first
    other = command("prepare-decision", "officer:anna", "a-1", **approval(state, amount="300000.00"))
    assert refusal(state, other, T0 + DAY) == (
        f"Åtgärds-id a-1 har redan använts för en annan åtgärd med andra uppgifter (PrepareDecision, "
        f"{format_instant_sv(first.accepted_at)}); använd ett nytt åtgärds-id.")
    another_action = command("declare-no-conflict", "officer:anna", "a-1")
    assert "redan använts" in refusal(state, another_action, T0 + DAY)
    # A receipt from before fingerprints answers a re-sent action as before.
    state.receipts["a-1"] = first.model_copy(update={"fingerprint": None})
    assert refusal(state, other, T0 + DAY) is None


# --- item 5: a revocation is prepared, heard, then decided ---------------------------------


def test_a_revocation_is_prepared_by_an_officer_heard_and_decided_by_another_who_declared():
    state = granted(assessed_by_anna())
    later = T0 + 10 * DAY
    assert "inget förberett upphävande" in refused(state, "revoke", "decision_maker:bo", at=later,
                                                   revoked_amount="400000.00", reasons="Oriktiga uppgifter.")
    assert "handläggare" in refused(state, "prepare-revocation", "decision_maker:bo", at=later,
                                    revoked_amount="400000.00", reasons="x")
    assert "mallory har inte förklarat" in refused(state, "prepare-revocation", "officer:mallory", at=later,
                                                   revoked_amount="400000.00", reasons="x")
    with pytest.raises(InputError, match="reply_days"):  # at least the 14 days of any hearing
        command("prepare-revocation", "officer:anna", revoked_amount="1.00", reasons="x", reply_days=7)
    receipt = act(state, "prepare-revocation", "officer:anna", at=later, revoked_amount="400000.00",
                  reasons="Sökanden har lämnat oriktiga uppgifter om medfinansieringen.",
                  material="Intyg från medfinansiären, 2021-04-01.")
    assert "kommunicerat" in receipt.message and state.stage is Stage.PAYMENTS
    [letter] = [e for e in state.outbox if isinstance(e, SendLetter) and e.letter == "revocation_communication"]
    assert "helt" in letter.context["what"] and letter.context["material"].startswith("Intyg")
    hearing = state.revocation.hearing
    assert hearing.deadline == state.next_deadline and (hearing.deadline - later).days >= 14
    assert "redan förberett" in refused(state, "prepare-revocation", "officer:anna", at=later,
                                        revoked_amount="1.00", reasons="x")
    # Not the preparer, not before the reply period is over, not with other terms than heard.
    assert "fyraögonsprincipen" in refused(state, "revoke", "decision_maker:anna", at=later)
    assert "svarstid" in refused(state, "revoke", "decision_maker:bo", at=later)
    assert "förberett och kommunicerat" in refused(state, "revoke", "decision_maker:bo", at=hearing.deadline,
                                                   revoked_amount="1.00")
    deadline_passed(state, hearing.deadline)
    assert hearing.expired and state.next_deadline != hearing.deadline
    receipt = act(state, "revoke", "decision_maker:bo", at=hearing.deadline)
    assert state.granted == D(0) and state.revocation.decided_by == "bo"
    # Nothing paid, all revoked: "upphävs helt", not "upphävs till 400 000 kr".
    assert receipt.message.startswith("Beslutet upphävs helt.")
    assert state.stage is Stage.RECLAIM and state.reclaim.basis is ReclaimBasis.REVOCATION
    assert state.reclaim.note.startswith("Beslutet upphävs helt: ")


def test_the_applicant_replies_to_a_revocation_hearing_and_a_partial_revocation_keeps_the_project_going():
    state = granted(assessed_by_anna())
    later = T0 + 10 * DAY
    act(state, "prepare-revocation", "officer:anna", at=later, revoked_amount="100000.00",
        reasons="Ett delprojekt genomförs inte.", reply_days=21)
    assert (state.revocation.hearing.deadline - later).days >= 21
    act(state, "reply-to-communication", "applicant:region", at=later + DAY, text="Vi genomför det i höst i stället.")
    assert "inget kommunicerat underlag" in refused(state, "reply-to-communication", "applicant:region",
                                                    at=later + DAY, text="Igen.")
    receipt = act(state, "revoke", "decision_maker:bo", at=later + DAY)
    assert state.granted == D("300000.00") and state.stage is Stage.PAYMENTS and state.reclaim is None
    assert receipt.message == ("Beslutet upphävs delvis; beviljat belopp sänks med 100\u00a0000\u00a0kr till "
                               "300\u00a0000\u00a0kr, och inget ska betalas tillbaka.")
    [letter] = [e for e in state.outbox if isinstance(e, SendLetter) and e.letter == "grant_reduced"]
    assert letter.context["decided_by"] == "beslutsfattare bo efter föredragning av handläggare anna"


def test_a_revoke_recorded_before_revocations_were_prepared_still_applies_on_replay():
    # On replay the validator does not run, but the handler does: the old command carries its terms.
    state = granted(assessed_by_anna())
    old = Revoke(action_id="old-1", actor={"role": "decision_maker", "id": "bo"}, revoked_amount="150000.00",
                 reasons="Projektet genomförs inte som beslutat.")
    receipt = apply(state, old, T0 + 10 * DAY)
    assert state.granted == D("250000.00") and "delvis" in receipt.message


def test_a_period_that_ends_before_it_starts_is_named_as_such():
    state = assessed_by_anna()
    backwards = approval(state, period_end=(state.application.project.start - DAY).isoformat())
    assert "slutar" in refused(state, "prepare-decision", "officer:anna", **backwards)
    assert refused(state, "prepare-decision", "officer:anna", **approval(state, period_end=None)) == (
        "Ange en projektperiod.")
