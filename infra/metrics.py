"""One /metrics per process: the Temporal SDK's series and grantflow's, in one exposition.

The SDK's Rust core exports its metrics (temporal_*) on a loopback port of its own
(infra/telemetry.py). This server, on the port operations configure, answers a scrape with
grantflow's registry (prometheus-client: the register's gauges, the process's CPU and memory)
followed by the SDK's text as the SDK wrote it. The two never share a metric name (grantflow_*,
process_* and temporal_*), so the concatenation is one valid text exposition (format 0.0.4), and
Prometheus has one target per process (docs/decisions/0031).

A plain threaded HTTP server: scrapes are served off the event loop, so a busy worker still answers.
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.registry import Collector

from infra.telemetry import sdk_metrics_address

_log = structlog.get_logger(__name__)
SDK_TIMEOUT = 5.0  # seconds; the SDK's exporter is in this process, on loopback


def sdk_exposition(address: str | None) -> bytes:
    """The SDK's own exposition, or b"" when this process has none (or it did not answer)."""
    if address is None:
        return b""
    try:
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=SDK_TIMEOUT) as answer:
            text: bytes = answer.read()
    except OSError as exc:
        _log.warning("the Temporal SDK's metrics did not answer", address=address, error=str(exc))
        return b""
    return text if text.endswith(b"\n") or not text else text + b"\n"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    registry: CollectorRegistry


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        if self.path.partition("?")[0] != "/metrics":
            self.send_error(404, "only /metrics is served here")
            return
        body = generate_latest(self.server.registry) + sdk_exposition(sdk_metrics_address())
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE_LATEST)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per scrape every 15 s is noise in the process's log


class MetricsServer:
    """Serving http://host:port/metrics in a thread of its own until `close`."""

    def __init__(self, host: str, port: int, collectors: Iterable[Collector] = ()) -> None:
        registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=registry)
        self.collectors = list(collectors)
        for collector in self.collectors:
            registry.register(collector)
        self._http = _Server((host, port), _Handler)  # OSError when the port is taken
        self._http.registry = registry
        self._thread = threading.Thread(target=self._http.serve_forever, name="metrics", daemon=True)
        self._thread.start()
        self.host, self.port = host, int(self._http.server_address[1])
        _log.info("metrics served", url=self.url)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        for collector in self.collectors:
            close = getattr(collector, "close", None)
            if close is not None:
                close()
