"""The letter templates in domain/letters.py: pure, so no database here."""

from __future__ import annotations

import pytest

from domain.letters import REQUIRED_KEYS, LetterKind, RenderedLetter, appeal_text, render_letter

FULL_CONTEXT = {
    "case_number": "2021-00042",
    "recipient_name": "Anna Andersson",
    "agency": "Tillväxtverket",
    "project_title": "Exportsamverkan för livsmedel i Östergötland",
    "call_title": "Exportsamverkan 2021",
    "received_at": "2021-03-04 kl. 14:32",
    "missing": "– intyg om behörig firmatecknare\n– budgetunderlag",
    "material": "Yttrande från Region Östergötland, 2021-04-12.",
    "deadline": "2021-04-26",
    "amount": "1\u00a0250\u00a0000\u00a0kr",
    "project_period": "2021-05-01 – 2022-10-31",
    "conditions": "– Slutrapport lämnas senast 2022-11-30.",
    "reasons": "Projektet bedöms inte bidra till utlysningens syfte.",
    "decision_date": "2021-05-20",
    "decided_by": "Beslutsfattare Bo Beslut efter föredragning av handläggare Hanna Handläggare",
    "appeal": appeal_text(False),
    "withdrawn_at": "2021-04-02",
    "requested_at": "2021-10-01",
    "request_number": "2",
    "period": "2021-05-01 – 2021-08-31",
    "claimed": "300\u00a0000\u00a0kr",
    "approved": "260\u00a0000\u00a0kr",
    "not_approved": "- Konsultfaktura: 40\u00a0000\u00a0kr – avser tid före projektperioden",
    "payable": "95\u00a0000\u00a0kr",
    "paid_total": "195\u00a0000\u00a0kr",
    "granted": "400\u00a0000\u00a0kr",
    "bankgiro": "5402-9681",
    "what": "utbetalning enligt ansökan om utbetalning 2",
    "due": "2022-11-30",
    "consequence": "Om slutrapporten inte kommer in kan stödet komma att krävas tillbaka.",
    "assessment": "Målen är uppnådda.",
    "support_rate": "75\u00a0%",
    "final_grant": "400\u00a0000\u00a0kr",
    "paid": "360\u00a0000\u00a0kr",
    "outcome": "Återstående 40\u00a0000\u00a0kr betalas ut.",
    "due_days": "30",
    "interest_from": "2022-12-15",
    "due_date": "2023-01-31",
    "balance": "41\u00a0020\u00a0kr",
    "summary": "Slutligt stöd är utbetalt.",
    "revoked": "200\u00a0000\u00a0kr",
    "request_id": "4f1c2a",
    "document": "ansökan",
    "content": "project.title: Exportsamverkan för livsmedel i Östergötland",
    "secrecy_note": "Inga delar av handlingen omfattas av sekretess.",
    "legal_ground": "OSL 30 kap. 23 §",
    "company_name": "Exportmejeriet AB",
    "org_number": "556677-8899",
    "aid": "Coachning i exportstrategi, 20 timmar",
    "granted_on": "2026-12-10",
    "value": "40 000 kr",
    "value_eur": "3 643,65 euro",
    "rate": "10,978 kr per euro (Europeiska centralbankens referenskurs 2026-10-30)",
    "regulation": "kommissionens förordning (EU) 2023/2831",
    "ceiling": "300 000 euro",
    "aid_period": "en rullande period om 3 år",
}
# Letters to someone who asked for a public document: they may be anonymous, so no name in the greeting.
TO_REQUESTER = (LetterKind.RECORDS_RELEASE, LetterKind.RECORDS_REFUSAL)

DECISIONS = (LetterKind.DECISION_APPROVED, LetterKind.DECISION_REJECTED, LetterKind.DECISION_DISMISSED,
             LetterKind.RECLAIM_DECISION, LetterKind.GRANT_REDUCED)


