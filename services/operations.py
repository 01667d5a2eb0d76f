"""What operations look at in Temporal UI: ready-made list views of the cases, as links.

Temporal UI lists every workflow of a namespace together (intakes, calls, archives and cases), and
shows a case's stage, call, deadline and amounts only on its own page. Each view here is a
visibility query over the cases' search attributes (workflows/search_attributes.py), opened in
the UI's workflow list by its `query` parameter.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from domain.lifecycle import STAGE_LABELS_SV, Stage
from workflows import search_attributes as sa

CASES = 'WorkflowType = "CaseWorkflow"'
OPEN_CASES = f'{CASES} AND ExecutionStatus = "Running"'
# Where a case waits for someone: the views by stage.
WORKING_STAGES = (Stage.COMPLETENESS, Stage.SECRECY_REVIEW, Stage.ASSESSMENT, Stage.DECISION, Stage.DECIDED,
                  Stage.PAYMENTS, Stage.FINAL_REPORT, Stage.RECLAIM)


def views(now: datetime) -> list[tuple[str, str]]:
    """(label, visibility query) for each view operations needs, as of `now`.

    A visibility query has no clock of its own: "overdue" is the deadline before `now`, and a case
    whose deadline has passed has not yet handled it (its timer fires at the deadline).
    """
    instant = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        ("open cases", OPEN_CASES),
        *[(f"in stage {STAGE_LABELS_SV[stage]}",
           f'{OPEN_CASES} AND {sa.CASE_STAGE.name} = "{stage.value}"') for stage in WORKING_STAGES],
        (f"deadline passed, not handled (as of {instant})",
         f'{OPEN_CASES} AND {sa.NEXT_DEADLINE.name} < "{instant}"'),
        ("claim past due, unpaid", f'{CASES} AND {sa.CLAIM_STATUS.name} = "overdue"'),
        # A step that failed for good waits for operations (docs/decisions/0019).
        ("stalled, waits for operations", f"{CASES} AND {sa.CASE_STALLED.name} IS NOT NULL"),
        ("granted cases", f'{CASES} AND {sa.GRANTED_AMOUNT_ORE.name} > 0'),
    ]


def list_url(ui_base: str, namespace: str, query: str) -> str:
    """Temporal UI's workflow list filtered by `query` (its `?query=` parameter, URL-encoded)."""
    return f"{ui_base}/namespaces/{quote(namespace, safe='')}/workflows?{urlencode({'query': query}, quote_via=quote)}"


def links(ui_base: str, namespace: str, now: datetime) -> list[tuple[str, str]]:
    return [(label, list_url(ui_base, namespace, query)) for label, query in views(now)]
