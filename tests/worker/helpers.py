"""What the worker tests share: free ports and a worker that needs no database."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from infra.settings import Settings
from tests.worker.echo import EchoWorkflow, echo
from worker import registry
from worker.main import Components, Pool


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def up_service_ports() -> list[str]:
    """`grantflow up`'s arguments for its other listeners, each on a free port: tests run in parallel,
    and two stacks on the defaults (8000, 9464, ...) would take each other's ports."""
    return ["--api-port", str(free_port()), "--metrics-port", str(free_port()), "--codec-port", str(free_port())]


@dataclass
class FakePool:
    url: str
    closed: bool = False

    async def close(self) -> None:
        self.closed = True


@dataclass
class EchoComponents:
    """Components for a worker that runs EchoWorkflow and records what it was given."""

    pools: list[FakePool] = field(default_factory=list)
    upgraded: list[str] = field(default_factory=list)

    async def open_pool(self, url: str) -> Pool:
        pool = FakePool(url)
        self.pools.append(pool)
        return pool

    async def upgrade(self, url: str) -> None:
        self.upgraded.append(url)

    def components(self) -> Components:
        return Components(
            workflows=lambda: [EchoWorkflow],
            workflow_runner=registry.workflow_runner,
            activities=lambda pool, settings, client: [echo],
            open_pool=self.open_pool,
            upgrade=self.upgrade,
        )


def processes_mentioning(text: str) -> list[int]:
    """Pids of running processes whose command line contains `text` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # A zombie's cmdline is empty: only processes still running can match.
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def local_settings(port: int, **overrides: object) -> Settings:
    return Settings.model_validate({"temporal_address": f"127.0.0.1:{port}", **overrides})
