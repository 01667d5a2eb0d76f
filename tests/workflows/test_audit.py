"""The auditors' tools over real cases: a case's story, and a register that cannot be changed silently.

A real Temporal dev server and a real PostgreSQL (the `harness` fixture); the commands run as from
a shell (`cli.main.main`), pointed at the test's server and database. One granted and paid case
serves every check of the open case: its story from Temporal in text, JSON and HTML, a planted
disagreement, and the tamper test (a row edited, deleted and inserted by hand in PostgreSQL, and a
chain rewritten whole, hashes and all, found against the heads saved before).
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.service import RPCError, RPCStatusCode

from activities.readings import record_secret_reading
from cli.main import main
from domain.audit import event_hash
from tests.workflows.test_after_decision import cost, granted_case, payment_request
from tests.workflows.test_case_workflow import APPLICANT, open_case
from workflows.archive import ArchiveWorkflow, archive_workflow_id


@pytest.fixture
def cli_at(monkeypatch, capsys):
    """Points the CLI at a harness's Temporal and database; the command runner it returns gives
    (exit code, standard output, standard error)."""
    def at(harness):
        monkeypatch.setenv("GRANTFLOW_DATABASE_URL", harness.database_url)
        monkeypatch.setenv("GRANTFLOW_TEMPORAL_ADDRESS", harness.client.service_client.config.target_host)
        monkeypatch.setenv("GRANTFLOW_TEMPORAL_NAMESPACE", harness.client.namespace)

        async def run(*argv: str) -> tuple[int, str, str]:
            capsys.readouterr()
            code = await asyncio.to_thread(main, list(argv))
            out, err = capsys.readouterr()
            assert "Traceback" not in out + err
            return code, out, err

        return run

    return at


async def execute(harness, sql: str, *params: object) -> None:
    async with harness.pool.connection() as conn:
        await conn.execute(sql, params)


async def rows(harness, number: str) -> list[dict]:
    async with harness.pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT event_id, seq, kind, actor_id, summary, at, actor_role, stage, prev_hash, hash"
            " FROM case_events WHERE case_number = %s ORDER BY seq", (number,))
        names = [c.name for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in await cursor.fetchall()]


# Rewrites a case's whole chain from its rows as they now are, as someone with the database's
# rights and this project's source could: every hash consistent again.
REWRITE_CHAIN = """
WITH RECURSIVE chained AS (
    SELECT event_id, seq, case_event_hash('', case_number, seq, event_id, at, actor_id, actor_role, kind, stage,
                                          summary) AS hash, ''::text AS prev_hash
    FROM case_events WHERE case_number = %(n)s AND seq = 1
    UNION ALL
    SELECT e.event_id, e.seq, case_event_hash(c.hash, e.case_number, e.seq, e.event_id, e.at, e.actor_id,
                                              e.actor_role, e.kind, e.stage, e.summary), c.hash
    FROM chained c JOIN case_events e ON e.case_number = %(n)s AND e.seq = c.seq + 1
)
UPDATE case_events e SET hash = c.hash, prev_hash = c.prev_hash
FROM chained c WHERE e.case_number = %(n)s AND e.event_id = c.event_id
"""


async def test_the_story_of_an_open_case_and_a_register_that_cannot_be_changed_silently(harness, cli_at, tmp_path):
    cli = cli_at(harness)
    number, _start = await granted_case(harness, advance="100000.00")
    await harness.settled(number)
    await record_secret_reading(harness.pool, number, "revisor-rut", "auditor", ["budget"])
    chain = await rows(harness, number)
    # The register wrote every row's place and hash in its one statement, as the Python definition has them.
    assert [r["seq"] for r in chain] == list(range(1, len(chain) + 1))
    assert all(r["hash"] == event_hash(r["prev_hash"], number, r["seq"], r["event_id"], r["at"], r["actor_id"],
                                       r["actor_role"], r["kind"], r["stage"], r["summary"]) for r in chain)
    decide = next(r for r in chain if r["kind"] == "Decide")

    # --- the story, from Temporal -------------------------------------------------------------
    code, out, _ = await cli("audit", "history", number)
    assert code == 0, out
    assert "Historiken läst från Temporal" in out and "Tider i svensk tid (Europe/Stockholm)." in out
    assert "bo (beslutsfattare)  [historik och diarium]" in out
    assert "anna (handläggare)  [historik och diarium]" in out
    assert "    belopp: 400\u00a0000\u00a0kr" in out  # what the officer proposed, from the recorded update
    assert "Utbetalning nr 0 (förskott): 100\u00a0000\u00a0kr, väntar på bankfil" in out
    assert "revisor-rut (revisor)  [läsloggen]  Läste de sekretessmarkerade delarna av ansökan" in out
    assert "Frist satt: ärendet väntar till" in out
    assert "Brev till" in out
    assert out.rstrip().endswith("Historiken och diariet stämmer överens.")

    code, out, _ = await cli("audit", "history", number, "--format", "json")
    story = json.loads(out)
    assert code == 0 and story["source"] == "temporal" and story["complete"] and story["findings"] == []
    kinds = [s["kind"] for s in story["steps"]]
    assert {"Decide", "PrepareDecision", "payout", "secret_reading", "deadline_set"} <= set(kinds)
    decided = next(s for s in story["steps"] if s["kind"] == "Decide")
    assert (decided["origin"], decided["actor_id"], decided["actor_role"]) == ("both", "bo", "decision_maker")
    assert next(s for s in story["steps"] if s["kind"] == "payout")["origin"] == "both"
    assert [s["at"] for s in story["steps"]] == sorted(s["at"] for s in story["steps"])

    page = tmp_path / f"{number}.html"
    code, out, _ = await cli("audit", "history", number, "--format", "html", "--output", str(page))
    html = page.read_text(encoding="utf-8")
    assert code == 0 and str(page) in out
    assert html.startswith("<!DOCTYPE html>") and '<html lang="sv">' in html and "@media print" in html
    assert "<script" not in html.lower() and "src=" not in html and "href=" not in html  # nothing to fetch
    assert f"Ärende {number}" in html and "Historiken och diariet stämmer överens." in html

    # A planted disagreement: the ledger says another amount than the case ordered.
    await execute(harness, "UPDATE payouts SET amount = 90000 WHERE case_number = %s AND request_number = 0", number)
    code, out, _ = await cli("audit", "history", number)
    assert code == 1
    assert ("    AVVIKELSE: betalregistret säger advance 90\u00a0000\u00a0kr, historiken advance 100\u00a0000\u00a0kr"
            in out), out
    code, out, _ = await cli("audit", "history", number, "--format", "html", "--output", str(page))
    assert code == 1 and 'class="avvikelse"' in page.read_text(encoding="utf-8")
    code, out, _ = await cli("audit", "verify", number)
    assert code == 1 and f"{number}: utbetalning nr 0: betalregistret säger advance" in out
    await execute(harness, "UPDATE payouts SET amount = 100000 WHERE case_number = %s AND request_number = 0", number)

    # --- verify and the heads ---------------------------------------------------------------------
    code, out, _ = await cli("audit", "verify", number)
    assert code == 0 and out.startswith("ok: 1 ärende"), out
    code, out, _ = await cli("audit", "heads")
    assert code == 0
    heads = tmp_path / "heads.jsonl"
    heads.write_text(out, encoding="utf-8")
    assert json.loads(out.splitlines()[0]) == {"case_number": number, "seq": chain[-1]["seq"],
                                               "hash": chain[-1]["hash"]}
    code, out, _ = await cli("audit", "verify", "--all", "--heads", str(heads))
    assert code == 0, out

    # Edited by hand: the decision's text.
    await execute(harness, "UPDATE case_events SET summary = 'Beslut: avslag.' WHERE case_number = %s"
                  " AND event_id = %s", number, decide["event_id"])
    code, out, err = await cli("audit", "verify", number)
    label = f"{number}: händelse {decide['event_id']} (nr {decide['seq']})"
    assert code == 1 and "avvikelser" in err
    assert f"{label}: innehållet stämmer inte med radens hash: raden är ändrad efter att den skrevs" in out, out
    assert f"{label}: texten är 'Beslut: avslag.' i diariet men" in out
    await execute(harness, "UPDATE case_events SET summary = %s WHERE case_number = %s AND event_id = %s",
                  decide["summary"], number, decide["event_id"])

    # Deleted by hand: a row in the middle of the chain.
    gone = chain[2]
    await execute(harness, "DELETE FROM case_events WHERE case_number = %s AND event_id = %s", number,
                  gone["event_id"])
    code, out, _ = await cli("audit", "verify", number)
    assert code == 1
    assert f"{number}: händelse nr {gone['seq']}: saknas i kedjan före händelse {chain[3]['event_id']}" in out, out
    await execute(harness, "INSERT INTO case_events (case_number, event_id, at, actor_id, actor_role, kind, stage,"
                  " summary, seq, prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                  number, gone["event_id"], gone["at"], gone["actor_id"], gone["actor_role"], gone["kind"],
                  gone["stage"], gone["summary"], gone["seq"], gone["prev_hash"], gone["hash"])

    # Inserted by hand: a decision nobody took.
    await execute(harness, "INSERT INTO case_events (case_number, event_id, at, actor_id, actor_role, kind, stage,"
                  " summary) VALUES (%s, 'efterhand-1', now(), 'mallory', 'decision_maker', 'Decide', 'decision',"
                  " 'Beslut: bifall med 900 000 kr.')", number)
    code, out, _ = await cli("audit", "verify", number)
    assert code == 1
    assert (f"{number}: händelse efterhand-1: saknar plats och hash i kedjan: raden är inte skriven av diariet"
            in out), out
    assert f"{number}: händelse efterhand-1: åtgärden Decide av mallory finns i diariet men inte i historiken" in out
    code, out, _ = await cli("audit", "history", number)
    assert code == 1 and "mallory (beslutsfattare)  [diariet]  Beslut: bifall med 900 000 kr." in out
    await execute(harness, "DELETE FROM case_events WHERE event_id = 'efterhand-1'")
    code, out, _ = await cli("audit", "verify", number)
    assert code == 0, out

    # Rewritten whole: a system event's text changed and every hash after it made to fit. The chain
    # holds together, and the history has nothing to say of the case's own notes; the saved head does.
    checked = next(r for r in chain if r["kind"] == "checked")
    await execute(harness, "UPDATE case_events SET summary = summary || ' Inga brister.' WHERE case_number = %s"
                  " AND event_id = %s", number, checked["event_id"])
    async with harness.pool.connection() as conn:
        await conn.execute(REWRITE_CHAIN, {"n": number})
    code, out, _ = await cli("audit", "verify", number)
    assert code == 0, out
    code, out, _ = await cli("audit", "verify", "--all", "--heads", str(heads))
    assert code == 1
    assert f"{number}: händelse nr {chain[-1]['seq']} ({chain[-1]['event_id']}): har hashen" in out, out
    assert "kedjan är omskriven" in out


async def removed_by_retention(harness, number: str, run_id: str) -> None:
    """One run of a case deleted from Temporal, as retention deletes it once it has ended."""
    await harness.client.workflow_service.delete_workflow_execution(DeleteWorkflowExecutionRequest(
        namespace=harness.client.namespace, workflow_execution=WorkflowExecution(workflow_id=number, run_id=run_id)))
    for _ in range(480):  # the dev server deletes in the background, after half a minute or so
        try:
            await harness.client.get_workflow_handle(number, run_id=run_id).describe()
        except RPCError as exc:
            assert exc.status == RPCStatusCode.NOT_FOUND
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"run {run_id} of {number} was not deleted from Temporal")


async def test_the_story_of_a_closed_case_read_from_the_archive(harness, cli_at):
    cli = cli_at(harness)
    _call, number = await open_case(harness)
    await harness.settled(number)
    await harness.act(number, "withdraw", APPLICANT, reason="Projektet genomförs inte.")
    await harness.handle(number).result()
    archive = harness.client.get_workflow_handle_for(ArchiveWorkflow.run, archive_workflow_id(number))
    assert (await archive.result()).case_number == number

    code, out, _ = await cli("audit", "history", number, "--format", "json")
    assert code == 0 and json.loads(out)["source"] == "temporal"

    # Retention removes the case from Temporal: its story is read from the archive.
    await removed_by_retention(harness, number, (await harness.handle(number).describe()).run_id)

    code, out, _ = await cli("audit", "history", number)
    assert code == 0, out
    assert "Historiken läst från arkivet (Temporal har inte längre ärendets arbetsflöde); 1 körning" in out
    assert "region-exempel (sökanden)  [historik och diarium]" in out
    assert "    skäl: Projektet genomförs inte." in out
    code, out, _ = await cli("audit", "history", number, "--format", "json")
    story = json.loads(out)
    assert story["source"] == "archive" and story["stage"] == "closed" and story["findings"] == []
    assert story["notices"] == []  # everything checked: the first run's start and the budget ledger too
    assert "Withdraw" in [s["kind"] for s in story["steps"]]
    code, out, _ = await cli("audit", "verify", number)
    assert code == 0, out


async def test_the_story_follows_a_case_that_continued_as_new_and_a_deadline_that_passed(short_history_harness,
                                                                                         cli_at):
    harness = short_history_harness
    cli = cli_at(harness)
    number, start = await granted_case(harness)
    first_run = (await harness.handle(number).describe()).run_id
    for day in range(15):  # small payment requests until the history is long enough to go on in a new run
        request = payment_request(start, day, day, "750.00", cost("personnel", "1000.00", f"V{day}"))
        await harness.act(number, "file-payment-request", APPLICANT, action_id=f"begaran-{day}", **request)
        await harness.settled(number)
        if (await harness.handle(number).describe()).run_id != first_run:
            break
    else:
        raise AssertionError("the case never continued as new")
    # The final report's reminder, 30 days before the report is due (90 days from the decision), passes.
    await harness.fast_forward(number, timedelta(days=61))
    await harness.settled(number)

    code, out, _ = await cli("audit", "history", number, "--format", "json")
    story = json.loads(out)
    assert code == 0 and story["findings"] == [], story["findings"]
    assert len(story["runs"]) == 2 and story["runs"][0]["ended_with"] == "workflow_execution_continued_as_new"
    assert [s["kind"] for s in story["steps"]].count("run_continued") == 1
    filed = [s for s in story["steps"] if s["kind"] == "FilePaymentRequest"]
    assert len(filed) == day + 1 and {s["origin"] for s in filed} == {"both"}  # from both runs' histories
    passed = [s for s in story["steps"] if s["kind"] == "deadline_passed"]
    assert passed and "gick ut" in passed[0]["text"]
    code, out, _ = await cli("audit", "verify", number)
    assert code == 0, out

    # Retention removes the first run while the case goes on: the case archived it when it went on in
    # a new run, so its story and its replay from Temporal still take in both runs.
    await removed_by_retention(harness, number, first_run)
    code, out, _ = await cli("audit", "history", number, "--format", "json")
    assert code == 0 and len(json.loads(out)["runs"]) == 2, out
    assert json.loads(out)["notices"] == [], out  # the archived first run: the case's row still checked
    code, out, _ = await cli("audit", "replay", number, "--from", "temporal", "--verbose")
    assert code == 0, out
    assert out.splitlines()[0] == f"{number} (temporal): ok, 2 runs", out
    assert "without their oldest" not in out, out

    # Neither Temporal nor the archive has the first run any more: what only it vouches for is not checked,
    # and verify says so without failing an honest case.
    await execute(harness, "DELETE FROM case_archive WHERE case_number = %s", number)
    code, out, _ = await cli("audit", "verify", number)
    assert code == 0, out
    assert (f"{number}: ärendets rad: inte kontrollerad: det som registrerades när ansökan kom in är inte jämfört "
            "med historiken: de äldsta körningarna finns varken i Temporal eller i arkivet") in out, out
    assert f"{number}: budgetreservationen: inte kontrollerad: budgetregistret är inte jämfört" in out, out
    assert "2 rader inte kontrollerade mot historiken" in out, out


async def one_row(harness, sql: str, *params: object) -> dict:
    async with harness.pool.connection() as conn:
        cursor = await conn.execute(sql, params)
        names = [c.name for c in cursor.description]
        row = await cursor.fetchone()
        assert row is not None
        return dict(zip(names, row, strict=True))


async def test_verify_finds_who_is_paid_and_the_case_row_changed_by_hand_and_a_case_deleted_whole(harness, cli_at):
    cli = cli_at(harness)
    number, _start = await granted_case(harness, advance="100000.00")
    await harness.settled(number)
    code, out, _ = await cli("audit", "verify", number)
    assert code == 0, out
    payout = await one_row(harness, "SELECT payee_name, payee_bankgiro, reference, paid_at FROM payouts"
                                    " WHERE case_number = %s AND request_number = 0", number)
    case = await one_row(harness, "SELECT received_at, sender_org_number, sender_name, subject, call_id,"
                                  " requested_amount, stage, officer FROM cases WHERE case_number = %s", number)

    async def tampered(table: str, changes: str, *found: str) -> None:
        """`changes` made by hand in `table` is each of `found`, named with the case; then undone."""
        key = "case_number = %s" + (" AND request_number = 0" if table == "payouts" else "")
        await execute(harness, f"UPDATE {table} SET {changes} WHERE {key}", number)
        code, out, _ = await cli("audit", "verify", number)
        assert code == 1, out
        for line in found:
            assert f"{number}: {line}" in out, out
        original = payout if table == "payouts" else case
        await execute(harness, f"UPDATE {table} SET {', '.join(f'{c} = %s' for c in original)} WHERE {key}",
                      *original.values(), number)

    # Who is paid: the bank file is built from the ledger's row.
    await tampered("payouts", "payee_bankgiro = '56781234', payee_name = 'Mallory AB'",
                   "utbetalning nr 0: betalningsmottagarens namn är 'Mallory AB' i betalregistret men",
                   "utbetalning nr 0: betalningsmottagarens bankgiro är '56781234' i betalregistret men "
                   f"{payout['payee_bankgiro']!r} i historiken")
    await tampered("payouts", "reference = 'Faktura 17'",
                   "utbetalning nr 0: referensen till mottagaren är 'Faktura 17' i betalregistret")
    await tampered("payouts", "paid_at = paid_at - interval '1 day'",
                   "utbetalning nr 0: tiden då utbetalningen registrerades är")
    # The case's own row: what the intake registered.
    await tampered("cases", "received_at = received_at - interval '3 days'",
                   "ärendets rad: tiden då ansökan kom in är")
    await tampered("cases", "received_at = received_at + interval '1 second'",  # the same minute
                   "ärendets rad: tiden då ansökan kom in är")
    await tampered("cases", "sender_org_number = '556036-0793'",
                   "ärendets rad: avsändarens organisationsnummer är '556036-0793' i diariet men "
                   f"{case['sender_org_number']!r} i historiken")
    await tampered("cases", "sender_name = 'Mallory AB', subject = 'Annat projekt'",
                   "ärendets rad: avsändarens namn är 'Mallory AB' i diariet men",
                   "ärendets rad: ärendemeningen (projektets titel) är 'Annat projekt' i diariet men")
    await tampered("cases", "requested_amount = requested_amount + 1000",
                   "ärendets rad: sökt belopp är")
    await tampered("cases", "call_id = 'annan-utlysning'", "ärendets rad: utlysningen är 'annan-utlysning' i diariet")
    # Where it stands: a case set closed by hand drops out of its call's ranking; another officer, out of
    # its officer's inbox and team view.
    await tampered("cases", "stage = 'closed'", f"ärendets rad: steget är 'closed' i diariet men {case['stage']!r}")
    await tampered("cases", "officer = 'mallory'",
                   f"ärendets rad: handläggaren är 'mallory' i diariet men {case['officer']!r} i historiken")
    # The budget ledger: the case's grant shrunk or deleted by hand frees the call's budget for other cases.
    grant = await one_row(harness, "SELECT call_id, case_number, amount, granted_at FROM budget_grants"
                                   " WHERE case_number = %s", number)
    held = f"{number}: budgetreservationen i utlysningen {grant['call_id']}: är"
    await execute(harness, "UPDATE budget_grants SET amount = 300000 WHERE case_number = %s", number)
    code, out, _ = await cli("audit", "verify", number)
    assert code == 1, out
    assert f"{held} 300\u00a0000\u00a0kr i budgetregistret men 400\u00a0000\u00a0kr enligt historiken" in out, out
    await execute(harness, "DELETE FROM budget_grants WHERE case_number = %s", number)
    code, out, _ = await cli("audit", "verify", number)
    assert code == 1, out
    assert f"{held} ingen (raden saknas) i budgetregistret men 400\u00a0000\u00a0kr enligt historiken" in out, out
    await execute(harness, "INSERT INTO budget_grants (call_id, case_number, amount, granted_at)"
                           " VALUES (%s, %s, %s, %s)", *grant.values())
    code, out, _ = await cli("audit", "verify", number)
    assert code == 0, out

    # The payout's note rewritten to an amount that holds the paid one as text ("100 000 kr" in "1 100 000 kr"),
    # and the chain made to fit: the note must name the exact amount.
    note = next(r for r in await rows(harness, number) if r["kind"] == "paid")
    await execute(harness, "UPDATE case_events SET summary = replace(summary, %s, %s) WHERE case_number = %s"
                  " AND event_id = %s", "100\u00a0000\u00a0kr", "1\u00a0100\u00a0000\u00a0kr", number,
                  note["event_id"])
    async with harness.pool.connection() as conn:
        await conn.execute(REWRITE_CHAIN, {"n": number})
    code, out, _ = await cli("audit", "verify", number)
    assert code == 1
    assert f"{number}: utbetalning nr 0: diariet har ingen händelse om utbetalningen på 100\u00a0000\u00a0kr" in out
    await execute(harness, "UPDATE case_events SET summary = %s WHERE case_number = %s AND event_id = %s",
                  note["summary"], number, note["event_id"])
    async with harness.pool.connection() as conn:
        await conn.execute(REWRITE_CHAIN, {"n": number})
    code, out, _ = await cli("audit", "verify", "--all")
    assert code == 0, out

    # The case's row deleted, with the foreign keys switched off: its rows and its history remain.
    async with harness.pool.connection() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute("DELETE FROM cases WHERE case_number = %s", (number,))
    code, out, _ = await cli("audit", "verify", number)
    assert code == 1
    assert f"{number}: ärendets rad: saknas i diariet, men ärendet finns i historiken" in out, out
    # The case deleted whole, every row that names it: its number was handed out, and Temporal has it.
    async with harness.pool.connection() as conn, conn.transaction():
        cursor = await conn.execute("SELECT conrelid::regclass::text FROM pg_constraint"
                                    " WHERE contype = 'f' AND confrelid = 'cases'::regclass")
        for (table,) in await cursor.fetchall():
            await conn.execute(f"DELETE FROM {table} WHERE case_number = %s", (number,))
    code, out, _ = await cli("audit", "verify", "--all")
    assert code == 1
    assert (f"{number}: hela ärendet: finns inte i diariet, men numret är utdelat (räknaren för {number[:4]} står "
            "på 1); Temporal har ärendets arbetsflöde: ärendet är borttaget") in out, out
