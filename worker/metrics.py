"""Starting a process's /metrics: the Temporal runtime with the SDK's exporter, and the register's gauges.

Called by each entry point (`grantflow worker`, `grantflow api`, `grantflow up`) before it connects to
Temporal: the runtime a client is made on cannot be changed afterwards (infra/telemetry.py).
"""

from __future__ import annotations

from activities.gauges import RegisterGauges
from infra.metrics import MetricsServer
from infra.settings import Settings, SettingsError
from infra.telemetry import configure_runtime

DEFAULT_METRICS_PORT = 9464  # `grantflow up`'s; the worker and the API serve none unless given one


def start_metrics(settings: Settings, database_url: str | None = None, *, host: str | None = None,
                  port: int | None = None) -> MetricsServer | None:
    """Serve /metrics on `port` (else GRANTFLOW_METRICS_PORT); None when neither is set.

    The register's gauges are read from `database_url` (else the settings'), unless
    GRANTFLOW_METRICS_REGISTER is false.
    """
    port = port if port is not None else settings.metrics_port
    if port is None:
        return None
    host = host or settings.metrics_host
    conninfo = database_url or settings.database_url
    collectors = [RegisterGauges(conninfo)] if settings.metrics_register and conninfo is not None else []
    try:
        server = MetricsServer(host, port, collectors)
    except OSError as exc:
        raise SettingsError.one("GRANTFLOW_METRICS_PORT",
                                f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
    configure_runtime(sdk_metrics=True)  # the server reads the SDK's exporter on each scrape, from then on
    return server
