"""`grantflow worker` that kills itself with SIGKILL right after chosen payouts have committed.

`python -m tests.e2e.crashing_worker worker` runs the real command line (cli.main) with one thing
changed, for this process only: the payment ledger's activity (PaymentLedger.pay) is wrapped so
that when a ledger write brings the payout ledger to at least the next of the planned row counts,
the worker dies the moment that transaction has committed, before the activity can complete.
That is the window the fault test must hit for certain: a payout in the ledger that Temporal
never heard of, so that the next attempt, on the next worker, finds the row already written.

Nothing in production code knows about this. The plan comes from the environment:

    FAULT_CRASH_AFTER_ROWS  ledger row counts, comma-separated ("4,11,19"), from the test's FAULT_SEED
    FAULT_CRASH_LOG         a file: one JSON line per crash, written (and synced) before the kill

The log is also the plan's state across restarts: crash n goes with the n-th planned count, and
only an attempt that wrote its row (first_time) crashes, so one key crashes at most once and
its retry is a repeat that finds the row.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from temporalio import activity

from activities.payments import PaymentLedger, PayoutOrder, PayoutReceipt

PLAN = "FAULT_CRASH_AFTER_ROWS"
LOG = "FAULT_CRASH_LOG"

_pay = PaymentLedger.pay


def crashes(log: Path) -> list[dict[str, object]]:
    """The crashes the log records, oldest first."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]


def _planned() -> list[int]:
    return [int(n) for n in os.environ.get(PLAN, "").split(",") if n.strip()]


async def _crash_if_planned(ledger: PaymentLedger, order: PayoutOrder) -> None:
    log = Path(os.environ[LOG])
    done = len(crashes(log))
    plan = _planned()
    if done >= len(plan):
        return
    async with ledger._pool.connection() as conn:
        row = await (await conn.execute("SELECT count(*) FROM payouts")).fetchone()
    assert row is not None
    rows: int = row[0]
    if rows < plan[done]:
        return
    entry = {"case_number": order.case_number, "request_number": order.request_number, "ledger_rows": rows,
             "planned": plan[done], "attempt": activity.info().attempt, "pid": os.getpid()}
    with log.open("a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")
        out.flush()
        os.fsync(out.fileno())
    print(f"crashing_worker: SIGKILL after the ledger commit of {order.end_to_end_id}", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


# `self` unannotated, as in a method: the SDK takes an annotated first parameter for an argument.
@activity.defn(name="payment_pay")
async def pay(self, order: PayoutOrder) -> PayoutReceipt:  # type: ignore[no-untyped-def]
    # The original's transaction has committed when it returns; the activity completes only
    # when this returns to the SDK, which then tells Temporal.
    receipt = await _pay(self, order)
    if receipt.first_time:
        await _crash_if_planned(self, order)
    return receipt


def main() -> None:
    # Patched on the class, before the worker builds its activities from a PaymentLedger.
    PaymentLedger.pay = pay  # type: ignore[method-assign]
    from cli.main import main as grantflow

    sys.exit(grantflow(sys.argv[1:]))


if __name__ == "__main__":
    main()
