"""`grantflow up --demo`: open copies of the seed calls and a dozen cases at different stages.

The seed calls closed years ago, so a newcomer would see nothing alive. The demo moves both
calls' dates so that they are open today, submits the bundled example applications to them
and takes each case to a different stage, so that Temporal UI shows a living system.

The demo's calls are real calls of the installation: they are kept in the data directory
(infra/calls.py), so `grantflow calls` lists them and `grantflow submit` accepts
applications to them from any terminal. The demo is loaded once per data directory: a marker
records its cases, and its submissions and actions carry fixed ids, so a demo interrupted
half-way and started again finishes without a second copy of any case.
"""

from __future__ import annotations

import copy
import json
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from temporalio.client import Client

from domain.call import Call, shifted
from domain.clock import stockholm_date
from infra.calls import CallCatalog, default_catalog, install_call, load_catalog
from infra.settings import Settings
from services import cases

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
OFFICER = {"role": "officer", "id": "anna.handlaggare"}
DECIDER = {"role": "decision_maker", "id": "bo.beslutsfattare"}
APPLICANT = {"role": "applicant", "id": "demo-sokande"}
ADMINISTRATOR = {"role": "administrator", "id": "ada.admin"}
# The demo officer's colleague in her team (services/teams.py: DEMO_TEAM): the cases assigned to him are
# what "Mitt teams ärenden" shows her beside her own. He has no token: a member is a person id.
COLLEAGUE = {"role": "officer", "id": "erik.handlaggare"}

log = structlog.stdlib.get_logger("grantflow.demo")

# In the data directory, once the demo has been loaded there: its case numbers.
DEMO_MARKER = "demo.json"


DEMO_BANKGIRO = "5402-9681"


def demo_call(seed: Call, today: date) -> Call:
    """The seed call moved so that it closes in 30 days."""
    return shifted(seed, days=(today + timedelta(days=30) - seed.window.closes).days, new_id=f"{seed.id}-demo")


def demo_application(data: dict[str, Any], call: Call, today: date) -> dict[str, Any]:
    moved = copy.deepcopy(data)
    moved["call_id"] = call.id
    latest = call.timeline.operations_end or call.timeline.final_report_due
    end = min(today + timedelta(days=60), date(today.year, 12, 31), latest)
    moved["project"]["start"], moved["project"]["end"] = today.isoformat(), end.isoformat()
    for line in moved["budget"]:
        line.pop("year", None)
    return moved


@dataclass
class _Demo:
    client: Client
    catalog: CallCatalog
    task_queue: str
    submitted: int = 0
    actions: int = 0

    async def submit(self, data: dict[str, Any]) -> str:
        # Fixed ids: the intake of a submission sent again returns the case it opened the first time.
        self.submitted += 1
        intake = await cases.submit(self.client, self.catalog, json.dumps(data), task_queue=self.task_queue,
                                    submission_id=f"demo-{data['call_id']}-{self.submitted:03d}")
        return intake.case_number

    async def act(self, number: str, action: str, actor: dict[str, str], **payload: Any) -> None:
        # Fixed ids too: an action sent again (a demo started again after a crash) gets its first receipt.
        self.actions += 1
        command = cases.build_command(action, actor, payload, f"demo-{number}-{self.actions:03d}")
        try:
            await cases.act(self.client, number, action, command)
        except cases.ActionRefused as refused:
            # Only a demo started again after a crash meets a step it took before on a case that has
            # since closed; the case is where the demo took it.
            log.warning("demo action refused", case_number=number, action=action, reason=str(refused))

    async def assess(self, number: str, score: int) -> None:
        state = await cases.case_state(self.client, number)
        await self.act(number, "record-secrecy-review", OFFICER, rulings=[
            {"section": m.section, "secret": True, "legal_ground": "OSL 30 kap. 23 §",
             "reason": "Uppgiften skulle skada sökandens affärsförhållanden om den lämnades ut."}
            for m in state.application.secret_sections
        ])
        await self.act(number, "declare-no-conflict", OFFICER)
        await self.act(number, "score", OFFICER, scores=[
            {"criterion": c, "score": score, "motivation": "Bedömt i demonstrationen."}
            for c in state.applicable_criteria()
        ])

    async def decide(self, number: str) -> None:
        # The decision maker declares no conflict of interest in the case before deciding it.
        await self.act(number, "declare-no-conflict", DECIDER)
        await self.act(number, "decide", DECIDER)

    async def prepare(self, number: str, kind: str, **extra: Any) -> None:
        state = await cases.case_state(self.client, number)
        if kind == "approve":
            extra |= {"amount": str(state.application.requested_amount),
                      "period_start": state.application.project.start.isoformat(),
                      "period_end": state.application.project.end.isoformat()}
        await self.act(number, "prepare-decision", OFFICER, kind=kind, **extra)


def _examples(call_id: str) -> dict[str, dict[str, Any]]:
    manifest = tomllib.loads((EXAMPLES / "manifest.toml").read_text(encoding="utf-8"))["examples"]
    return {
        Path(e["file"]).stem: json.loads((EXAMPLES / e["file"]).read_text(encoding="utf-8"))
        for e in manifest if e["call"] == call_id
    }


