"""WCAG 2.1 AA on the pages officers use most, by axe-core in the browser; and the README's screenshots.

axe-core (from the npm registry, pinned by tests/web/package-lock.json) runs in the page itself and
must find no serious or critical violation on the sign-in page, the inbox, a case page and a call's
overview. The same pages are photographed for the README: into docs/screenshots/ only with
GRANTFLOW_UPDATE_SCREENSHOTS=1, otherwise into the test's temporary directory.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.api.test_a_case_over_http import DIGITAL_2022, EXPORT_2021
from tests.web.conftest import IN_THE_BROWSERS_LOOP, VIEWPORT, Web
from tests.web.test_officers_in_a_browser import open_case_from_inbox, press, submitted

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = IN_THE_BROWSERS_LOOP


async def no_serious_violations(web: Web, page: Any, what: str) -> None:
    found = await web.axe(page)
    assert found == [], f"axe-core on {what}: {found}"


async def keep(page: Any, name: str, where: Path) -> None:
    """Photograph the page into `where`: docs/screenshots/ only when GRANTFLOW_UPDATE_SCREENSHOTS=1 (dates on
    the pages change the pixels every run, and a test run must not rewrite tracked files)."""
    shot: bytes = await page.screenshot(full_page=False)
    target = (SCREENSHOTS if os.environ.get("GRANTFLOW_UPDATE_SCREENSHOTS") == "1" else where) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(shot)
    # A PNG of the browser's viewport: signature, then IHDR's width and height.
    written = target.read_bytes()
    assert written[:8] == b"\x89PNG\r\n\x1a\n" and len(written) > 1000, name
    assert struct.unpack(">II", written[16:24]) == (VIEWPORT["width"], VIEWPORT["height"]), name


async def test_the_main_pages_have_no_serious_accessibility_violation_and_are_photographed(web: Web,
                                                                                          tmp_path: Path) -> None:
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
    await keep(page, "inbox.png", tmp_path)

    # The keyboard reaches the skip link first, and it shows where the focus is.
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Hoppa till innehållet")).to_be_focused()

    await open_case_from_inbox(page, number)
    await expect(page.get_by_test_id("secret-section")).to_be_visible()
    await no_serious_violations(web, page, "a case page")
    await keep(page, "case.png", tmp_path)

    await page.get_by_role("link", name="Utlysningar").click()
    await page.get_by_role("link").filter(has_text="Säker digitalisering").first.click()
    await expect(page.locator("svg[role=img]")).to_be_visible()
    await no_serious_violations(web, page, "a call's overview")
