"""`grantflow up | worker | db upgrade`: running the system."""

from __future__ import annotations

import argparse
from typing import Any

from infra.settings import Settings, client_settings, forwarded_allow_ips
from infra.temporal import connect, run_command

EXIT_OK = 0


def cmd_up(args: argparse.Namespace) -> int:
    from stack.embedded import main_up

    settings = Settings.from_env()
    return main_up(settings, demo=args.demo, port=args.port, ui_port=args.ui_port, api_port=args.api_port,
                   metrics_port=_metrics_port(args, settings, default=True), codec_port=args.codec_port)


def _metrics_port(args: argparse.Namespace, settings: Settings, *, default: bool) -> int | None:
    """--metrics-port, else GRANTFLOW_METRICS_PORT, else `up`'s default (the worker and the API: none)."""
    from worker.metrics import DEFAULT_METRICS_PORT

    if args.metrics_port is not None:
        return int(args.metrics_port)
    return settings.metrics_port or (DEFAULT_METRICS_PORT if default else None)


def cmd_worker(args: argparse.Namespace) -> int:
    from worker.main import main_worker

    settings = Settings.from_env()
    if args.metrics_port is not None:
        settings = settings.model_copy(update={"metrics_port": args.metrics_port})
    return main_worker(settings)


def port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} är inget portnummer (1–65535)")
    return int(text)


def trusted_proxies(text: str) -> str:
    try:
        return forwarded_allow_ips(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def uvicorn_config(app: Any, args: argparse.Namespace, settings: Settings) -> Any:
    """uvicorn's settings for `grantflow api`: X-Forwarded-* believed only from the proxies named."""
    import uvicorn

    trusted = args.forwarded_allow_ips or settings.forwarded_allow_ips
    # log_config=None: uvicorn's lines go through the process's own logging (worker.logging), masked
    # and in the configured format, not through uvicorn's handlers.
    return uvicorn.Config(app, host=args.host, port=args.port, log_level="info", log_config=None,
                          proxy_headers=True, forwarded_allow_ips=trusted)


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from infra.tracing import start_from_env
    from services.register import open_register_pool
    from worker.logging import configure_logging

    settings = client_settings()
    # Before anything can fail: an error's traceback is then text without its frames' values, its
    # message withheld where it may quote what someone sent, and personnummer masked.
    configure_logging(settings.log_format)
    start_from_env("grantflow-api")  # traces, if an OTLP endpoint is configured

    async def serve() -> None:
        # Temporal and the database are reached before uvicorn starts: one that does not answer is
        # one line and exit 3 (cli.main), not a traceback from the application's startup.
        from services.register import database_url
        from worker.metrics import start_metrics

        metrics_port = _metrics_port(args, settings, default=False)
        metrics = start_metrics(settings, await database_url(settings), port=metrics_port)
        client = await connect(settings)
        pool = await open_register_pool(settings)
        try:
            app = create_app(settings, client=client, pool=pool)
            await uvicorn.Server(uvicorn_config(app, args, settings)).serve()
        finally:
            await pool.close()
            if metrics is not None:
                metrics.close()

    run_command(serve())
    return EXIT_OK


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from activities.db import upgrade
    from services.register import database_url

    async def run() -> list[str]:
        return await upgrade(await database_url(client_settings()))

    applied = run_command(run())
    print("applied: " + ", ".join(applied) if applied else "the database schema is up to date")
    return EXIT_OK


def add_commands(commands: Any) -> None:
    up = commands.add_parser("up", help="start the whole system on this machine (Temporal, PostgreSQL, worker, API)")
    up.add_argument("--demo", action="store_true",
                    help="also open copies of the calls, add example cases and print a sign-in token per role")
    up.add_argument("--port", type=port, default=7233, help="Temporal's port on 127.0.0.1 (default 7233)")
    up.add_argument("--ui-port", type=port, default=8233, help="Temporal UI's port (default 8233)")
    up.add_argument("--api-port", type=port, default=8000, help="the HTTP API's port on 127.0.0.1 (default 8000)")
    up.add_argument("--metrics-port", type=port, help="Prometheus /metrics on 127.0.0.1 (default "
                    "GRANTFLOW_METRICS_PORT, else 9464)")
    up.add_argument("--codec-port", type=port, default=8234,
                    help="the codec server's port on 127.0.0.1, where Temporal UI decrypts payloads (default 8234)")
    up.set_defaults(run=cmd_up)

    worker = commands.add_parser("worker", help="run a worker against the configured Temporal and database")
    worker.add_argument("--metrics-port", type=port, help="serve Prometheus /metrics on this port "
                        "(default GRANTFLOW_METRICS_PORT; none when unset)")
    worker.set_defaults(run=cmd_worker)

    api = commands.add_parser("api", help="run the HTTP API against the configured Temporal and database")
    api.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    api.add_argument("--port", type=port, default=8000, help="port to listen on (default 8000)")
    api.add_argument("--metrics-port", type=port, help="serve Prometheus /metrics on this port "
                     "(default GRANTFLOW_METRICS_PORT; none when unset)")
    api.add_argument("--forwarded-allow-ips", type=trusted_proxies, metavar="IPS",
                     help="the TLS proxy's addresses (comma-separated IPs or networks, or *), whose "
                     "X-Forwarded-Proto/-For are believed (default GRANTFLOW_FORWARDED_ALLOW_IPS, else 127.0.0.1)")
    api.set_defaults(run=cmd_api)

    db = commands.add_parser("db", help="database administration")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="apply the schema migrations")
    upgrade.set_defaults(run=cmd_db_upgrade)
