"""deploy/prometheus/alerts.yaml is valid, and each rule fires on a synthetic failure and stays silent
on a healthy series (deploy/prometheus/alerts_test.yaml, run by promtool)."""

from __future__ import annotations

import pytest
import yaml

from tests.metrics.promtool import ALERTS, ALERTS_TEST, PROMTOOL, promtool

pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) is missing; "
                                                          ".ci/run installs it")

REQUIRED = {"WorkflowTaskFailing", "ActivityRetriesHigh", "PayoutWaitingForBankFile", "DeadlineOverdue",
            "RecordsRequestNotAnsweredSameDay", "NoWorkerPolling"}


def test_the_rules_are_valid() -> None:
    checked = promtool("check", "rules", str(ALERTS))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_rule_fires_on_its_failure_and_not_on_a_healthy_series() -> None:
    tested = promtool("test", "rules", str(ALERTS_TEST))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_rule_is_tested_both_ways() -> None:
    rules = {r["alert"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]}
    assert rules >= REQUIRED
    firing: set[str] = set()
    silent: set[str] = set()
    for test in yaml.safe_load(ALERTS_TEST.read_text())["tests"]:
        for case in test["alert_rule_test"]:
            (firing if case["exp_alerts"] else silent).add(case["alertname"])
    assert firing == rules, rules - firing
    assert silent == rules, rules - silent
