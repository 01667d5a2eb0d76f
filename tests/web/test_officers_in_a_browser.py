"""Officers, a decision maker and finance take a case of each call through the web pages, in a real browser.

The applicant's steps (submitting, the payment request, the final report) go through the API as the
applicant's own service would; everything staff do is clicking and typing on the pages, and after each
step the test reads what the page shows. Only time and waiting use the harness: `fast_forward` moves the
case past its project period, `settled` waits until the register (which the inbox reads) is written.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.api.test_a_case_over_http import DIGITAL_2022, EXPORT_2021, LEGAL_GROUND, Plan, cost, days_from_today, today
from tests.web.conftest import IN_THE_BROWSERS_LOOP, Web

BANKGIRO = "5402-9681"

pytestmark = IN_THE_BROWSERS_LOOP


def kr(amount: str) -> str:
    """As the pages write an amount: 400 000,00 kr, with non-breaking spaces."""
    whole, _, cents = f"{Decimal(amount):,.2f}".partition(".")
    return whole.replace(",", "\u00a0") + "," + cents + "\u00a0kr"


async def submitted(web: Web, plan: Plan) -> tuple[str, str]:
    """The applicant submits through the API; the case number and the applicant's token."""
    api = web.api
    call, days = api.harness.call(plan.seed)
    data = api.harness.application(plan.application(), call, days)
    if plan.secret_section:
        data["secret_sections"] = [{"section": plan.secret_section, "reason": "Kundernas sårbarheter."}]
    applicant = api.token("applicant", f"sokanden-{call.id[-6:]}", org_number=data["applicant"]["org_number"])
    response = await api.as_(applicant, "POST", "/applications", json=data)
    assert response.status_code == 201, response.text
    number: str = response.json()["case_number"]
    await api.harness.settled(number)
    return number, applicant


async def applicant_acts(web: Web, applicant: str, number: str, action: str, body: dict[str, Any]) -> None:
    response = await web.api.as_(applicant, "POST", f"/cases/{number}/actions/{action}", json=body)
    assert response.status_code == 200, response.text


