"""What a grantflow worker runs: every workflow class and every activity, in one list each.

A workflow or activity that is not listed here is never polled for, and its cases wait forever,
so a new one is added here in the same change that adds it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.archive import Archive
from activities.budget import BudgetLedger
from activities.checks import check_application
from activities.letters import Letters, SmtpSettings
from activities.payments import PaymentLedger
from activities.rates import read_reference_rates
from activities.register import Register
from services.settings import Settings, SmtpConfig
from workflows.archive import ArchiveWorkflow
from workflows.call import CallWorkflow
from workflows.case import CaseWorkflow
from workflows.intake import IntakeWorkflow

# Pure domain code and the models activities exchange are deterministic and import-heavy
# (pydantic builds every model class on import): pass them through the sandbox instead of
# re-importing them for every workflow run, which dominated the cost of starting a case.
PASSTHROUGH = ("domain", "activities", "workflows.messages", "workflows.search_attributes", "pydantic",
               "pydantic_core", "annotated_types", "structlog", "psycopg", "psycopg_pool", "xmlschema", "elementpath")


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))


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
    register = Register(pool)
    letters = Letters(pool, _smtp(settings.smtp))
    ledger = BudgetLedger(pool)
    payments = PaymentLedger(pool)
    archive = Archive(pool, client)
    return [
        register.register_application,
        register.record_event,
        register.update_case,
        register.register_document,
        letters.send_letter,
        ledger.grant,
        ledger.release,
        ledger.adjust,
        payments.pay,
        archive.archive_case,
        check_application,
        read_reference_rates,
    ]
