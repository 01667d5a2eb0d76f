"""One case of each call from submission to closed, through HTTP only, each step with its own role's token.

The applicant submits and later files a payment request and the final report; the officer reviews
secrecy, declares no conflict, scores, prepares the approval and reviews what the applicant files; the
decision maker declares and decides; finance puts the payouts into bank files and downloads them. On
the way every role looks at the case, and the test checks what each may see and do: the applicant
its own case without scores, another organisation nothing at all (404), the auditor everything and
the log of who read the secret parts but no action (403), finance and the officer no decision.

Only time and waiting use the harness: `fast_forward` moves the case's clock past its project
period, and `settled` waits until the case's register and letters are written (the register is what
/my/cases and the history read). Every action is an HTTP request.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from activities.payments import PAIN_001, schema_errors
from domain.clock import stockholm_date
from services.cases import ACTIONS
from tests.api.conftest import Api
from tests.factories import CLUSTER_2, application_2021, application_2022

BANKGIRO = "5402-9681"
LEGAL_GROUND = "OSL 30 kap. 23 §"
D = Decimal


@dataclass(frozen=True)
class Plan:
    """One call's case: what it is granted, what the applicant claims and what each payout must be.

    Both calls hold back 10 % of the grant until the final report is approved; the 2021 call pays
    3/4 of eligible costs, the 2022 call 1/2. The final report's costs take the total past the grant,
    so the final payout is the rest of it."""

    seed: str
    application: Callable[[], dict[str, Any]]
    granted: str
    request_costs: tuple[str, str]  # personnel, external services in payment request 1
    first_payout: str  # the support rate of those costs
    final_costs: str
    final_payout: str  # the grant less the first payout
    secret_section: str | None = None  # a part the applicant marks as a business secret


EXPORT_2021 = Plan(seed="export-samverkan-2021", application=application_2021, granted="400000.00",
                   request_costs=("200000.00", "100000.00"), first_payout="225000.00",  # 3/4 of 300 000
                   final_costs="240000.00", final_payout="175000.00")  # 3/4 of 540 000 is above the grant
DIGITAL_2022 = Plan(seed="saker-digitalisering-2022", application=application_2022, granted="300000.00",
                    request_costs=("200000.00", "100000.00"), first_payout="150000.00",  # 1/2 of 300 000
                    final_costs="400000.00", final_payout="150000.00",  # 1/2 of 700 000 is above the grant
                    secret_section="$.descriptions.challenge")


@dataclass
class Case:
    """A case and the people around it, each signed in with a token of their own role."""

    api: Api
    plan: Plan
    number: str = ""
    applicant: str = ""
    stranger: str = ""  # an applicant of another organisation
    officer: str = ""  # anna
    decision_maker: str = ""  # bo
    finance: str = ""  # fia
    auditor: str = ""  # revisor
    operations: str = ""
    keys: dict[str, int] = field(default_factory=dict)

    # --- talking to the API ---------------------------------------------------------------

    async def request(self, token: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return await self.api.as_(token, method, url, **kwargs)

    async def read(self, token: str, url: str, **kwargs: Any) -> Any:
        response = await self.request(token, "GET", url, **kwargs)
        assert response.status_code == 200, (url, response.text)
        return response.json()

    async def post_action(self, token: str, action: str, body: dict[str, Any] | None = None) -> httpx.Response:
        # Each step with an Idempotency-Key of its own, as a client that may have to send it again would.
        self.keys[action] = self.keys.get(action, 0) + 1
        return await self.request(token, "POST", f"/cases/{self.number}/actions/{action}", json=body,
                                  headers={"Idempotency-Key": f"{action}-{self.keys[action]}"})

    async def act(self, token: str, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Take an action that the case accepts; its receipt."""
        response = await self.post_action(token, action, body)
        assert response.status_code == 200, (action, response.text)
        receipt: dict[str, Any] = response.json()
        return receipt

    async def refused(self, token: str, action: str, body: dict[str, Any] | None, status: int) -> str:
        """Send an action that must be refused with `status`; the problem's Swedish detail."""
        response = await self.post_action(token, action, body)
        assert response.status_code == status, (action, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        detail: str = response.json()["detail"]
        return detail

    async def settled(self) -> None:
        await self.api.harness.settled(self.number)

    # --- what people see ------------------------------------------------------------------

    async def staff_view(self, token: str) -> dict[str, Any]:
        view: dict[str, Any] = await self.read(token, f"/cases/{self.number}")
        assert view["view"] == "staff" and view["case_number"] == self.number
        return view

    async def applicant_view(self) -> dict[str, Any]:
        view: dict[str, Any] = await self.read(self.applicant, f"/cases/{self.number}")
        assert view["view"] == "applicant" and view["case_number"] == self.number
        # Never an internal note, a score or a proposal.
        assert not {"application", "assessment", "prepared", "declarations", "history", "secret_sections",
                    "secret_readings", "findings"} & set(view)
        assert "score" not in str(view) and "poäng" not in str(view)
        return view

    async def my_case(self) -> dict[str, Any]:
        """The case as the applicant's list shows it."""
        listed: list[dict[str, Any]] = await self.read(self.applicant, "/my/cases")
        [mine] = [c for c in listed if c["case_number"] == self.number]
        return mine

    async def secret_readings(self) -> list[tuple[str, str]]:
        """The log of who was shown the secret parts, as the auditor reads it in the history."""
        history = await self.read(self.auditor, f"/cases/{self.number}/history")
        return [(r["reader_id"], r["reader_role"]) for r in history["secret_readings"]]

    async def payouts(self, token: str, status: str) -> list[dict[str, Any]]:
        rows = await self.read(token, "/payouts", params={"status": status})
        return [r for r in rows if r["case_number"] == self.number]

    async def nothing_for_outsiders(self) -> None:
        """Another organisation's applicant cannot see or touch the case: 404, as for no case at all;
        the auditor reads but takes no action whatever (403)."""
        assert (await self.request(self.stranger, "GET", f"/cases/{self.number}")).status_code == 404
        # Operations watch cases in Temporal UI; they have no case view here.
        assert (await self.request(self.operations, "GET", f"/cases/{self.number}")).status_code == 403
        assert self.number not in [c["case_number"] for c in await self.read(self.stranger, "/my/cases")]
        await self.refused(self.stranger, "withdraw", {"reason": "Fel ärende."}, 404)
        for action in ACTIONS:
            response = await self.request(self.auditor, "POST", f"/cases/{self.number}/actions/{action}", json={})
            assert response.status_code == 403, (action, response.text)


def today() -> str:
    return stockholm_date(datetime.now(UTC)).isoformat()


def days_from_today(days: int) -> str:
    return (stockholm_date(datetime.now(UTC)) + timedelta(days=days)).isoformat()


# --- the chapters of the story ---------------------------------------------------------------------


async def submitted(api: Api, plan: Plan) -> Case:
    """The applicant submits; the case is registered, in the secrecy review, and the applicant's own."""
    call, days = api.harness.call(plan.seed)
    data = api.harness.application(plan.application(), call, days)
    if plan.secret_section:
        data["secret_sections"] = [{"section": plan.secret_section, "reason": "Kundernas sårbarheter."}]
    org_number = data["applicant"]["org_number"]
    case = Case(api=api, plan=plan,
                applicant=api.token("applicant", "sokanden", org_number=org_number),
                stranger=api.token("applicant", "klustret", org_number=CLUSTER_2),
                officer=api.token("officer", "anna"), decision_maker=api.token("decision_maker", "bo"),
                finance=api.token("finance", "fia"), auditor=api.token("auditor", "revisor"),
                operations=api.token("operations", "drift"))

    response = await api.as_(case.applicant, "POST", "/applications", json=data,
                             headers={"Idempotency-Key": f"ansokan-{plan.seed}"})
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["eligible"] is True, receipt["findings"]
    case.number = receipt["case_number"]
    await case.settled()

    mine = await case.my_case()
    assert (mine["stage"], mine["call_id"], mine["outcome"]) == ("secrecy_review", call.id, None)
    assert [letter["subject"] for letter in mine["letters"]]  # the receipt
    view = await case.applicant_view()
    assert view["stage"] == "secrecy_review" and view["decision"] is None and view["payments"] is None
    # Staff see the call with the case in it; an applicant has no business with the calls' figures.
    assert [c for c in await case.read(case.officer, "/calls") if c["id"] == call.id]
    assert (await case.request(case.applicant, "GET", "/calls")).status_code == 403
    assert (await case.request(case.applicant, "GET", f"/cases/{case.number}/history")).status_code == 403
    await case.nothing_for_outsiders()
    return case


async def secrecy_reviewed(case: Case) -> None:
    """The officer reads the whole application and rules on each part the applicant marked secret."""
    view = await case.staff_view(case.officer)
    assert view["stage"] == "secrecy_review" and view["secret_readings"] is None  # not the officer's to see
    section = case.plan.secret_section
    rulings = []
    if section:
        [marked] = view["secret_sections"]
        assert marked["section"] == section and marked["content"] == view["application"]["descriptions"]["challenge"]
        # Secret only with its legal ground (OSL 30 kap. 23 §), which the case asks for in Swedish.
        ruling = {"section": section, "secret": True, "reason": "Uppgifterna skulle skada företagen om de röjdes."}
        assert "lagrum" in await case.refused(case.officer, "record-secrecy-review", {"rulings": [ruling]}, 409)
        rulings = [ruling | {"legal_ground": LEGAL_GROUND}]
        # The officer's reading of the secret part is in the log the auditor reads.
        assert await case.secret_readings() == [("anna", "officer")]
    else:
        assert view["secret_sections"] == []
    receipt = await case.act(case.officer, "record-secrecy-review", {"rulings": rulings})
    assert (receipt["action"], receipt["stage"]) == ("RecordSecrecyReview", "assessment")
    await case.settled()
    view = await case.staff_view(case.officer)
    assert view["secrecy"]["reviewed_by"] == "anna"
    if section:
        assert view["secret_sections"][0]["ruling"]["legal_ground"] == LEGAL_GROUND
        assert await case.secret_readings() == [("anna", "officer"), ("anna", "officer")]
    else:
        assert await case.secret_readings() == []  # nothing marked: no reading to log

    # The public, signed in as no one, asks for the application: it is released at once, as the review left it.
    asked = await case.api.http.post("/records-requests", json={"case_number": case.number, "document": "application"})
    assert asked.status_code == 201, asked.text
    answer = asked.json()
    public = answer["public_version"]
    assert answer["status"] == "released" and public["project"]["title"] == view["application"]["project"]["title"]
    if section:
        assert public["descriptions"]["challenge"] == f"[Sekretess enligt {LEGAL_GROUND}]"
        assert section in answer["secrecy_note"]  # with the right to a written decision on what was withheld
    else:
        assert answer["secrecy_note"] is None


async def assessed(case: Case) -> None:
    """The officer declares no conflict of interest and scores every applicable criterion."""
    criteria = [c["id"] for c in (await case.staff_view(case.officer))["criteria"]]
    scores = [{"criterion": c, "score": 4, "motivation": f"Ansökan svarar väl mot kriteriet {c}."} for c in criteria]
    # Scoring comes after the declaration (FL 16–18 §§).
    assert "jäv" in await case.refused(case.officer, "score", {"scores": scores}, 409)
    await case.act(case.officer, "declare-no-conflict")
    receipt = await case.act(case.officer, "score", {"scores": scores})
    assert receipt["action"] == "ScoreApplication" and receipt["stage"] == "assessment"
    await case.settled()
    assessment = (await case.staff_view(case.decision_maker))["assessment"]
    assert assessment["assessor"] == "anna" and assessment["total"] == 4 * len(criteria)
    assert (await case.applicant_view())["stage"] == "assessment"  # and no score (applicant_view checks)


async def decided(case: Case) -> None:
    """The officer prepares the approval; neither the officer, nor finance, nor the assessor acting as
    decision maker may decide it; the decision maker, having declared, does."""
    approval = {"kind": "approve", "amount": case.plan.granted, "period_start": today(),
                "period_end": days_from_today(60), "final_report_due": days_from_today(90),
                "conditions": ["Slutrapport lämnas senast det datum som anges i beslutet."]}
    receipt = await case.act(case.officer, "prepare-decision", approval)
    assert receipt["stage"] == "decision"

    # Deciding is the decision maker's: the route refuses other roles outright.
    await case.refused(case.officer, "decide", None, 403)
    await case.refused(case.finance, "decide", None, 403)
    # Four eyes: the assessor may not decide, whichever role she signs in with; the case says why.
    anna_deciding = case.api.token("decision_maker", "anna")
    assert "fyraögonsprincipen" in await case.refused(anna_deciding, "decide", None, 409)
    # The decision maker declares no conflict of interest first.
    assert "jäv" in await case.refused(case.decision_maker, "decide", None, 409)
    await case.act(case.decision_maker, "declare-no-conflict")
    receipt = await case.act(case.decision_maker, "decide")
    assert receipt["stage"] == "payments" and "bifall" in receipt["message"]
    await case.settled()

    staff = await case.staff_view(case.auditor)
    assert (staff["decision"]["decided_by"], staff["decision"]["prepared_by"]) == ("bo", "anna")
    assert staff["outcome"] == "approved" and D(staff["granted"]) == D(case.plan.granted)
    mine = await case.applicant_view()
    assert mine["stage"] == "payments" and mine["outcome"] == "approved"
    assert D(mine["decision"]["amount"]) == D(case.plan.granted)
    assert mine["decision"]["final_report_due"] == days_from_today(90)
    assert "decision_approved" in [letter["kind"] for letter in mine["letters"]]
    listed = await case.my_case()
    assert (listed["stage"], listed["outcome"], D(listed["granted_amount"])) == (
        "payments", "approved", D(case.plan.granted))
    await case.nothing_for_outsiders()


async def paid_on_request(case: Case) -> None:
    """The project period has passed: the applicant files a payment request, the officer approves it,
    and the payout waits for finance."""
    await case.api.harness.fast_forward(case.number, timedelta(days=61))
    personnel, services = case.plan.request_costs
    claimed = D(personnel) + D(services)
    request = {"request": {
        "period_start": today(), "period_end": days_from_today(60),
        "costs": [cost("personnel", personnel, "V1"), cost("external_services", services, "V2")],
        "requested": case.plan.first_payout, "cofinancing_received": "50000.00",
        "progress_report": "Tolv företag har fått stöd enligt projektplanen.", "payee_bankgiro": BANKGIRO,
    }}
    # Only the applicant files; only the officer reviews.
    await case.refused(case.officer, "file-payment-request", request, 403)
    receipt = await case.act(case.applicant, "file-payment-request", request)
    assert receipt["action"] == "FilePaymentRequest"
    review = {"request_number": 1, "costs": [{"approved": personnel}, {"approved": services}]}
    await case.refused(case.applicant, "review-payment-request", review, 403)
    await case.refused(case.finance, "review-payment-request", review, 403)
    receipt = await case.act(case.officer, "review-payment-request", review)
    assert receipt["action"] == "ReviewPaymentRequest" and "betalas ut" in receipt["message"]
    await case.settled()

    [paid] = (await case.applicant_view())["payments"]["requests"]
    assert D(paid["approved_costs"]) == claimed and D(paid["payable"]) == D(case.plan.first_payout)
    staff = await case.staff_view(case.officer)
    assert [(p["request_number"], p["kind"], D(p["amount"])) for p in staff["payouts"]] == [
        (1, "payment", D(case.plan.first_payout))]


async def sent_to_the_bank(case: Case, request_number: int, amount: str) -> None:
    """Finance puts the waiting payout into a bank file and downloads it; the officer may not."""
    waiting = await eventually(lambda: case.payouts(case.finance, "waiting"))
    assert [(r["request_number"], D(r["amount"]), r["bank_file_id"]) for r in waiting] == [
        (request_number, D(amount), None)]
    assert (await case.request(case.officer, "GET", "/payouts")).status_code == 403
    assert (await case.request(case.officer, "POST", "/bank-files")).status_code == 403
    assert (await case.request(case.auditor, "POST", "/bank-files")).status_code == 403
    # Finance reads the case the payout belongs to, as all staff do.
    ledger = (await case.staff_view(case.finance))["payouts"]
    assert (request_number, D(amount)) in [(p["request_number"], D(p["amount"])) for p in ledger]

    created = await case.request(case.finance, "POST", "/bank-files")
    assert created.status_code == 201, created.text
    bank_file = created.json()
    assert (bank_file["transactions"], D(bank_file["control_sum"])) == (1, D(amount))
    assert await case.payouts(case.finance, "waiting") == []
    sent = await case.payouts(case.auditor, "in_bank_file")
    assert [r["bank_file_id"] for r in sent if r["request_number"] == request_number] == [bank_file["id"]]

    assert (await case.request(case.officer, "GET", bank_file["href"])).status_code == 403
    assert (await case.request(case.applicant, "GET", bank_file["href"])).status_code == 403
    download = await case.request(case.finance, "GET", bank_file["href"])
    assert download.status_code == 200 and download.headers["content-type"].startswith("application/xml")
    assert schema_errors(download.text) == []
    transfer = ET.fromstring(download.content).find("p:CstmrCdtTrfInitn/p:PmtInf/p:CdtTrfTxInf", {"p": PAIN_001})
    assert transfer is not None
    assert transfer.findtext("p:PmtId/p:EndToEndId", namespaces={"p": PAIN_001}) == f"{case.number}-{request_number}"
    assert D(transfer.findtext("p:Amt/p:InstdAmt", namespaces={"p": PAIN_001}) or "") == D(amount)
    # The auditor reads the same file.
    assert (await case.request(case.auditor, "GET", bank_file["href"])).content == download.content


async def final_report_reviewed(case: Case) -> None:
    """The applicant reports; the officer approves the final costs; the rest of the grant is paid."""
    report = {"report": {
        "results": "Projektet nådde sina mål.",
        "goals": [{"goal": "Fler företag med en plan", "result": "Åtta företag har en plan och nya kunder."}],
        "companies_reached": 8, "companies_women": 3, "companies_men": 5,
        "costs": [cost("personnel", case.plan.final_costs, "V3")], "cofinancing_received_total": "140000.00",
    }}
    await case.refused(case.officer, "submit-final-report", report, 403)
    receipt = await case.act(case.applicant, "submit-final-report", report)
    assert receipt["stage"] == "final_report"
    await case.settled()
    assert (await case.my_case())["stage"] == "final_report"

    review = {"costs": [{"approved": case.plan.final_costs}],
              "assessment": "Målen är uppnådda och kostnaderna styrkta."}
    await case.refused(case.applicant, "review-final-report", review, 403)
    receipt = await case.act(case.officer, "review-final-report", review)
    assert receipt["action"] == "ReviewFinalReport"
    assert f"slutligt stöd {kronor(case.plan.granted)}" in receipt["message"]


async def closed(case: Case) -> None:
    """Once the final payout is made the case closes: everyone still reads it, nobody changes it."""
    await case.api.harness.handle(case.number).result()  # the case's workflow has ended
    staff = await case.staff_view(case.officer)
    assert (staff["stage"], staff["outcome"]) == ("closed", "approved")
    paid = sum(D(p["amount"]) for p in staff["payments"]["payouts"] if p["paid_at"])
    assert paid == D(case.plan.granted) and staff["deadlines"] == []
    assert staff["history"][-1]["kind"] == "closed"

    mine = await case.applicant_view()
    assert (mine["stage"], mine["outcome"]) == ("closed", "approved")
    assert D(mine["payments"]["final_grant"]) == D(case.plan.granted)
    assert [(p["number"], p["kind"], D(p["amount"])) for p in mine["payments"]["payouts"]] == [
        (1, "payment", D(case.plan.first_payout)), (2, "final", D(case.plan.final_payout))]
    assert (await case.my_case())["stage"] == "closed"
    assert [letter["kind"] for letter in mine["letters"]][-1] == "case_closed"

    history = await case.read(case.auditor, f"/cases/{case.number}/history")
    kinds = [e["kind"] for e in history["events"]]
    assert {"RecordSecrecyReview", "ScoreApplication", "Decide", "FilePaymentRequest", "ReviewPaymentRequest",
            "SubmitFinalReport", "ReviewFinalReport"} <= set(kinds) and kinds[-1] == "closed"
    actors = {(e["kind"], e["actor_id"], e["actor_role"]) for e in history["events"]}
    assert {("ScoreApplication", "anna", "officer"), ("Decide", "bo", "decision_maker"),
            ("FilePaymentRequest", "sokanden", "applicant"), ("ReviewFinalReport", "anna", "officer")} <= actors

    # The auditor's story of the case: the recorded history and the register together, nothing disagreeing.
    story = await case.read(case.auditor, f"/cases/{case.number}/story")
    assert (story["source"], story["stage"], story["findings"]) == ("temporal", "closed", [])
    assert [s["text"].split(":")[0] for s in story["steps"] if s["kind"] == "payout"] == [
        "Utbetalning nr 1 (utbetalning)", "Utbetalning nr 2 (slutbetalning)"]
    assert {("Decide", "bo", "both"), ("ReviewFinalReport", "anna", "both")} <= {
        (s["kind"], s["actor_id"], s["origin"]) for s in story["steps"]}
    assert (await case.request(case.officer, "GET", f"/cases/{case.number}/story")).status_code == 403

    # A closed case takes no more actions: the case's own answer, in Swedish.
    detail = await case.refused(case.applicant, "withdraw", {"reason": "För sent."}, 409)
    assert detail == "Ärendet är avslutat och kan inte ändras."
    await case.nothing_for_outsiders()


# --- the two cases ---------------------------------------------------------------------------------


async def test_an_export_samverkan_2021_case_goes_from_submission_to_closed(api: Api) -> None:
    case = await submitted(api, EXPORT_2021)
    await secrecy_reviewed(case)
    await assessed(case)
    await decided(case)
    await paid_on_request(case)
    await sent_to_the_bank(case, 1, EXPORT_2021.first_payout)
    await final_report_reviewed(case)
    await closed(case)
    await sent_to_the_bank(case, 2, EXPORT_2021.final_payout)


async def test_a_saker_digitalisering_2022_case_with_a_secret_section_goes_from_submission_to_closed(
        api: Api) -> None:
    case = await submitted(api, DIGITAL_2022)
    await secrecy_reviewed(case)
    await assessed(case)
    await decided(case)
    await paid_on_request(case)
    await sent_to_the_bank(case, 1, DIGITAL_2022.first_payout)
    await final_report_reviewed(case)
    await closed(case)
    await sent_to_the_bank(case, 2, DIGITAL_2022.final_payout)
    # Every staff reading of the whole case showed the secret part, and each one is in the log.
    readers = {reader for reader, _ in await case.secret_readings()}
    assert readers == {"anna", "bo", "revisor", "fia"}


# --- small things ----------------------------------------------------------------------------------


def cost(cost_type: str, amount: str, voucher: str) -> dict[str, Any]:
    return {"cost_type": cost_type, "description": f"{cost_type} enligt verifikation {voucher}", "amount": amount,
            "vouchers": [voucher]}


def kronor(amount: str) -> str:
    """As the case writes an amount: "400 000 kr" with non-breaking spaces."""
    return "\u00a0".join(f"{int(D(amount)):,}".split(",")) + "\u00a0kr"


async def eventually(read: Callable[[], Any]) -> Any:
    """What `read` returns once it is not empty: the worker's payout activity writes the ledger."""
    for _ in range(100):
        if found := await read():
            return found
        await asyncio.sleep(0.05)  # polling for the worker, not waiting for a timer
    raise AssertionError("nothing came")
