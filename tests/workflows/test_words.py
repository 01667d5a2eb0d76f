"""What officers read: Swedish throughout, and "paid" only once the money has left in a bank file (issue 18,
items 9 and 10)."""

from __future__ import annotations

import asyncio
import json
import re

from cli.main import main
from domain.lifecycle import Outcome, Stage
from domain.payment import PayoutKind
from domain.reclaim import ReclaimBasis
from tests.workflows.test_after_decision import APPLICANT, granted_case

# Every machine value an officer could otherwise be shown.
ENGLISH = sorted({v.value for enum in (Outcome, Stage, PayoutKind, ReclaimBasis) for v in enum}, key=len, reverse=True)


def english_in(text: str) -> list[str]:
    return [value for value in ENGLISH if re.search(rf"(?<![\w.-]){re.escape(value)}(?![\w.-])", text)]


async def test_case_and_payouts_speak_swedish_and_say_paid_only_after_the_bank_file(harness, monkeypatch, capsys,
                                                                                      tmp_path):
    monkeypatch.setenv("GRANTFLOW_DATABASE_URL", harness.database_url)
    monkeypatch.setenv("GRANTFLOW_TEMPORAL_ADDRESS", harness.client.service_client.config.target_host)
    monkeypatch.setenv("GRANTFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GRANTFLOW_AGENCY_NAME", "Tillväxtverket")
    monkeypatch.setenv("GRANTFLOW_AGENCY_BANKGIRO", "5050-1055")

    async def cli(*argv: str) -> str:
        capsys.readouterr()
        assert await asyncio.to_thread(main, list(argv)) == 0
        return capsys.readouterr().out

    number, _start = await granted_case(harness, advance="100000.00")
    # The applicant withdraws after the advance was ordered: a reclaim opens on that basis.
    await harness.act(number, "withdraw", APPLICANT, reason="Projektet genomförs inte.")
    await harness.settled(number)

    shown = await cli("case", number)
    assert "utfall: beviljad" in shown
    assert "utbetalning 0 (förskott): 100\u00a0000\u00a0kr, godkänd för utbetalning " in shown, shown
    assert "väntar på bankfil" in shown
    assert "Återkrav (sökanden har återkallat ansökan efter utbetalning)" in shown
    # Nothing says the money is paid while it waits for the bank file.
    assert not re.search(r"\b[Uu]tbetal(t|d)\b", shown), shown
    assert english_in(shown) == [], shown
    listed = (await cli("payouts", "--case", number)).splitlines()[-1]
    assert "förskott" in listed and "väntar på bankfil" in listed and english_in(listed) == [], listed
    letter = await cli("letters", number)
    assert "godkänt en utbetalning av 100\u00a0000\u00a0kr" in letter and "betalat ut" not in letter

    # The machine values stay in the JSON, for tools.
    state = json.loads(await cli("case", number, "--json"))["state"]
    assert state["outcome"] == "approved" and state["payments"]["payouts"][0]["kind"] == "advance"
    assert json.loads(await cli("payouts", "--case", number, "--json"))[0]["kind"] == "advance"

    await cli("bank-file", "export")
    shown = await cli("case", number)
    assert re.search(r"utbetalning 0 \(förskott\): 100\u00a0000\u00a0kr, utbetald med bankfil \d+", shown), shown
    assert "utbetald, bankfil" in (await cli("payouts", "--case", number)).splitlines()[-1]
    listing = await cli("cases", "--call", (await harness.state(number)).call.id)
    assert number in listing and english_in(listing) == [], listing
