"""The forms the full walk-throughs do not reach, in a real browser: revocation and reclaim, a repayment,
assigning a case, a completion request whose reply is overdue in the inbox, and the inbox's team view.

As in test_officers_in_a_browser, staff click and type; the steps before the ones under test, and the
applicant's replies, go through the harness, with the people the pages sign in as (anna, bo, ...).
Time moves only under the test's hand: `fast_forward` for the case, `web.api.clock` for the inbox.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

from playwright.async_api import expect

from domain.lifecycle import Stage
from tests.factories import application_2021
from tests.web.conftest import IN_THE_BROWSERS_LOOP, Web
from tests.web.test_officers_in_a_browser import kr, open_case_from_inbox, press, sign_out
from tests.workflows.test_after_decision import granted_case, today
from tests.workflows.test_case_workflow import APPLICANT, assess

pytestmark = IN_THE_BROWSERS_LOOP


def amount(text: str) -> Decimal:
    """An amount as the pages write it (400 000,00 kr) as a Decimal."""
    return Decimal(text.replace("\u00a0", "").replace(" ", "").removesuffix("kr").replace(",", "."))


def inbox_row(page: Any, number: str) -> Any:
    return page.get_by_role("row").filter(has=page.get_by_role("link", name=number, exact=True))


async def test_a_revocation_and_reclaim_are_decided_and_finance_registers_the_repayments(web: Web) -> None:
    harness = web.api.harness
    # Granted 400 000 kr with an advance of 100 000 kr paid out (the harness: anna assessed, bo decided).
    number, _ = await granted_case(harness, advance="100000.00")
    await harness.settled(number)

    # The officer prepares a partial revocation: 350 000 kr of the grant, with her reasons.
    page = await web.sign_in("officer", "anna")
    await open_case_from_inbox(page, number)
    await expect(page.get_by_test_id("stage")).to_have_text("Utbetalning")
    revocation = page.locator("#atgard-prepare-revocation")
    await revocation.get_by_label("Belopp som återkallas (kr)").fill("350000")
    await revocation.get_by_label("Skäl").fill("Projektet genomförs inte som beslutat: aktiviteterna är strukna.")
    await press(page, revocation.get_by_role("button", name="Förbered återkallelse"))
    await expect(page.get_by_test_id("receipt")).to_be_visible()
    await expect(page.get_by_test_id("revocation")).to_contain_text(kr("350000"))
    await expect(page.get_by_test_id("revocation")).to_contain_text("inte beslutat")
    # Revoking is not the officer's.
    await expect(page.locator("#atgard-revoke")).to_have_count(0)
    await sign_out(page)

    # The applicant is heard (FL 25 §) and replies; the decision maker revokes.
    await harness.act(number, "reply-to-communication", APPLICANT, text="Vi har strukit aktiviteterna av goda skäl.")
    page = await web.sign_in("decision_maker", "bo", page)
    await open_case_from_inbox(page, number)
    await press(page, page.locator("#atgard-revoke").get_by_role("button", name="Återkalla beslutet"))
    await expect(page.get_by_test_id("stage")).to_have_text("Återkrav")
    await expect(page.get_by_test_id("granted")).to_have_text(kr("50000"))
    await expect(page.get_by_test_id("revocation")).to_contain_text("beslutat")
    await expect(page.get_by_test_id("revocation")).to_contain_text("av bo")
    # 100 000 kr paid, 50 000 kr granted now: 50 000 kr to pay back.
    await expect(page.get_by_test_id("reclaim")).to_contain_text(f"Föreslaget återkrav {kr('50000')}")
    await sign_out(page)

    # The officer prepares the reclaim; the applicant replies; the decision maker decides it.
    page = await web.sign_in("officer", "anna", page)
    await open_case_from_inbox(page, number)
    reclaim = page.locator("#atgard-prepare-reclaim")
    await reclaim.get_by_label("Belopp (kr)").fill("50000,00")
    await reclaim.get_by_label("Skäl").fill("Beslutet har återkallats delvis; förskottet överstiger stödet.")
    await reclaim.get_by_label("Betalningsfrist i dagar").fill("30")
    await press(page, reclaim.get_by_role("button", name="Förbered återkrav"))
    await expect(page.get_by_test_id("reclaim")).to_contain_text(f"Förberett {kr('50000')} av anna")
    await expect(page.locator("#atgard-decide-reclaim")).to_have_count(0)
    await sign_out(page)
    await harness.act(number, "reply-to-communication", APPLICANT, text="Vi betalar tillbaka.")
    page = await web.sign_in("decision_maker", "bo", page)
    await open_case_from_inbox(page, number)
    await press(page, page.locator("#atgard-decide-reclaim").get_by_role("button", name="Besluta om återkrav"))
    await expect(page.get_by_test_id("reclaim")).to_contain_text(f"av bo: {kr('50000')}")
    await harness.settled(number)  # the case reads the reference rates its balance needs right after
    await page.reload()
    await expect(page.get_by_test_id("principal-left")).to_have_text(kr("50000"))
    await expect(page.get_by_test_id("repayments")).to_contain_text("Inga återbetalningar ännu.")
    await sign_out(page)

    # Finance registers a part payment, then the rest: the balance follows, and the paid claim closes the case.
    page = await web.sign_in("finance", "fia", page)
    paid_on = today().isoformat()  # once: past midnight a later day would owe a day's more interest
    await open_case_from_inbox(page, number)
    repayment = page.locator("#atgard-register-repayment")
    await repayment.get_by_label("Belopp (kr)").fill("20000")
    await repayment.get_by_label("Betalt den").fill(paid_on)
    await press(page, repayment.get_by_role("button", name="Registrera återbetalning"))
    await expect(page.get_by_test_id("receipt")).to_be_visible()
    await expect(page.get_by_test_id("repayments")).to_contain_text(f"{paid_on}: {kr('20000')}")
    await expect(page.get_by_test_id("stage")).to_have_text("Återkrav")
    rest = amount(await page.get_by_test_id("total-due").inner_text())
    assert Decimal("30000") <= rest < Decimal("31000"), rest  # the principal left, and any interest so far
    repayment = page.locator("#atgard-register-repayment")
    await repayment.get_by_label("Belopp (kr)").fill(str(rest))
    await repayment.get_by_label("Betalt den").fill(paid_on)
    await press(page, repayment.get_by_role("button", name="Registrera återbetalning"))
    await expect(page.get_by_test_id("receipt")).to_be_visible()
    await asyncio.wait_for(harness.handle(number).result(), 120)  # the case's workflow has ended
    await harness.settled(number)
    await page.reload()
    await expect(page.get_by_test_id("stage")).to_have_text("Avslutad")
    await expect(page.locator("section.action")).to_have_count(0)
    for step in ("anna (handläggare)", "bo (beslutsfattare)", "fia (ekonomi)"):
        await expect(page.get_by_test_id("history")).to_contain_text(step)


async def _in_secrecy_review(web: Web) -> str:
    harness = web.api.harness
    call, days = harness.call("export-samverkan-2021")
    number = await harness.submit(harness.application(application_2021(), call, days))
    assert (await harness.settled(number)).stage is Stage.SECRECY_REVIEW
    return number


async def test_an_administrator_assigns_a_case_and_the_team_inbox_shows_the_teams_cases(web: Web) -> None:
    api = web.api
    admin = api.token("administrator", "ada")
    for person in ("anna", "erik"):
        assert (await api.as_(admin, "PUT", f"/teams/handlaggning-norr/members/{person}")).status_code == 200
    to_erik, to_anna, to_kim = [await _in_secrecy_review(web) for _ in range(3)]
    await api.harness.act(to_anna, "assign", "administrator:ada", officer="anna")
    await api.harness.act(to_kim, "assign", "administrator:ada", officer="kim")

    # The administrator assigns a case to erik on its page.
    page = await web.sign_in("administrator", "ada")
    await open_case_from_inbox(page, to_erik)
    summary = page.locator("dl.summary")
    await expect(summary).to_contain_text("Handläggare–")
    assign = page.locator("#atgard-assign")
    await assign.get_by_label("Handläggare (användar-id)").fill("erik")
    await press(page, assign.get_by_role("button", name="Tilldela handläggare"))
    await expect(page.get_by_test_id("receipt")).to_contain_text("erik")
    await expect(summary).to_contain_text("Handläggareerik")
    for number in (to_erik, to_anna, to_kim):
        await api.harness.settled(number)  # the register (the history, the inbox) follows the answer
    await page.reload()
    await expect(page.get_by_test_id("history")).to_contain_text("ada (administratör)")
    await sign_out(page)

    # anna: her own cases, her team's (hers and erik's), or all; the views work from the keyboard.
    page = await web.sign_in("officer", "anna", page)
    views = page.get_by_role("navigation", name="Vilka ärenden")
    await expect(views.get_by_role("link", name="Alla")).to_have_attribute("aria-current", "page")
    for number in (to_erik, to_anna, to_kim):
        await expect(inbox_row(page, number)).to_be_visible()

    await views.get_by_role("link", name="Mina ärenden").focus()
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await expect(views.get_by_role("link", name="Mina ärenden")).to_have_attribute("aria-current", "page")
    await expect(inbox_row(page, to_anna)).to_contain_text("anna")
    await expect(inbox_row(page, to_erik)).to_have_count(0)
    await expect(inbox_row(page, to_kim)).to_have_count(0)

    await views.get_by_role("link", name="Mitt teams ärenden").focus()
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await expect(views.get_by_role("link", name="Mitt teams ärenden")).to_have_attribute("aria-current", "page")
    await expect(inbox_row(page, to_erik)).to_contain_text("erik")
    await expect(inbox_row(page, to_anna)).to_be_visible()
    await expect(inbox_row(page, to_kim)).to_have_count(0)
    await expect(page.get_by_role("list").filter(has_text="Sekretessprövning:")).to_contain_text(
        re.compile(r"Sekretessprövning:\s*2\b"))
    # A filter keeps the view it was chosen in.
    await page.get_by_label("Steg").select_option(label="Sekretessprövning")
    await press(page, page.get_by_role("button", name="Visa"))
    await expect(views.get_by_role("link", name="Mitt teams ärenden")).to_have_attribute("aria-current", "page")
    await expect(inbox_row(page, to_kim)).to_have_count(0)
    await expect(inbox_row(page, to_erik)).to_be_visible()
    assert await web.axe(page) == []


async def test_a_completion_reply_past_its_deadline_stands_out_in_the_inbox(web: Web) -> None:
    harness = web.api.harness
    call, days = harness.call("export-samverkan-2021")
    incomplete = application_2021()
    incomplete["co_applicants"] = []
    number = await harness.submit(harness.application(incomplete, call, days))
    await harness.settled(number)

    # The officer asks for what is missing, with 14 days to reply.
    page = await web.sign_in("officer", "anna")
    await open_case_from_inbox(page, number)
    await expect(page.get_by_test_id("stage")).to_have_text("Komplettering och behörighet")
    completion = page.locator("#atgard-request-completion")
    await completion.get_by_label("Vad som saknas (en uppgift per rad)").fill("En medsökande aktör\nBudget per år")
    await completion.get_by_label("Svarstid i dagar").fill("14")
    await press(page, completion.get_by_role("button", name="Begär komplettering"))
    await expect(page.get_by_test_id("receipt")).to_be_visible()
    await harness.settled(number)
    await page.goto("/")
    row = inbox_row(page, number)
    await expect(row).to_contain_text("Svar på begäran om komplettering")
    await expect(row).not_to_contain_text("Försenad")
    await expect(row).not_to_have_class("overdue")

    # Fifteen days pass, for the case and for the inbox, without a reply.
    await harness.fast_forward(number, timedelta(days=15))
    web.api.clock.advance(timedelta(days=15))
    await harness.settled(number)
    await page.reload()
    await expect(row).to_have_class("overdue")
    await expect(row.locator("strong.late")).to_have_text("Försenad")  # in words, not only in colour
    await page.get_by_label("Bara försenade").check()
    await press(page, page.get_by_role("button", name="Visa"))
    await expect(row).to_be_visible()
    await expect(page.get_by_role("heading", name="Ärenden (1)")).to_be_visible()

    # No reply came: the officer proposes to dismiss the application, and a decision maker decides.
    await open_case_from_inbox(page, number)
    prepare = page.locator("#atgard-prepare-decision")
    await prepare.get_by_label("Typ av beslut").select_option(label="Avvisning")
    await prepare.get_by_label("Skäl", exact=True).fill("Ansökan har inte kompletterats inom svarstiden.")
    await press(page, prepare.get_by_role("button", name="Förbered beslut"))
    await expect(page.get_by_test_id("stage")).to_have_text("Beslut")
    await sign_out(page)
    page = await web.sign_in("decision_maker", "bo", page)
    await open_case_from_inbox(page, number)
    await press(page, page.locator("#atgard-declare-no-conflict").get_by_role("button"))
    await press(page, page.locator("#atgard-decide").get_by_role("button", name="Fatta beslut"))
    await expect(page.get_by_test_id("outcome")).to_have_text("Avvisning")
    await expect(page.get_by_test_id("decision")).to_contain_text("av bo (förberett av anna)")


async def test_a_rejection_on_material_the_applicant_has_not_seen_is_communicated_before_it_is_decided(
        web: Web) -> None:
    harness = web.api.harness
    number = await _in_secrecy_review(web)
    await assess(harness, number)  # anna assessed it; bo has declared no conflict of interest

    # The officer prepares a rejection resting on a statement the applicant has not seen, and sends it.
    page = await web.sign_in("officer", "anna")
    await open_case_from_inbox(page, number)
    prepare = page.locator("#atgard-prepare-decision")
    await prepare.get_by_label("Typ av beslut").select_option(label="Avslag")
    await prepare.get_by_label("Skäl", exact=True).fill("Projektet bidrar svagt till utlysningens mål.")
    await prepare.get_by_label("Underlag som sökanden inte har sett (FL 25 §)").fill(
        "Yttrande från Region Exempel om projektets förankring.")
    await press(page, prepare.get_by_role("button", name="Förbered beslut"))
    await expect(page.get_by_test_id("stage")).to_have_text("Beslut")
    communicate = page.locator("#atgard-communicate")
    await expect(communicate).to_contain_text("FL 25 §")
    await communicate.get_by_label("Svarstid i dagar").fill("21")
    await press(page, communicate.get_by_role("button", name="Kommunicera före beslut"))
    await expect(page.get_by_test_id("receipt")).to_be_visible()
    await harness.settled(number)
    await page.reload()
    await expect(page.locator("ul.deadlines")).to_contain_text("Svar på kommunicering")
    await sign_out(page)

    # The decision maker may not decide while the applicant may still reply: the case says why.
    page = await web.sign_in("decision_maker", "bo", page)
    await open_case_from_inbox(page, number)
    await press(page, page.locator("#atgard-decide").get_by_role("button", name="Fatta beslut"))
    await expect(page.locator("#atgard-decide").get_by_test_id("refusal")).to_contain_text("svarstid")
    await expect(page.get_by_test_id("stage")).to_have_text("Beslut")

    # The applicant replies; now the decision is taken, and the letters tell the story.
    await harness.act(number, "reply-to-communication", APPLICANT, text="Vi har förankrat projektet brett.")
    await open_case_from_inbox(page, number)  # not a reload: the page shown answers the refused POST
    await press(page, page.locator("#atgard-decide").get_by_role("button", name="Fatta beslut"))
    await expect(page.get_by_test_id("outcome")).to_have_text("Avslag")
    await harness.settled(number)
    await page.reload()
    letters = page.get_by_role("heading", name="Brev").locator("xpath=following-sibling::details")
    await expect(letters).to_have_count(3)  # the receipt, the communication, the decision
