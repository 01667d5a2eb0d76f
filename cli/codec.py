"""`grantflow codec-server | codec-key`: Temporal UI's decryption of payloads, and making a new key.

See docs/decisions/0028: what is encrypted, how keys are rotated, and who may decrypt.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from infra.codec import KeyFormatError, generate_key
from infra.errors import InputError
from infra.settings import client_settings
from infra.temporal import run_command

EXIT_OK = 0


def cmd_codec_server(args: argparse.Namespace) -> int:
    import uvicorn

    from api.codec_server import codec_for, create_codec_app
    from services.register import open_register_pool
    from worker.logging import configure_logging

    settings = client_settings()
    configure_logging(settings.log_format)  # as `grantflow api`: masked, in the configured format
    codec_for(settings)  # keys that cannot be used: one line naming the variable, before anything starts
    origins = args.ui_origin or ["http://127.0.0.1:8233", "http://localhost:8233"]

    async def serve() -> None:
        pool = await open_register_pool(settings)  # sign-in; unreachable: one line and exit 3 (cli.main)
        try:
            config = uvicorn.Config(create_codec_app(settings, ui_origins=origins, pool=pool), host=args.host,
                                    port=args.port, log_level="info", log_config=None, proxy_headers=True)
            await uvicorn.Server(config).serve()
        finally:
            await pool.close()

    run_command(serve())
    return EXIT_OK


def cmd_codec_key(args: argparse.Namespace) -> int:
    try:
        print(generate_key(args.id))
    except KeyFormatError as exc:
        raise InputError.one("--id", str(exc)) from None
    return EXIT_OK


def origin(text: str) -> str:
    """A browser origin, as CORS compares it: scheme, host and port, nothing after."""
    if re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", text, re.ASCII) is None:
        raise argparse.ArgumentTypeError(f"{text!r} är ingen origin som https://temporal.myndigheten.se")
    return text


def add_commands(commands: Any) -> None:
    from cli.ops import port

    server = commands.add_parser("codec-server", help="decrypt payloads for Temporal UI, for people who may read cases")
    server.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    server.add_argument("--port", type=port, default=8234, help="port to listen on (default 8234)")
    server.add_argument("--ui-origin", action="append", metavar="URL", type=origin,
                        help="Temporal UI's origin, e.g. https://temporal.myndigheten.se (repeatable; "
                             "default http://127.0.0.1:8233 and http://localhost:8233)")
    server.set_defaults(run=cmd_codec_server)

    key = commands.add_parser("codec-key", help="print a new payload encryption key (ID:BASE64) for the configuration")
    key.add_argument("--id", metavar="ID", help="the key's id (default k and today's date, e.g. k20261205)")
    key.set_defaults(run=cmd_codec_key)