@pytest.mark.parametrize("kind", list(LetterKind))
def test_every_kind_renders_in_swedish(kind):
    letter = render_letter(kind, FULL_CONTEXT)
    assert isinstance(letter, RenderedLetter)
    assert "2021-00042" in letter.subject
    assert letter.body.startswith("Hej,\n" if kind in TO_REQUESTER else "Hej Anna Andersson,\n")
    assert "Med vänliga hälsningar\nTillväxtverket" in letter.body
    assert "Exportsamverkan för livsmedel i Östergötland" in letter.body
    assert "$" not in letter.subject + letter.body
    assert "{" not in letter.body


def test_every_kind_has_a_template_and_needs_the_case_number():
    assert set(REQUIRED_KEYS) == set(LetterKind)
    for kind, keys in REQUIRED_KEYS.items():
        assert {"case_number", "agency"} | ({"recipient_name"} if kind not in TO_REQUESTER else set()) <= keys
        assert keys <= FULL_CONTEXT.keys()


@pytest.mark.parametrize("kind", DECISIONS)
def test_decision_letters_say_whether_and_how_to_appeal(kind):
    not_appealable = render_letter(kind, FULL_CONTEXT)
    assert "Överklagande\nBeslutet kan inte överklagas." in not_appealable.body
    appealable = render_letter(kind, FULL_CONTEXT | {"appeal": appeal_text(True, court="kammarrätten")})
    assert "överklaga det hos kammarrätten" in appealable.body
    assert "inom tre veckor" in appealable.body
    assert "Beslutet har fattats 2021-05-20 av Beslutsfattare Bo Beslut" in appealable.body
    assert "appeal" in REQUIRED_KEYS[kind]


def test_rejection_and_dismissal_give_reasons():
    for kind in (LetterKind.DECISION_REJECTED, LetterKind.DECISION_DISMISSED):
        assert "Skälen för beslutet:\nProjektet bedöms inte" in render_letter(kind, FULL_CONTEXT).body
    assert "inte har prövats i sak" in render_letter(LetterKind.DECISION_DISMISSED, FULL_CONTEXT).body


def test_approval_states_amount_period_and_conditions():
    body = render_letter(LetterKind.DECISION_APPROVED, FULL_CONTEXT).body
    assert "bevilja stöd med högst 1\u00a0250\u00a0000\u00a0kr" in body
    assert "Projektperiod: 2021-05-01 – 2022-10-31" in body
    assert "Slutrapport lämnas senast 2022-11-30" in body


def test_a_missing_key_is_a_clear_error_naming_it():
    context = {k: v for k, v in FULL_CONTEXT.items() if k not in ("deadline", "missing")}
    with pytest.raises(ValueError, match=r"'completion_request' is missing context key\(s\): deadline, missing"):
        render_letter(LetterKind.COMPLETION_REQUEST, context)


def test_a_value_must_already_be_formatted_text():
    with pytest.raises(TypeError, match="amount"):
        render_letter(LetterKind.DECISION_APPROVED, FULL_CONTEXT | {"amount": 1250000})


def test_kind_may_be_given_as_its_value():
    assert render_letter("receipt", FULL_CONTEXT) == render_letter(LetterKind.RECEIPT, FULL_CONTEXT)  # type: ignore[arg-type]


def test_a_dollar_sign_in_a_value_is_left_as_written():
    letter = render_letter(LetterKind.RECEIPT, FULL_CONTEXT | {"project_title": "Kostnad $5 per $name"})
    assert "”Kostnad $5 per $name”" in letter.body


def test_the_de_minimis_certificate_names_the_aid_its_value_the_regulation_and_the_date():
    body = render_letter(LetterKind.DE_MINIMIS_CERTIFICATE, FULL_CONTEXT).body
    assert "Exportmejeriet AB (556677-8899) har fått stöd av mindre betydelse" in body
    assert "Stödets värde: 40\u00a0000\u00a0kr, det vill säga 3\u00a0643,65\u00a0euro" in body
    assert "enligt kommissionens förordning (EU) 2023/2831" in body and "beviljades 2026-12-10" in body
    assert "högst 300\u00a0000\u00a0euro i stöd av mindre betydelse under en rullande period om 3 år" in body
