"""`grantflow audit ...`: the auditors' tools. Each subcommand lives in a module of its own
(cli/audit_*.py) that adds itself with `add_command(audit_commands)`."""

from __future__ import annotations

from typing import Any

from cli import audit_history, audit_replay, audit_verify


def add_commands(commands: Any) -> None:
    audit = commands.add_parser(
        "audit", help="the auditors' tools: a case's story, replay against this code, verify the register",
    )
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    audit_history.add_command(audit_commands)
    audit_verify.add_command(audit_commands)
    audit_replay.add_command(audit_commands)


__all__ = ["add_commands"]
