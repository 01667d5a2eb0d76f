"""State aid to the companies a project reaches: a case of each call reports companies with its payment
requests, one company goes over its de minimis ceiling across the two cases, the officer resolves it,
and each company gets its certificate and has its record (docs/decisions/0033).

The worker converts with rates this test installs (GRANTFLOW_EXCHANGE_RATES_FILE): 11 kr per euro for
every day around today, so every euro figure below can be checked by hand, whatever the date and
whatever rates the release bundles. Later it installs 12,5 kr per euro, as a release with new rates would.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.worker import (
    HandleUpdateInput,
    Interceptor,
    Replayer,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from activities.letters import list_letters
from activities.state_aid import RatesRead, aid_rows, as_csv
from cli.cases import _print_state_aid
from domain.lifecycle import Stage
from domain.state_aid import CaseStateAid
from infra.errors import InputError
from infra.settings import Settings
from services.cases import ActionRefused
from tests.factories import ASSOCIATION, COMPANY, application_2021, application_2022
from tests.keys import CONVERTER
from tests.workflows.conftest import _harness
from tests.workflows.test_after_decision import (
    APPLICANT,
    BANKGIRO,
    approve_all,
    archived,
    cost,
    final_report,
    today,
)
from tests.workflows.test_case_workflow import DECIDER, OFFICER, assess, refused
from worker import registry

D = Decimal
EARLIER = "250000.00"  # euro: what Exempel Mekaniska AB declares it had from other grantors
RATE, NEW_RATE = D("11.0000"), D("12.5")


def install_rates(path: Path, rate: Decimal) -> None:
    """A rates file in domain/exchange_rates.toml's format: `rate` for every day the cases below need."""
    first = today() - timedelta(days=30)
    days = (first + timedelta(days=i) for i in range(180))
    path.write_text('source = "Testkurs"\n[sek_per_eur]\n' + "".join(f'{d} = "{rate}"\n' for d in days),
                    encoding="utf-8")


@pytest.fixture
def rates_file(tmp_path) -> Path:
    path = tmp_path / "exchange_rates.toml"
    install_rates(path, RATE)
    return path


@pytest.fixture
async def harness(db, rates_file):
    async for h in _harness(db, settings=Settings(exchange_rates_file=rates_file)):
        yield h


async def granted(harness, call_id: str, data: dict) -> tuple[str, object]:
    call, days = harness.call(call_id)
    number = await harness.submit(harness.application(data, call, days))
    await assess(harness, number)
    start = today()
    await harness.act(number, "prepare-decision", OFFICER, kind="approve", amount="300000.00",
                      period_start=start.isoformat(), period_end=(start + timedelta(days=60)).isoformat(),
                      final_report_due=(start + timedelta(days=90)).isoformat())
    assert (await harness.act(number, "decide", DECIDER)).stage is Stage.PAYMENTS
    return number, start


def company(org_number: str, name: str, value: str, day, earlier: str = "0", **extra) -> dict:
    return {"org_number": org_number, "name": name, "aid": "Coachning i exportstrategi, 20 timmar",
            "value": value, "granted_on": day.isoformat(), "earlier_aid_eur": earlier, **extra}


def request_with(start, requested: str, *companies: dict) -> dict:
    return {"request": {
        "period_start": start.isoformat(), "period_end": (start + timedelta(days=20)).isoformat(),
        "costs": [cost("personnel", "100000.00", f"V{len(companies)}")], "requested": requested,
        "cofinancing_received": "50000.00", "progress_report": "Företagen har fått coachning.",
        "payee_bankgiro": BANKGIRO, "companies": list(companies),
    }}


async def certificates(harness, number):
    await harness.settled(number)
    return [x for x in await list_letters(harness.pool, number) if x.kind == "de_minimis_certificate"]


