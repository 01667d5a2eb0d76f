"""WCAG 2.1 AA on the pages officers use most, by axe-core in the browser; and the README's screenshots.

axe-core (from the npm registry, pinned by tests/web/package-lock.json) runs in the page itself and
must find no serious or critical violation on the sign-in page, the inbox, a case page and a call's
overview. The same pages are photographed for the README: a screenshot is written only when it differs
from the one in docs/screenshots/, and a difference never fails the test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.api.test_a_case_over_http import DIGITAL_2022, EXPORT_2021
from tests.web.conftest import IN_THE_BROWSERS_LOOP, Web
from tests.web.test_officers_in_a_browser import open_case_from_inbox, press, submitted

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = IN_THE_BROWSERS_LOOP


async def no_serious_violations(web: Web, page: Any, what: str) -> None:
    found = await web.axe(page)
    assert found == [], f"axe-core on {what}: {found}"


async def keep(page: Any, name: str) -> None:
    """Write the screenshot when it differs from the one kept (pixels change with dates: never a failure)."""
    shot: bytes = await page.screenshot(full_page=False)
    target = SCREENSHOTS / name
    if not target.exists() or target.read_bytes() != shot:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target.write_bytes(shot)


async def test_the_main_pages_have_no_serious_accessibility_violation_and_are_photographed(web: Web) -> None:
    await submitted(web, EXPORT_2021)
    number, _ = await submitted(web, DIGITAL_2022)

    page = await web.browser_page()
    await page.goto("/logga-in")
    await expect(page.locator("html")).to_have_attribute("lang", "sv")
    await no_serious_violations(web, page, "the sign-in page")
    # A wrong token is refused on the page, in Swedish, and the person stays signed out.
    await page.get_by_label("Token").fill("gf_inte-en-riktig-token")
    await press(page, page.get_by_role("button", name="Logga in"))
    await expect(page.get_by_role("alert")).to_contain_text("Token")
    await no_serious_violations(web, page, "the sign-in page with its error")

    page = await web.sign_in("officer", "anna", page)
    await expect(page.get_by_role("row").filter(has_text=number)).to_be_visible()
    await no_serious_violations(web, page, "the inbox")
    await keep(page, "inbox.png")

    # The keyboard reaches the skip link first, and it shows where the focus is.
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Hoppa till innehållet")).to_be_focused()

    await open_case_from_inbox(page, number)
    await expect(page.get_by_test_id("secret-section")).to_be_visible()
    await no_serious_violations(web, page, "a case page")
    await keep(page, "case.png")

    await page.get_by_role("link", name="Utlysningar").click()
    await page.get_by_role("link").filter(has_text="Säker digitalisering").first.click()
    await expect(page.locator("svg[role=img]")).to_be_visible()
    await no_serious_violations(web, page, "a call's overview")
