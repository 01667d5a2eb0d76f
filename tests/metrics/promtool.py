"""Running deploy/prometheus/alerts.yaml through `promtool test rules` (Debian package prometheus)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.test_cli_end_to_end import ROOT
from tests.metrics.support import samples

PROMTOOL = shutil.which("promtool")
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"
ALERTS_TEST = ROOT / "deploy" / "prometheus" / "alerts_test.yaml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, check=False)


def rule(name: str) -> dict[str, Any]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    found: dict[str, Any] = next(r for g in groups for r in g["rules"] if r.get("alert") == name)
    return found


def expected_alert(name: str, **labels: str) -> dict[str, Any]:
    """The alert as promtool reports it: the rule's labels with `labels`, its annotations rendered."""
    found = rule(name)

    def render(template: str) -> str:
        return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], template)

    return {"exp_labels": {**found.get("labels", {}), **labels},
            "exp_annotations": {key: render(text) for key, text in found["annotations"].items()}}


def _series(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return f"{name}{{{inner}}}"


@dataclass
class Observed:
    """Samples scraped at a fixed interval, kept as promtool's input series ("_" where a series was absent)."""

    interval: float  # seconds
    scrapes: int = 0
    series: dict[str, list[str]] = field(default_factory=dict)

    def add(self, exposition: str, *names: str) -> None:
        for sample in samples(exposition):
            if sample.name in names:
                key = _series(sample.name, sample.labels)
                self.series.setdefault(key, ["_"] * self.scrapes).append(repr(sample.value))
        self.scrapes += 1
        for values in self.series.values():
            values.extend(["_"] * (self.scrapes - len(values)))

    def input_series(self) -> list[dict[str, str]]:
        return [{"series": key, "values": " ".join(values)} for key, values in self.series.items()]


def rule_test(observed: Observed, alertname: str, expected: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    """promtool test rules: the alerts.yaml rule `alertname`, evaluated at the last scrape of `observed`."""
    step = f"{round(observed.interval * 1000)}ms"
    test = {
        "rule_files": [str(ALERTS)],
        "evaluation_interval": step,
        "tests": [{
            "interval": step,
            "input_series": observed.input_series(),
            "alert_rule_test": [{"eval_time": f"{round(observed.interval * 1000) * (observed.scrapes - 1)}ms",
                                 "alertname": alertname, "exp_alerts": expected}],
        }],
    }
    with tempfile.TemporaryDirectory(prefix="grantflow-promtool-") as folder:
        path = Path(folder) / "observed_test.yaml"
        path.write_text(yaml.safe_dump(test, sort_keys=False), encoding="utf-8")
        return promtool("test", "rules", str(path))
