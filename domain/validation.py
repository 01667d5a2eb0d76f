"""Validation: a call, an application and the instant it arrived give the findings."""

from __future__ import annotations

from datetime import datetime

from domain.application import Application
from domain.call import Call, FormRules
from domain.findings import Verdict
from domain.rules.base import Submission


def validate(call: Call, form: FormRules, application: Application, received_at: datetime) -> Verdict:
    """Every rule of the form and of the call, in file order: the officer's checklist."""
    submission = Submission(terms=call, application=application, received_at=received_at)
    return Verdict(findings=[f for rule in (*form.rules, *call.rules) for f in rule.evaluate(submission)])
