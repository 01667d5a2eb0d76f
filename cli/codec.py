"""`grantflow codec-server | codec-key`: Temporal UI's decryption of payloads, and making a new key.

See docs/decisions/0028: what is encrypted, how keys are rotated, and who may decrypt.
"""

from __future__ import annotations

import argparse
from typing import Any

from infra.codec import KeyFormatError, generate_key
from infra.errors import InputError
from infra.settings import client_settings
from infra.temporal import run_command

EXIT_OK = 0


def cmd_codec_server(args: argparse.Namespace) -> int:
    import uvicorn

    from api.codec_server import create_codec_app
    from services.register import open_register_pool

    settings = client_settings()
    origins = args.ui_origin or ["http://127.0.0.1:8233", "http://localhost:8233"]

    async def serve() -> None:
        # The keys and the database are checked before uvicorn starts: one line and an exit code (cli.main).
        pool = await open_register_pool(settings)
        try:
            app = create_codec_app(settings, ui_origins=origins, pool=pool)
            config = uvicorn.Config(app, host=args.host, port=args.port, log_level="info", proxy_headers=True)
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


def add_commands(commands: Any) -> None:
    from cli.ops import port

    server = commands.add_parser("codec-server", help="decrypt payloads for Temporal UI, for people who may read cases")
    server.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    server.add_argument("--port", type=port, default=8234, help="port to listen on (default 8234)")
    server.add_argument("--ui-origin", action="append", metavar="URL",
                        help="Temporal UI's origin, e.g. https://temporal.myndigheten.se (repeatable; "
                             "default http://127.0.0.1:8233 and http://localhost:8233)")
    server.set_defaults(run=cmd_codec_server)

    key = commands.add_parser("codec-key", help="print a new payload encryption key (ID:BASE64) for the configuration")
    key.add_argument("--id", metavar="ID", help="the key's id (default k and today's date, e.g. k20261205)")
    key.set_defaults(run=cmd_codec_key)
