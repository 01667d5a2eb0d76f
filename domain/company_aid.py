"""State aid in a case: the companies a report names, the officer's check of them, and the aid granted.

`domain.state_aid` holds the rules and the arithmetic; here they meet the case. The workflow checks
a report's companies when the officer reviews it (rates and the record's totals read by activities)
and keeps the check in `CaseState.state_aid`; the review is refused while a company is over its
ceiling and not resolved, and its approval records the aid and queues each company's certificate.
"""

from __future__ import annotations

from datetime import date, datetime

from domain.case import CaseState, RecordStateAid, SendLetter, next_effect_id, note_event
from domain.clock import format_instant_sv
from domain.letters import LetterKind
from domain.money import format_kronor
from domain.state_aid import (
    CompanyAid,
    GrantedAid,
    StateAidCheck,
    StateAidResolution,
    ceiling_for,
    certificate_context,
    check_refusal,
    companies_problem,
    format_euro,
)

FINAL_REPORT = "final-report"


def payment_request_key(number: int) -> str:
    return f"payment-request-{number}"


def filing_refusal(state: CaseState, companies: list[CompanyAid], first: date, last: date, what: str) -> str | None:
    """Why the companies a payment request or final report names cannot be filed."""
    if not companies:
        return None
    if not state.call.state_aid.participating_companies:
        return "Utlysningen omfattar inte stöd till deltagande företag; redovisa inga företag."
    for company in companies:
        if ceiling_for(state.call.state_aid.ceilings, company.granted_on) is None:
            return (f"Utlysningen anger inget tak för stöd av mindre betydelse som gäller stöd beviljat"
                    f" {company.granted_on} ({company.name}).")
    return companies_problem(companies, first, last, what)


def review_refusal(state: CaseState, report: str, companies: list[CompanyAid],
                   resolutions: list[StateAidResolution]) -> str | None:
    """Why the review of `report` cannot approve it yet: a company over its ceiling, unresolved.

    The workflow checks the companies before it acts on the review; a check made with other
    resolutions than these is no answer, and the workflow checks again."""
    if resolutions and not companies:
        return "Rapporten redovisar inga företag att besluta om stöd av mindre betydelse för."
    check = state.state_aid.checks.get(report)
    if not companies or check is None or _resolutions(check) != resolutions:
        return None
    return check_refusal(check)


def _resolutions(check: StateAidCheck) -> list[StateAidResolution]:
    return [c.resolution for c in check.companies if c.resolution is not None]


def grant_state_aid(state: CaseState, report: str, now: datetime) -> str:
    """The approved report's aid: recorded, and each company's certificate queued. Returns a note for the receipt."""
    check = state.state_aid.checks.get(report)
    if check is None:
        return ""
    aid = [GrantedAid.of(f"{report}-{i}", c) for i, c in enumerate(check.companies, start=1) if c.value > 0]
    if not aid:
        return ""
    state.state_aid.granted += aid
    state.outbox.append(RecordStateAid(aid=aid))
    for granted, company in ((a, next(c for c in check.companies if c.org_number == a.org_number)) for a in aid):
        base = {"case_number": state.case_number, "project_title": state.application.project.title,
                "call_title": state.call.title, "agency": state.call.agency, "recipient_name": granted.name,
                "received_at": format_instant_sv(state.received_at)}
        letter = LetterKind.DE_MINIMIS_CERTIFICATE.value
        state.outbox.append(SendLetter(letter_id=next_effect_id(state, letter), letter=letter,
                                       context=base | certificate_context(granted),
                                       recipient_name=granted.name, recipient_email=company.email))
    lines = "; ".join(f"{a.name} {format_kronor(a.value)} ({format_euro(a.value_eur)})" for a in aid)
    note_event(state, now, "system", "system", "state_aid_granted",
               f"Stöd av mindre betydelse registrerat och intyg skickade: {lines}.")
    return f" Stöd av mindre betydelse till {len(aid)} företag är registrerat och intyg skickas."


def reported_companies(state: CaseState, report_number: int | None) -> tuple[str, list[CompanyAid]]:
    """The report under review and the companies it names: payment request `report_number`, or the final report."""
    payments = state.payments
    if payments is None:
        return "", []
    if report_number is None:
        final = payments.final_report
        return FINAL_REPORT, final.report.companies if final else []
    filed = payments.request(report_number)
    return payment_request_key(report_number), filed.request.companies if filed else []
