#!/usr/bin/env python3
"""Register grantflow's custom search attributes in a Temporal namespace. Run once per namespace
(again after an upgrade that adds attributes: it only adds what is missing).

Connects with the same GRANTFLOW_TEMPORAL_* variables as the worker, so the same TLS files work:

    GRANTFLOW_TEMPORAL_ADDRESS=temporal.internal:7233 GRANTFLOW_TEMPORAL_NAMESPACE=grantflow \\
        .venv/bin/python deploy/register_search_attributes.py

It needs permission to call the operator service (an admin certificate on a self-hosted cluster).
Where that is not allowed, --print-cli prints the equivalent `temporal operator` commands for an
administrator to run. (Temporal Cloud adds search attributes through tcld or the Cloud UI instead.)
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from temporalio.service import RPCError

from infra.settings import Settings, SettingsError
from infra.temporal import TemporalUnavailable, connect, run_command
from worker.main import EXIT_CONFIG, print_input_error
from worker.search_attributes import SEARCH_ATTRIBUTES, SearchAttributeConflict, register_search_attributes

# The temporal CLI's names for the index types we use.
CLI_TYPES = {"KEYWORD": "Keyword", "INT": "Int", "DATETIME": "Datetime"}


def cli_commands(namespace: str) -> list[str]:
    create = ["temporal", "operator", "search-attribute", "create", "--namespace", namespace]
    return [
        shlex.join([*create, "--name", key.name, "--type", CLI_TYPES[key.indexed_value_type.name]])
        for key in SEARCH_ATTRIBUTES
    ]


async def register(settings: Settings) -> list[str]:
    client = await connect(settings)
    return await register_search_attributes(client, settings.temporal_namespace)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Register grantflow's search attributes in a Temporal namespace.")
    parser.add_argument("--print-cli", action="store_true", help="print `temporal operator` commands instead")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print_input_error(exc)
        return EXIT_CONFIG
    if args.print_cli:
        print("\n".join(cli_commands(settings.temporal_namespace)))
        return 0
    try:
        added = run_command(register(settings))
    except (TemporalUnavailable, SearchAttributeConflict, RPCError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    where = f"namespace {settings.temporal_namespace} at {settings.temporal_address}"
    print(f"added to {where}: {', '.join(added)}" if added else f"{where} already has them all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
