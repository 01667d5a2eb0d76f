"""The process's Temporal runtime: where the SDK's own telemetry goes (its metrics; traces may join).

temporalio's Runtime is process-wide and fixed when a client is made: every client and worker of a
process must be created on the same one, so it is made here, once, before the first connect, and
`infra.temporal.connect` passes it to every Client.connect. Without `configure_runtime` the SDK's
default runtime is used (no metrics), as before.

The SDK's Prometheus exporter listens on loopback only, on a port of its own choosing; it is never
scraped directly. grantflow's /metrics (infra/metrics.py) serves its series together with
grantflow's own, so that operations scrape one target per process (docs/decisions/0031).
"""

from __future__ import annotations

import socket
import threading

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

_lock = threading.Lock()
_runtime: Runtime | None = None
_sdk_metrics_address: str | None = None
_PORT_ATTEMPTS = 5


def free_loopback_port() -> int:
    # The SDK binds the address itself and does not say which port it got for port 0, so a free
    # one is found first; another process may take it in between (configure_runtime tries again).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def configure_runtime(*, sdk_metrics: bool) -> Runtime:
    """Make the process's runtime (once; later calls return the first one, whatever they ask)."""
    global _runtime, _sdk_metrics_address
    with _lock:
        if _runtime is not None:
            return _runtime
        if not sdk_metrics:
            _runtime = Runtime(telemetry=TelemetryConfig())
            return _runtime
        for attempt in range(_PORT_ATTEMPTS):
            address = f"127.0.0.1:{free_loopback_port()}"
            metrics = PrometheusConfig(
                bind_address=address,
                # Prometheus' conventions: counters end in _total, durations are seconds and say so.
                counters_total_suffix=True,
                unit_suffix=True,
                durations_as_seconds=True,
            )
            try:
                _runtime = Runtime(telemetry=TelemetryConfig(metrics=metrics))
            except ValueError:  # "Failed starting Prometheus exporter": the port was taken meanwhile
                if attempt == _PORT_ATTEMPTS - 1:
                    raise
                continue
            _sdk_metrics_address = address
            return _runtime
        raise AssertionError("unreachable")


def temporal_runtime() -> Runtime | None:
    """The runtime every client of this process is made on; None: the SDK's default."""
    return _runtime


def sdk_metrics_address() -> str | None:
    """HOST:PORT of the SDK's own Prometheus exporter (loopback), when the runtime has one."""
    return _sdk_metrics_address
