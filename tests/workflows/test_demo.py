"""`grantflow up --demo` leaves a living system: cases in every stage up to payments."""

from __future__ import annotations

from collections import Counter

from services import cases
from services.demo import load_demo


async def test_the_demo_takes_cases_to_different_stages(harness):
    numbers = await load_demo(harness.client, harness.task_queue)
    states = [await harness.settled(n) for n in numbers]
    stages = Counter(s.stage.value for s in states)
    assert {"payments", "closed", "decision", "assessment", "secrecy_review", "completeness"} <= set(stages)
    paying = [s for s in states if s.stage.value == "payments"]
    assert all(s.payments.paid == 100000 and len(s.payments.requests) == 1 for s in paying)
    assert await cases.case_state(harness.client, numbers[0])
