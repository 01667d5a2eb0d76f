"""The Temporal client: connecting with grantflow's data converter, and running one command with it."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from temporalio.client import Client
from temporalio.service import TLSConfig

from infra.converter import data_converter
from infra.errors import Unavailable
from infra.settings import Settings
from infra.telemetry import temporal_runtime
from infra.tracing import client_interceptors

T = TypeVar("T")



def tls_config(settings: Settings) -> TLSConfig | bool:
    if not settings.tls_enabled:
        return False

    def read(path: Path | None) -> bytes | None:
        return path.read_bytes() if path is not None else None

    if settings.temporal_tls_cert is None and settings.temporal_tls_ca is None:
        return True  # TLS with the system's root certificates, no client certificate
    return TLSConfig(
        server_root_ca_cert=read(settings.temporal_tls_ca),
        client_cert=read(settings.temporal_tls_cert),
        client_private_key=read(settings.temporal_tls_key),
    )


def collect_clients() -> None:
    """Free Temporal clients that are no longer referenced, now, while the event loop still runs.

    A Client sits in a reference cycle, so plain reference counting never frees it; left to the
    interpreter's shutdown, the SDK's Rust threads then crash the process (SIGABRT or SIGSEGV) after
    its work is done: about one short client run in five here (temporalio 1.35, Python 3.11;
    temporalio/sdk-python#300). Call it last thing in the coroutine that asyncio.run runs.
    """
    gc.collect()


def run_command(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run(main) for a command that uses a Temporal client: exits cleanly (see collect_clients)."""

    async def runner() -> T:
        try:
            return await main
        finally:
            collect_clients()

    return asyncio.run(runner())


class TemporalUnavailable(Unavailable):
    """No connection to the Temporal frontend (down, wrong address, or a TLS problem)."""


async def connect(settings: Settings) -> Client:
    # Always grantflow's converter (infra/converter.py): pydantic models, Decimal, tz-aware datetimes,
    # encrypted with the configured keys; SettingsError when there are none.
    converter = data_converter(settings)
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            tls=tls_config(settings),
            data_converter=converter,
            interceptors=client_interceptors(),  # none unless tracing is on (infra/tracing.py)
            runtime=temporal_runtime(),  # the process's one runtime (infra/telemetry.py)
        )
    except RuntimeError as exc:  # what the SDK raises for any failed connect
        raise TemporalUnavailable(f"cannot connect to Temporal at {settings.temporal_address}: {exc}") from exc
