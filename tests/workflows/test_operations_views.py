"""`grantflow up` prints Temporal UI links to the views operations need (issue 18, item 12).

Each link's query is run against the test's dev server, with the search attributes the stack
registers, so that a misspelled attribute or a malformed query fails here, not in a browser.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from temporalio.service import RPCError

from infra.settings import Settings
from stack.embedded import _summary
from tests.workflows.test_after_decision import granted_case


def printed_links(now) -> dict[str, str]:
    """The views `up` prints, label -> the query in each link, decoded as the UI decodes it."""
    text = _summary(Settings(), Path("data"), 7233, 8233, True, now=now)
    links = {}
    for line in text.splitlines():
        label, _, url = line.strip().partition(": http://")
        if not url:
            continue
        parts = urlsplit("http://" + url)
        assert " " not in url and '"' not in url, url  # URL-encoded
        assert parts.path == "/namespaces/default/workflows", url
        [query] = parse_qs(parts.query, strict_parsing=True)["query"]
        links[label] = query
    return links


async def found(harness, query: str) -> list[str]:
    return [w.id async for w in harness.client.list_workflows(query)]


async def eventually_found(harness, query: str, number: str) -> list[str]:
    for _ in range(100):
        ids = await found(harness, query)
        if number in ids:
            return ids
        await asyncio.sleep(0.05)  # visibility follows the case a moment later
    raise AssertionError(f"{number} not found by {query}")


async def test_every_printed_view_is_a_query_the_server_accepts(harness):
    number, _start = await granted_case(harness)
    state = await harness.settled(number)
    assert state.next_deadline is not None

    links = printed_links(state.next_deadline - timedelta(days=1))
    assert {"open cases", "in stage Utbetalning", "claim past due, unpaid", "granted cases"} <= set(links)
    for query in links.values():
        await found(harness, query)  # raises on an unknown attribute or bad syntax

    # Only cases: the intake and the call's workflow are not in the views.
    open_cases = await eventually_found(harness, links["open cases"], number)
    assert all(workflow_id[:4].isdigit() for workflow_id in open_cases), open_cases
    await eventually_found(harness, links["in stage Utbetalning"], number)
    await eventually_found(harness, links["granted cases"], number)
    assert number not in await found(harness, links["claim past due, unpaid"])
    assert number not in await found(harness, links["stalled, waits for operations"])
    assert number not in await found(harness, links["in stage Bedömning"])
    [before] = [query for label, query in links.items() if label.startswith("deadline passed")]
    assert number not in await found(harness, before)
    [after] = [query for label, query in printed_links(state.next_deadline + timedelta(days=1)).items()
               if label.startswith("deadline passed")]
    await eventually_found(harness, after, number)


async def test_the_server_refuses_an_unknown_attribute(harness):
    # What makes the test above worth running: a typo in an attribute's name is an error, not an empty list.
    with pytest.raises(RPCError):
        await found(harness, 'WorkflowType = "CaseWorkflow" AND CaseStag = "assessment"')
