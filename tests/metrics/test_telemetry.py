"""The process's Temporal runtime: one, made once; its SDK exporter on loopback, found again if its port is taken.

Each test runs in a fresh interpreter: the runtime is process-wide, and the tests' own process must
keep the SDK's default.
"""

from __future__ import annotations

import subprocess
import sys

from tests.e2e.test_cli_end_to_end import ROOT

SCRIPT = """
import socket
from unittest import mock
from infra import telemetry

taken = socket.socket()
taken.bind(("127.0.0.1", 0))
taken.listen()
ports = iter([taken.getsockname()[1]])
real = telemetry.free_loopback_port
with mock.patch.object(telemetry, "free_loopback_port", lambda: next(ports, None) or real()):
    runtime = telemetry.configure_runtime(sdk_metrics=True)
address = telemetry.sdk_metrics_address()
assert address is not None and address.startswith("127.0.0.1:"), address
assert address != f"127.0.0.1:{taken.getsockname()[1]}"
assert telemetry.configure_runtime(sdk_metrics=False) is runtime  # once per process
assert telemetry.temporal_runtime() is runtime
import urllib.request
urllib.request.urlopen(f"http://{address}/metrics", timeout=10).read()
print("ok")
"""


def test_the_sdk_exporter_finds_another_port_when_its_first_is_taken() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr
