"""The officers' web pages in a real browser: Debian's chromium driven by Playwright, over uvicorn serving
the API (and its pages) on a loopback port, over the real Temporal dev server, worker and PostgreSQL.

`web.browser_page()` opens a fresh browser context (its own cookies: one person signed in); `web.sign_in`
signs in as a person with a development token, through the sign-in form as anyone would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.api.conftest import Api, serve_api
from tests.api.test_schemathesis import _serve

HERE = Path(__file__).parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("GRANTFLOW_CHROMIUM", "/usr/bin/chromium")
# Each browser test module marks its tests with this: they run in the loop the session's browser lives in.
IN_THE_BROWSERS_LOOP = pytest.mark.asyncio(loop_scope="session")
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 60_000  # a loaded CI machine: a page with a Temporal update behind it may take a while


def _axe() -> Path:
    """axe-core from the npm registry, as package-lock.json pins it (`npm ci` when it is not there yet)."""
    if not AXE.exists():
        if shutil.which("npm") is None:
            pytest.fail("npm is needed to install axe-core for the accessibility check (apt-get install npm)")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=600)
    return AXE


@dataclass
class Web:
    api: Api
    base_url: str
    browser: Any
    contexts: list[Any] = field(default_factory=list)

    async def browser_page(self) -> Any:
        context = await self.browser.new_context(base_url=self.base_url, locale="sv-SE",
                                                 viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        return await context.new_page()

    async def sign_in(self, role: str, person: str, page: Any | None = None) -> Any:
        """A page signed in as `person` in `role`, at the inbox."""
        page = page or await self.browser_page()
        token = self.api.token(role, person)
        await page.goto("/logga-in")
        await page.get_by_label("Token").fill(token)
        await page.get_by_role("button", name="Logga in").click()
        await page.wait_for_url("**/")
        return page

    async def axe(self, page: Any) -> list[dict[str, Any]]:
        """The serious and critical violations axe-core finds on the page (WCAG 2.0/2.1 A and AA rules)."""
        await page.add_script_tag(path=str(_axe()))
        result = await page.evaluate(
            "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
            "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})")
        return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
                 "nodes": [n["target"] for n in v["nodes"]][:5]}
                for v in result["violations"] if v["impact"] in ("serious", "critical")]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium() -> AsyncIterator[Any]:
    """One headless chromium for the whole session (each test opens contexts of its own in it)."""
    from playwright.async_api import async_playwright, expect

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no chromium at {CHROMIUM}: apt-get install chromium (or set GRANTFLOW_CHROMIUM)")
    expect.set_options(timeout=TIMEOUT_MS)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            await browser.close()


async def launched(api: Api, browser: Any) -> AsyncIterator[Web]:
    """The app served by uvicorn, and the browser to visit it with."""
    server, serving, base_url = await _serve(api)
    served = Web(api=api, base_url=base_url, browser=browser)
    try:
        yield served
    finally:
        for context in served.contexts:
            await context.close()
        server.should_exit = True
        await serving


# The browser tests run in the session's event loop, where the browser lives (pytestmark in each module).
@pytest_asyncio.fixture(loop_scope="session")
async def web(db: str, chromium: Any) -> AsyncIterator[Web]:
    async for api in serve_api(db):
        async for served in launched(api, chromium):
            yield served
