"""What a grantflow worker runs: every workflow class and every activity, in one list each.

A workflow or activity that is not listed here is never polled for, and its cases wait forever,
so a new one is added here in the same change that adds it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.archive import Archive
from activities.budget import BudgetLedger
from activities.checks import check_application
from activities.letters import Letters, SmtpSettings
from activities.payments import PaymentLedger
from activities.rates import read_reference_rates
from activities.register import Register
from activities.state_aid import ExchangeRateReader, StateAidRecord
from infra.settings import Settings, SmtpConfig
from workflows.archive import ArchiveWorkflow
from workflows.call import CallWorkflow
from workflows.case import CaseWorkflow
from workflows.intake import IntakeWorkflow

# Pure domain code and the models activities exchange are deterministic and import-heavy
# (pydantic builds every model class on import): pass them through the sandbox instead of
# re-importing them for every workflow run, which dominated the cost of starting a case.
PASSTHROUGH = ("domain", "activities", "workflows.messages", "workflows.policies", "workflows.search_attributes",
               "pydantic", "pydantic_core", "annotated_types", "structlog", "psycopg", "psycopg_pool", "xmlschema",
               "elementpath")
STRICT = SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)


def workflow_runner(*, strict: bool = False) -> WorkflowRunner:
    """How the workflows run: in the sandbox for the tests (`strict`), without it in a deployed worker.

    The sandbox re-imports each workflow's module into a sandbox of its own and refuses clocks,
    randomness and I/O in workflow code: every test runs the workflows that way, so such a call
    fails a test. A deployed worker runs the same tested code without it, because the sandbox
    was most of a case's cost in the worker, in time and in memory
    (docs/decisions/0009-workflows-unsandboxed-in-production.md).
    """
    return SandboxedWorkflowRunner(restrictions=STRICT) if strict else UnsandboxedWorkflowRunner()


def workflows() -> list[type]:
    return [CaseWorkflow, CallWorkflow, IntakeWorkflow, ArchiveWorkflow]


def _smtp(config: SmtpConfig | None) -> SmtpSettings | None:
    if config is None:
        return None
    return SmtpSettings(
        host=config.host,
        port=config.port,
        username=config.username,
        password=config.password,
        sender=config.sender,
        starttls=config.starttls,
    )


def activities(pool: AsyncConnectionPool, settings: Settings, client: Client) -> list[Callable[..., Any]]:
    register = Register(pool, mails_letters=settings.smtp is not None)
    letters = Letters(pool, _smtp(settings.smtp))
    ledger = BudgetLedger(pool)
    payments = PaymentLedger(pool)
    archive = Archive(pool, client)
    state_aid = StateAidRecord(pool)
    exchange_rates = ExchangeRateReader(settings.exchange_rates_file)
    return [
        register.register_application,
        register.open_case,
        register.write,
        register.cases_in_running,
        letters.send_letter,
        ledger.grant,
        ledger.release,
        ledger.adjust,
        payments.pay,
        archive.archive_case,
        check_application,
        read_reference_rates,
        exchange_rates.read,
        state_aid.totals,
        state_aid.record,
    ]
