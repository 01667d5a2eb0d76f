"""`grantflow users add | list | revoke`: the API's development users and their tokens.

A token is printed once, when it is issued; the database keeps only its hash. In production people
sign in through the identity provider instead (deploy/README.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import psycopg

from domain.clock import format_instant_sv
from domain.users import ApiRole
from infra.errors import InputError
from infra.settings import Settings, client_settings
from infra.temporal import run_command
from services import users

EXIT_OK, EXIT_UNAVAILABLE = 0, 3
T = TypeVar("T")

ROLE_SV = {
    ApiRole.APPLICANT: "sökande",
    ApiRole.OFFICER: "handläggare",
    ApiRole.DECISION_MAKER: "beslutsfattare",
    ApiRole.FINANCE: "ekonomi",
    ApiRole.AUDITOR: "revisor",
    ApiRole.OPERATIONS: "drift",
    ApiRole.ADMINISTRATOR: "administratör",
}
# The service's fields as this command's arguments, for its error lines.
ARGUMENTS = {"id": "NAME", "role": "--role", "name": "--name", "org_number": "--org"}


class _DatabaseProblem(Exception):
    pass


def _as_arguments(exc: InputError) -> InputError:
    return InputError([p.model_copy(update={"field": ARGUMENTS.get(p.field, p.field)}) for p in exc.problems])


def _run(work: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    settings = client_settings()
    try:
        return run_command(work(settings))
    except psycopg.errors.UndefinedTable:
        raise _DatabaseProblem("database: tabellen saknas; kör `grantflow db upgrade`") from None
    except psycopg.OperationalError as exc:  # also the pool's timeout: the server is not there
        raise _DatabaseProblem(f"database: {exc}") from None


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except InputError as exc:
            raise _as_arguments(exc) from None
        except _DatabaseProblem as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_UNAVAILABLE

    return run


def _who(user: users.User) -> str:
    org = f", {user.org_number}" if user.org_number else ""
    return f"{user.id} ({ROLE_SV[user.role]}{org})"


def cmd_add(args: argparse.Namespace) -> int:
    user = users.new_user(args.user, args.role, name=args.name, org_number=args.org)
    issued = _run(lambda settings: users.add_user(settings, user))
    if issued.new:
        print(f"Användaren {_who(issued.user)} har lagts till.")
    else:
        print(f"Ny token för {_who(issued.user)}; den tidigare gäller inte längre.")
    print("Token (visas bara nu; spara den, grantflow har bara dess hash):")
    print(issued.token)
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    found = _run(users.list_all)
    if args.json:
        print(json.dumps([u.model_dump(mode="json") for u in found], ensure_ascii=False, indent=2))
        return EXIT_OK
    if not found:
        print("Inga användare. Lägg till en med `grantflow users add NAMN --role ROLL`.")
    for user in found:
        status = (f"återkallad {format_instant_sv(user.revoked_at)}" if user.revoked_at is not None
                  else f"token utfärdad {format_instant_sv(user.issued_at)}")
        print(f"{user.id}\t{ROLE_SV[user.role]}\t{user.org_number or '–'}\t{user.name}\t{status}")
    return EXIT_OK


def cmd_revoke(args: argparse.Namespace) -> int:
    user_id = users.check_id(args.user)
    role = ApiRole(args.role) if args.role is not None else None
    revoked = _run(lambda settings: users.revoke_user(settings, user_id, role))
    if not revoked:
        print(f"{user_id} har ingen giltig token att återkalla.")
    for user in revoked:
        print(f"Återkallad: {_who(user)}. Dess token gäller inte längre.")
    return EXIT_OK


def add_commands(commands: Any) -> None:
    roles = [role.value for role in ApiRole]
    group = commands.add_parser("users", help="the API's development users and their tokens")
    user_commands = group.add_subparsers(dest="users_command", required=True, parser_class=type(group))

    add = user_commands.add_parser("add", help="add a user (or give one a new token); prints the token once")
    add.add_argument("user", metavar="NAME", help="the user id, e.g. anna (recorded as the actor in cases)")
    add.add_argument("--role", required=True, choices=roles, help="what the user is")
    add.add_argument("--org", metavar="ORGNR", help="an applicant's organisation number (required for applicant)")
    add.add_argument("--name", metavar="FULL_NAME", help="the user's full name (default: NAME)")
    add.set_defaults(run=_guarded(cmd_add))

    listing = user_commands.add_parser("list", help="list the users (never their tokens)")
    listing.add_argument("--json", action="store_true", help="machine-readable")
    listing.set_defaults(run=_guarded(cmd_list))

    revoke = user_commands.add_parser("revoke", help="revoke a user's tokens")
    revoke.add_argument("user", metavar="NAME", help="the user id")
    revoke.add_argument("--role", choices=roles, help="only this role's token (default: all of the user's)")
    revoke.set_defaults(run=_guarded(cmd_revoke))
