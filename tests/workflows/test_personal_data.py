"""Temporal UI and the public register show no personnummer, whatever the applicant wrote (issue 18, item 6)."""

from __future__ import annotations

from typing import Any

from activities.register import list_cases
from domain.privacy import MASK
from tests.factories import application_2021
from tests.keys import CONVERTER
from tests.workflows.test_case_workflow import assess
from workflows.intake import intake_workflow_id

PNR = "19121212-1212"
DIGITS = ("19121212", "121212-1212", "1212121212")


async def _decoded(payload: Any) -> str:
    return str((await CONVERTER.decode([payload]))[0]) if payload.ByteSize() else ""


async def _shown_in_temporal(handle: Any) -> list[str]:
    """Everything of this workflow's that Temporal UI shows unencrypted beside its payloads."""
    description = await handle.describe()
    texts = [await description.static_summary() or "", await description.static_details() or ""]
    texts += [f"{key.name}={value}" for key, value in
              ((pair.key, pair.value) for pair in description.typed_search_attributes)]
    metadata = await handle.query("__temporal_workflow_metadata")
    texts.append(str(metadata))
    async for event in handle.fetch_history_events():
        # Each command's summary (activities, timers, child workflows) and a child's static details.
        if event.HasField("user_metadata"):
            texts += [await _decoded(event.user_metadata.summary), await _decoded(event.user_metadata.details)]
    return texts


async def test_no_personnummer_in_temporal_ui_or_the_register(harness):
    data = application_2021()
    data["project"]["title"] = f"Projekt för Tolvan Tolvansson {PNR}"
    data["applicant"]["name"] = f"Tolvan Tolvansson {PNR}"
    call, days = harness.call("export-samverkan-2021")
    number = await harness.submit(harness.application(data, call, days))
    await assess(harness, number)
    await harness.settled(number)

    texts = []
    for workflow_id in (number, intake_workflow_id((await harness.state(number)).submission_id)):
        texts += await _shown_in_temporal(harness.client.get_workflow_handle(workflow_id))
    assert any(f"Ärende {number}" in text for text in texts)  # the summaries were read
    assert not [text for text in texts if any(digits in text for digits in DIGITS)]

    [row] = [row for row in await list_cases(harness.pool) if row.case_number == number]
    assert row.subject == f"Projekt för Tolvan Tolvansson {MASK}"
    assert row.sender_name == f"Tolvan Tolvansson {MASK}"
    # The application itself, in the case, keeps what was written.
    assert (await harness.state(number)).application.project.title.endswith(PNR)