async def test_a_company_over_its_ceiling_across_two_cases_is_resolved_certified_and_recorded(harness, rates_file,
                                                                                              capsys):
    first, start = await granted(harness, "export-samverkan-2021", application_2021())
    second, _ = await granted(harness, "saker-digitalisering-2022", application_2022())
    day = start + timedelta(days=5)
    await harness.fast_forward(first, timedelta(days=21))
    await harness.fast_forward(second, timedelta(days=21))

    # A date outside the request's period, or a personnummer, is refused when the request is filed.
    outside = request_with(start, "75000.00", company(COMPANY, "Exempel Mekaniska AB", "1000.00",
                                                      start + timedelta(days=30)))
    assert "utanför perioden" in await refused(harness, first, "file-payment-request", APPLICANT, **outside)
    with pytest.raises(InputError, match=r"companies\[0\]\.org_number: ange ett organisationsnummer"):
        await harness.act(first, "file-payment-request", APPLICANT, **request_with(
            start, "75000.00", company("850101-1236", "Enskild firma", "1000.00", day)))

    # The 2021 call's case: 400 000 kr is 36 363,64 euro; with the declared 250 000 euro, under 300 000.
    await harness.act(first, "file-payment-request", APPLICANT, **request_with(
        start, "75000.00", company(COMPANY, "Exempel Mekaniska AB", "400000.00", day, EARLIER,
                                   email="vd@mekaniska.example"),
        company(ASSOCIATION, "Exempel Ekonomisk Förening", "30000.00", day)))
    receipt = await harness.act(first, "review-payment-request", OFFICER, request_number=1,
                                costs=approve_all("100000.00"))
    assert "Stöd av mindre betydelse till 2 företag" in receipt.message
    letters = await certificates(harness, first)
    assert sorted(x.recipient_name for x in letters) == ["Exempel Ekonomisk Förening", "Exempel Mekaniska AB"]
    [to_company] = [x for x in letters if x.recipient_name == "Exempel Mekaniska AB"]
    assert to_company.recipient_email == "vd@mekaniska.example"
    assert "Stödets värde: 400\u00a0000\u00a0kr, det vill säga 36\u00a0363,64\u00a0euro" in to_company.body
    assert f"11 kr per euro (Europeiska centralbankens referenskurs {day})" in to_company.body
    assert "kommissionens förordning (EU) 2023/2831" in to_company.body and f"beviljades {day}" in to_company.body

    # The 2022 call's case: 200 000 kr more (18 181,82 euro) would be 304 545,46 euro with the first case's
    # aid; alone it would not be over. The review is refused with the figures, and the case keeps the finding.
    await harness.act(second, "file-payment-request", APPLICANT, **request_with(
        start, "50000.00", company(COMPANY, "Exempel Mekaniska AB", "200000.00", day, EARLIER)))
    with pytest.raises(ActionRefused) as caught:
        await harness.act(second, "review-payment-request", OFFICER, request_number=1, costs=approve_all("100000.00"))
    finding = str(caught.value)
    assert "Exempel Mekaniska AB (556012-3456) går över taket för stöd av mindre betydelse" in finding
    assert "stöd genom myndighetens ärenden 400\u00a0000\u00a0kr (36\u00a0363,64\u00a0euro)" in finding
    assert "304\u00a0545,46\u00a0euro" in finding and "överskridandet är 4\u00a0545,46\u00a0euro" in finding
    assert "300\u00a0000\u00a0euro (3\u00a0300\u00a0000\u00a0kr)" in finding and "SD22-DE-MINIMIS-2831" in finding
    state = await harness.settled(second)
    [over] = state.state_aid.checks["payment-request-1"].over
    assert over.total_eur == D("304545.46") and state.payments.requests[0].reviews is None
    _print_state_aid(state)  # `grantflow case` shows the open finding
    assert "över taket: Exempel Mekaniska AB (556012-3456) går över taket" in capsys.readouterr().out
    # Asked again without a resolution, it is refused at once, writing nothing.
    assert "går över taket" in await refused(harness, second, "review-payment-request", OFFICER,
                                             request_number=1, costs=approve_all("100000.00"))
    # Resolved: the company receives 100 000 kr of coaching (9 090,91 euro), which fits.
    receipt = await harness.act(second, "review-payment-request", OFFICER, request_number=1,
                                costs=approve_all("100000.00"), state_aid=[{
                                    "org_number": "16556012-3456", "value": "100000.00",
                                    "reason": "Företaget betalar själv för halva coachningen."}])
    assert "Stöd av mindre betydelse till 1 företag" in receipt.message
    [letter] = await certificates(harness, second)
    assert "Stödets värde: 100\u00a0000\u00a0kr, det vill säga 9\u00a0090,91\u00a0euro" in letter.body

    # The company's record, across both cases and calls, and the 2022 call's export.
    rows = await aid_rows(harness.pool, org_number=COMPANY)
    assert [(r.case_number, r.value_sek, r.value_eur) for r in rows] == [
        (first, D("400000.00"), D("36363.64")), (second, D("100000.00"), D("9090.91"))]
    export = as_csv(await aid_rows(harness.pool, call_id=rows[1].call_id)).splitlines()
    assert len(export) == 2 and export[1].startswith("556012-3456,Exempel Mekaniska AB,")

    # Newer rates are installed. (a) The recorded case replays, (b) with the rates it read then: the
    # local activity's result in its history, and the replayed case's check, still have 11 kr per euro.
    install_rates(rates_file, NEW_RATE)
    history = await harness.handle(second).fetch_history()
    # Two reads: the review refused with the finding, and the one with the resolution.
    reads = await recorded_rates(history)
    assert [[(r.day, r.sek_per_eur) for r in read.rates] for read in reads] == [[(day, RATE)]] * 2
    seen = ReplayedStateAid()
    replayer = Replayer(workflows=registry.workflows(), workflow_runner=registry.workflow_runner(strict=True),
                        data_converter=CONVERTER, interceptors=[seen])
    await replayer.replay_workflow(history)
    replayed = seen.after_updates[-1].checks["payment-request-1"].companies[0]
    assert (replayed.rate.sek_per_eur, replayed.value_eur, replayed.total_eur) == (RATE, D("9090.91"),
                                                                                     D("295454.55"))
    assert [g.rate.sek_per_eur for g in seen.after_updates[-1].granted] == [RATE]

    # The final report names a company too; its review checks and certifies it, and the archive keeps the record.
    await harness.fast_forward(first, timedelta(days=42))
    report = final_report(cost("personnel", "300000.00", "V9"))
    report["report"]["companies"] = [company(ASSOCIATION, "Exempel Ekonomisk Förening", "20000.00",
                                             start + timedelta(days=40))]
    await harness.act(first, "submit-final-report", APPLICANT, **report)
    receipt = await harness.act(first, "review-final-report", OFFICER, costs=approve_all("300000.00"),
                                assessment="Målen är nådda.")
    assert "Stöd av mindre betydelse till 1 företag" in receipt.message
    letters = await certificates(harness, first)
    assert len(letters) == 3
    # (c) A check after the new rates were installed converts with them: 20 000 kr is 1 600 euro.
    [newest] = [x for x in letters if "12,5 kr per euro" in x.body]
    assert "Stödets värde: 20\u00a0000\u00a0kr, det vill säga 1\u00a0600\u00a0euro" in newest.body
    rows = await aid_rows(harness.pool, case_number=first)
    assert [(r.aid_id, r.sek_per_eur, r.value_eur) for r in rows] == [
        ("payment-request-1-1", RATE, D("36363.64")), ("payment-request-1-2", RATE, D("2727.27")),
        ("final-report-1", NEW_RATE, D("1600.00"))]
    archive = await archived(harness, first)
    assert [r["aid_id"] for r in archive.register_rows["state_aid"]] == ["payment-request-1-1", "payment-request-1-2",
                                                                          "final-report-1"]


async def recorded_rates(history: Any) -> list[RatesRead]:
    """What the case's `read_exchange_rates` local activities returned, as its history records them."""
    out = []
    for event in history.events:
        marker = event.marker_recorded_event_attributes
        if marker.marker_name != "core_local_activity":
            continue
        [data] = marker.details["data"].payloads
        if json.loads(data.data)["activity_type"] == "read_exchange_rates":
            [result] = marker.details["result"].payloads
            [read] = await CONVERTER.decode([result], [RatesRead])  # encrypted, as every payload is
            out.append(read)
    return out


class ReplayedStateAid(Interceptor):
    """The case's state aid after each update a replay carries out: what the replayed case holds."""

    def __init__(self) -> None:
        self.after_updates: list[CaseStateAid] = []

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        seen = self.after_updates

        class Inbound(WorkflowInboundInterceptor):
            async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
                try:
                    return await super().handle_update_handler(input)
                finally:
                    seen.append(workflow.instance().state.state_aid.model_copy(deep=True))

        return Inbound
