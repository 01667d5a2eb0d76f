"""`grantflow audit ...`: the auditors' tools. Each subcommand lives in a module of its own
(cli/audit_*.py) that adds itself with `add_command(audit_commands)`."""

from __future__ import annotations

from typing import Any

from cli import audit_replay


def add_commands(commands: Any) -> None:
    audit = commands.add_parser(
        "audit", help="the auditors' tools: a case's story, replay against this code, verify the register",
    )
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    audit_replay.add_command(audit_commands)
    del audit_commands  # the subcommands' modules register here


__all__ = ["add_commands"]
