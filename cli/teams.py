"""`grantflow teams add | remove | list`: the teams of staff that the inbox's "my team's cases" reads.

Register data kept by administrators (docs/decisions/0035); the API's `/teams` does the same through
the same service (services/teams.py).
"""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Any

from cli.users import EXIT_OK, _guarded, _run
from domain.clock import format_instant_sv
from services import teams

FIELDS = {"team": "TEAM", "person": "PERSON", "added_by": "--by"}


def _by(args: argparse.Namespace) -> str:
    # Who adds is recorded; at the terminal, the account running the command unless told otherwise.
    if args.by is not None:
        return teams.check_person(args.by, FIELDS["added_by"])  # a person id, never a personnummer
    return f"cli:{getpass.getuser()}"[:100]


def cmd_add(args: argparse.Namespace) -> int:
    by = _by(args)
    change = _run(lambda settings: teams.add_with(settings, args.team, args.persons, by,
                                                  team_field=FIELDS["team"], person_field=FIELDS["person"]))
    already = sorted(set(args.persons) - set(change.changed))
    if change.changed:
        print(f"Tillagda i {change.team.name}: {', '.join(change.changed)}.")
    if already:
        print(f"Redan med i {change.team.name}: {', '.join(already)}.")
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    change = _run(lambda settings: teams.remove_with(settings, args.team, args.person,
                                                     team_field=FIELDS["team"], person_field=FIELDS["person"]))
    if change.changed:
        print(f"{args.person} är inte längre med i {args.team}.")
    else:
        print(f"{args.person} var inte med i {args.team}; inget ändrades.")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    found = _run(teams.list_with)
    if args.json:
        print(json.dumps([t.model_dump(mode="json") for t in found], ensure_ascii=False, indent=2))
        return EXIT_OK
    if not found:
        print("Inga team. Lägg till ett med `grantflow teams add TEAM PERSON...`.")
    for team in found:
        print(team.name)
        for member in team.members:
            print(f"  {member.person}\ttillagd {format_instant_sv(member.added_at)} av {member.added_by}")
    return EXIT_OK


def add_commands(commands: Any) -> None:
    group = commands.add_parser("teams", help="teams of staff, for the inbox's \"my team's cases\"")
    team_commands = group.add_subparsers(dest="teams_command", required=True, parser_class=type(group))

    add = team_commands.add_parser("add", help="add people to a team (made with its first member)")
    add.add_argument("team", metavar="TEAM", help="the team's name, e.g. handlaggning-norr")
    add.add_argument("persons", metavar="PERSON", nargs="+", help="person ids as they sign in, e.g. anna")
    add.add_argument("--by", metavar="ID", help="who adds them (default: cli:<the account running this>)")
    add.set_defaults(run=_guarded(cmd_add))

    remove = team_commands.add_parser("remove", help="take a person out of a team")
    remove.add_argument("team", metavar="TEAM")
    remove.add_argument("person", metavar="PERSON")
    remove.set_defaults(run=_guarded(cmd_remove))

    listing = team_commands.add_parser("list", help="every team and its members")
    listing.add_argument("--json", action="store_true", help="machine-readable")
    listing.set_defaults(run=_guarded(cmd_list))
