"""For bench/cases.py --metrics: scraping the grantflow worker's /metrics as Prometheus would, during the run.

Each scrape runs the register's queries and reads the SDK's exporter in the worker: that is the
cost the metrics add, beside the SDK's own recording of every task, which runs with or without a
scrape once the worker serves metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import urllib.request
from dataclasses import dataclass, field


@dataclass
class Scraper:
    port: int | None
    interval: float | None
    took: list[float] = field(default_factory=list)  # seconds per scrape
    size: int = 0
    failures: int = 0
    task: asyncio.Task[None] | None = None

    @classmethod
    def start(cls, port: int | None, interval: float | None) -> Scraper:
        scraper = cls(port, interval)
        if port is not None and interval is not None:
            scraper.task = asyncio.create_task(scraper._run())
        return scraper

    def _scrape(self) -> None:
        started = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as answer:
            self.size = len(answer.read())
        self.took.append(time.perf_counter() - started)

    async def _run(self) -> None:
        assert self.interval is not None
        while True:
            try:
                await asyncio.to_thread(self._scrape)
            except OSError:
                self.failures += 1  # the worker is still starting, or busy: Prometheus would miss one too
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    def describe(self) -> str:
        if self.port is None:
            return "metrics off"
        return f"metrics on (worker's /metrics scraped every {self.interval:g} s)"

    def summary(self) -> str:
        if not self.took:
            return "off" if self.port is None else f"no scrape answered ({self.failures} failed)"
        return (f"{len(self.took)} scrapes, median {statistics.median(self.took) * 1000:.1f} ms, "
                f"max {max(self.took) * 1000:.1f} ms, {self.size / 1024:.0f} KiB each, {self.failures} failed")