def _demo_calls(data_dir: Path, today: date) -> dict[str, Call]:
    """The demo's calls by their seed's id, installed in `data_dir`: those installed before, if any."""
    installed = default_catalog(data_dir)
    seeds = load_catalog()
    calls: dict[str, Call] = {}
    for seed in seeds.all():
        call = installed.calls.get(f"{seed.id}-demo")
        if call is None:
            call = demo_call(seed, today)
            install_call(data_dir, call, seeds.texts[seed.id])
        calls[seed.id] = call
    return calls


async def load_demo(client: Client, task_queue: str, data_dir: Path | None = None) -> list[str]:
    """Submit the demo cases and take them to their stages, once per data directory; returns their case numbers."""
    data_dir = data_dir if data_dir is not None else Settings.from_env().data_dir
    marker = data_dir / DEMO_MARKER
    calls = _demo_calls(data_dir, stockholm_date(datetime.now(UTC)))
    for call in calls.values():  # its call workflows, as for every call of the installation
        await cases.ensure_call_workflow(client, call, task_queue)
    if marker.is_file():
        numbers: list[str] = json.loads(marker.read_text(encoding="utf-8"))["cases"]
        log.info("demo already loaded", cases=len(numbers))
        return numbers
    numbers = await _load_cases(client, task_queue, default_catalog(data_dir), calls)
    marker.write_text(json.dumps({"cases": numbers}, indent=2) + "\n", encoding="utf-8")
    return numbers


async def _load_cases(client: Client, task_queue: str, catalog: CallCatalog, calls: dict[str, Call]) -> list[str]:
    today = stockholm_date(datetime.now(UTC))
    demo = _Demo(client, catalog, task_queue)
    numbers: list[str] = []
    for_colleague: list[str] = []
    for seed_id, call in calls.items():
        examples = _examples(seed_id)
        eligible = [data for name, data in examples.items() if name.startswith("eligible-")]
        ineligible = [data for name, data in examples.items() if name.startswith("ineligible-")]
        submitted = [await demo.submit(demo_application(d, call, today)) for d in eligible * 3 + ineligible[:2]]
        numbers += submitted
        approved, rejected, deciding, assessing, reviewing, withdrawn = submitted[:6]
        for number in (approved, rejected, deciding, assessing):
            await demo.assess(number, score=5 if number == approved else 3)
        await demo.prepare(approved, "approve", conditions=["Slutrapport lämnas enligt utlysningen."],
                           advance="100000.00", advance_reasons="Sökanden saknar likviditet för projektstarten.",
                           payee_bankgiro=DEMO_BANKGIRO)
        await demo.decide(approved)
        # The advance is paid; the applicant's first payment request waits for the officer.
        await demo.act(approved, "file-payment-request", APPLICANT, request={
            "period_start": today.isoformat(), "period_end": today.isoformat(),
            "costs": [{"cost_type": "personnel", "description": "Projektledning, första veckan",
                       "amount": "40000.00", "vouchers": ["LÖN-1"]}],
            "requested": "20000.00", "cofinancing_received": "10000.00",
            "progress_report": "Projektet har startat med ett första möte med företagen.",
            "payee_bankgiro": DEMO_BANKGIRO,
            # The coaching a company received is de minimis aid, checked when the officer reviews the request.
            "companies": [{"org_number": "556012-3456", "name": "Exempel Mekaniska AB",
                           "aid": "Coachning i exportstrategi, 8 timmar", "value": "12000.00",
                           "granted_on": today.isoformat(), "earlier_aid_eur": "15000.00"}]})
        await demo.prepare(rejected, "reject", reasons="Projektet bidrar i lägre grad till utlysningens mål.")
        await demo.decide(rejected)
        await demo.prepare(deciding, "reject", reasons="Svag regional förankring.",
                           unseen_material="Yttrande från regionen om projektets förankring.")
        await demo.act(deciding, "communicate", OFFICER)
        await demo.act(withdrawn, "withdraw", APPLICANT, reason="Projektet genomförs inte i år.")
        incomplete, dismissed = submitted[-2:]
        await demo.act(incomplete, "request-completion", OFFICER, missing=["Det som kontrollen har pekat ut"])
        await demo.prepare(dismissed, "dismiss", reasons="Ansökan uppfyller inte utlysningens krav.")
        await demo.decide(dismissed)
        log.info("demo cases ready", call_id=call.id, cases=len(submitted), reviewing=reviewing)
        for_colleague.append(reviewing)
    # Last, so that the actions before keep the ids an earlier demo gave them.
    for number in for_colleague:
        await demo.act(number, "assign", ADMINISTRATOR, officer=COLLEAGUE["id"])
    return numbers


def demo_applicant_org_number() -> str:
    """The organisation the demo's applicant (APPLICANT) signs in for: the applicant of the first call's
    granted case, whose payment request the demo files (the first eligible example of the first call)."""
    seed = load_catalog().all()[0]
    first = next(data for name, data in _examples(seed.id).items() if name.startswith("eligible-"))
    org_number: str = first["applicant"]["org_number"]
    return org_number