async def open_case_from_inbox(page: Any, number: str) -> None:
    await page.goto("/")
    await page.get_by_role("link", name=number, exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(number)


async def press(page: Any, button: Any) -> None:
    """Send a form and wait for the page that answers it."""
    async with page.expect_navigation():
        await button.click()


async def sign_out(page: Any) -> None:
    await press(page, page.get_by_role("button", name="Logga ut"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Logga in")


async def take_a_case_through(web: Web, plan: Plan) -> None:
    number, applicant = await submitted(web, plan)

    # The officer signs in and finds the case in the inbox, in the secrecy review.
    page = await web.sign_in("officer", "anna")
    await expect(page.get_by_test_id("person")).to_have_text("anna")
    await expect(page.get_by_test_id("role")).to_have_text("handläggare")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=number, exact=True))
    await expect(row).to_contain_text("Sekretessprövning")
    # The filters narrow the list: the case's stage keeps it, an amount above what it asks for does not.
    await page.get_by_label("Steg").select_option(label="Sekretessprövning")
    await press(page, page.get_by_role("button", name="Visa"))
    await expect(row).to_be_visible()
    await expect(page.get_by_role("list").filter(has_text="Sekretessprövning:")).to_be_visible()
    await page.get_by_label("Sökt belopp minst (kr)").fill("99000000")
    await press(page, page.get_by_role("button", name="Visa"))
    await expect(row).to_have_count(0)
    await open_case_from_inbox(page, number)
    await expect(page.get_by_test_id("stage")).to_have_text("Sekretessprövning")

    # Secrecy review, section by section.
    secrecy = page.locator("#atgard-record-secrecy-review")
    if plan.secret_section:
        await expect(page.get_by_test_id("secret-section")).to_contain_text("Sekretessmarkerat")
        await expect(page.get_by_test_id("secret-section")).to_contain_text(plan.secret_section)
        ruling = secrecy.locator("fieldset").first
        await ruling.get_by_label("Beslut").select_option(label="Sekretess gäller")
        await ruling.get_by_label("Lagrum (vid sekretess)").fill(LEGAL_GROUND)
        await ruling.get_by_label("Motivering").fill("Uppgifterna skulle skada företagen om de röjdes.")
    await press(page, secrecy.get_by_role("button", name="Sekretessprövning"))
    await expect(page.get_by_test_id("receipt")).to_be_visible()
    await expect(page.get_by_test_id("stage")).to_have_text("Bedömning")
    if plan.secret_section:
        await expect(page.get_by_test_id("secret-section")).to_contain_text(f"sekretess enligt {LEGAL_GROUND}")

    # The declaration, then a score per criterion.
    await press(page, page.locator("#atgard-declare-no-conflict").get_by_role("button"))
    await expect(page.locator("#atgard-declare-no-conflict")).to_have_count(0)
    scoring = page.locator("#atgard-score")
    criteria = scoring.locator("fieldset")
    count = await criteria.count()
    assert count >= 1
    for i in range(count):
        await criteria.nth(i).get_by_label("Poäng").fill("4")
        await criteria.nth(i).get_by_label("Motivering").fill("Ansökan svarar väl mot kriteriet.")
    await press(page, scoring.get_by_role("button", name="Bedömning per kriterium"))
    await expect(page.get_by_test_id("total")).to_have_text(str(4 * count))

    # The officer prepares the approval.
    prepare = page.locator("#atgard-prepare-decision")
    await prepare.get_by_label("Typ av beslut").select_option(label="Bifall")
    await prepare.get_by_label("Belopp (kr)").fill(plan.granted)
    await prepare.get_by_label("Projektperiodens första dag").fill(today())
    await prepare.get_by_label("Projektperiodens sista dag").fill(days_from_today(60))
    await prepare.get_by_label("Slutrapport senast").fill(days_from_today(90))
    await prepare.get_by_label("Villkor (ett per rad)").fill("Slutrapport lämnas i tid.")
    await press(page, prepare.get_by_role("button", name="Förbered beslut"))
    await expect(page.get_by_test_id("stage")).to_have_text("Beslut")
    # Deciding is not the officer's: no such form for her.
    await expect(page.locator("#atgard-decide")).to_have_count(0)
    await sign_out(page)

    # A second person, the decision maker, declares and decides.
    await web.api.harness.settled(number)
    page = await web.sign_in("decision_maker", "bo", page)
    await expect(page.get_by_test_id("role")).to_have_text("beslutsfattare")
    await open_case_from_inbox(page, number)
    await press(page, page.locator("#atgard-declare-no-conflict").get_by_role("button"))
    await press(page, page.locator("#atgard-decide").get_by_role("button", name="Fatta beslut"))
    await expect(page.get_by_test_id("stage")).to_have_text("Utbetalning")
    await expect(page.get_by_test_id("outcome")).to_have_text("Bifall")
    await expect(page.get_by_test_id("granted")).to_have_text(kr(plan.granted))
    # The call's overview: the case in the ranking with its score, and the grant held in the budget.
    await web.api.harness.settled(number)
    await page.locator("dl.summary").get_by_role("link").click()
    await expect(page.get_by_test_id("ranking")).to_contain_text(number)
    await expect(page.get_by_test_id("ranking").get_by_role("row").filter(has_text=number)).to_contain_text(
        str(4 * count))
    await expect(page.get_by_test_id("granted")).to_have_text(kr(plan.granted))
    await expect(page.locator("svg[role=img] title")).to_contain_text("andel av budgeten")
    await sign_out(page)

    # The project period passes; the applicant asks for a payment.
    await web.api.harness.fast_forward(number, timedelta(days=61))
    personnel, services = plan.request_costs
    await applicant_acts(web, applicant, number, "file-payment-request", {"request": {
        "period_start": today(), "period_end": days_from_today(60),
        "costs": [cost("personnel", personnel, "V1"), cost("external_services", services, "V2")],
        "requested": plan.first_payout, "cofinancing_received": "50000.00",
        "progress_report": "Tolv företag har fått stöd enligt projektplanen.", "payee_bankgiro": BANKGIRO}})

    # The officer reviews it line by line: each claimed amount is there to approve as it stands.
    page = await web.sign_in("officer", "anna", page)
    await open_case_from_inbox(page, number)
    review = page.locator("#atgard-review-payment-request")
    await expect(review.locator("fieldset")).to_have_count(2)
    await expect(review.locator("fieldset").first.get_by_label("Godkänt belopp (kr)")).to_have_value(personnel)
    await press(page, review.get_by_role("button", name="Granska begäran om utbetalning"))
    await expect(page.get_by_test_id("receipt")).to_contain_text("betalas ut")
    await expect(page.get_by_test_id("payouts")).to_contain_text(kr(plan.first_payout))
    await sign_out(page)

    # Finance sees the payout waiting (once the case's outbox has written it), makes the bank file and downloads it.
    await web.api.harness.settled(number)
    page = await web.sign_in("finance", "fia", page)
    await page.get_by_role("link", name="Ekonomi").click()
    waiting = page.get_by_test_id("waiting")
    await expect(waiting).to_contain_text(number)
    await press(page, page.get_by_role("button", name="Skapa bankfil"))
    await expect(page.get_by_role("status")).to_contain_text("Bankfil")
    await expect(waiting).not_to_contain_text(number)
    async with page.expect_download() as downloading:
        await page.get_by_role("link", name="Ladda ner bankfil").first.click()
    download = await downloading.value
    xml = Path(await download.path()).read_text(encoding="utf-8")
    assert f"{number}-1" in xml
    await sign_out(page)

    # The applicant reports; the officer approves the final costs, and the case closes.
    await applicant_acts(web, applicant, number, "submit-final-report", {"report": {
        "results": "Projektet nådde sina mål.",
        "goals": [{"goal": "Fler företag med en plan", "result": "Åtta företag har en plan och nya kunder."}],
        "companies_reached": 8, "companies_women": 3, "companies_men": 5,
        "costs": [cost("personnel", plan.final_costs, "V3")], "cofinancing_received_total": "140000.00"}})
    page = await web.sign_in("officer", "anna", page)
    await open_case_from_inbox(page, number)
    final = page.locator("#atgard-review-final-report")
    await final.get_by_label("Bedömning").fill("Målen är uppnådda och kostnaderna styrkta.")
    await press(page, final.get_by_role("button", name="Granska slutrapporten"))
    await expect(page.get_by_test_id("receipt")).to_contain_text("slutligt stöd")
    await web.api.harness.handle(number).result()  # the case's workflow has ended
    await web.api.harness.settled(number)
    await page.reload()
    await expect(page.get_by_test_id("stage")).to_have_text("Avslutad")
    await expect(page.get_by_test_id("payouts")).to_contain_text(kr(plan.final_payout))
    history = page.get_by_test_id("history")
    for step in ("anna (handläggare)", "bo (beslutsfattare)"):
        await expect(history).to_contain_text(step)
    await expect(page.get_by_role("heading", name="Åtgärder")).to_be_visible()
    await expect(page.locator("section.action")).to_have_count(0)


async def test_an_export_samverkan_2021_case_goes_through_the_pages(web: Web) -> None:
    await take_a_case_through(web, EXPORT_2021)


async def test_a_saker_digitalisering_2022_case_with_a_secret_section_goes_through_the_pages(web: Web) -> None:
    await take_a_case_through(web, DIGITAL_2022)


async def test_a_refused_action_shows_the_cases_reason_beside_the_form_and_keeps_what_was_typed(web: Web) -> None:
    number, _ = await submitted(web, EXPORT_2021)
    page = await web.sign_in("officer", "anna")
    await open_case_from_inbox(page, number)
    await press(page, page.locator("#atgard-record-secrecy-review").get_by_role("button"))
    await expect(page.get_by_test_id("stage")).to_have_text("Bedömning")

    # Scoring before declaring no conflict of interest: the case refuses, and says why, in Swedish.
    scoring = page.locator("#atgard-score")
    criteria = scoring.locator("fieldset")
    for i in range(await criteria.count()):
        await criteria.nth(i).get_by_label("Poäng").fill("3")
        await criteria.nth(i).get_by_label("Motivering").fill("Min motivering som inte får försvinna.")
    first = criteria.first
    await press(page, scoring.get_by_role("button", name="Bedömning per kriterium"))
    scoring = page.locator("#atgard-score")
    await expect(scoring.get_by_test_id("refusal")).to_contain_text("jäv")
    first = scoring.locator("fieldset").first
    await expect(first.get_by_label("Motivering")).to_have_value("Min motivering som inte får försvinna.")
    await expect(first.get_by_label("Poäng")).to_have_value("3")
    await expect(page.get_by_test_id("stage")).to_have_text("Bedömning")



async def test_a_records_request_waits_in_the_queue_and_the_officer_refuses_it_with_its_legal_ground(web: Web) -> None:
    number, _ = await submitted(web, DIGITAL_2022)
    # The public asks for the application before the secrecy review: it waits for an officer.
    asked = await web.api.http.post("/records-requests", json={"case_number": number, "document": "application"})
    assert asked.status_code == 201 and asked.json()["status"] == "pending", asked.text
    await web.api.harness.settled(number)

    page = await web.sign_in("officer", "anna")
    await page.get_by_role("link", name="Allmänna handlingar").click()
    await page.get_by_role("link", name=number, exact=True).click()
    await expect(page.get_by_test_id("records-requests")).to_contain_text("väntar på svar")
    refuse = page.locator("#atgard-refuse-public-document")
    await refuse.get_by_label("Skäl").fill("Ansökan innehåller uppgifter om enskildas affärsförhållanden.")
    await refuse.get_by_label("Lagrum").fill(LEGAL_GROUND)
    await press(page, refuse.get_by_role("button", name="Avslå begäran om allmän handling"))
    await expect(page.get_by_test_id("records-requests")).to_contain_text("avslagen")
    await expect(page.locator("#atgard-refuse-public-document")).to_have_count(0)
