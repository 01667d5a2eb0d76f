"""`grantflow audit history NUMBER [--format text|json|html] [--output FILE]`: the story of a case.

Every step in time order (Stockholm time), who took it in which role, what was decided and why,
letters, payouts, deadlines and readings of the secret parts, from the recorded history and the
register together; a step where they disagree is marked. Exit 0 when they agree, 1 when anything
is marked, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from html import escape
from pathlib import Path
from typing import Any

from domain.money import format_kronor
from infra.errors import InputError
from infra.settings import client_settings
from infra.temporal import run_command
from services.audit_history import ORIGIN_SV, Story, case_story

EXIT_OK, EXIT_DISAGREES = 0, 1


def text(story: Story) -> str:
    lines = [f"Ärende {story.case_number}: {story.subject or '–'} ({story.sender_name or '–'})",
             f"Utlysning: {story.call_id or '–'}. Steg: {story.stage_sv or '–'}"
             + (f", utfall: {story.outcome_sv}" if story.outcome_sv else "")
             + (f", beviljat {format_kronor(story.granted)}" if story.granted is not None else ""),
             f"Historiken läst från {story.source_sv}; {len(story.runs)} "
             + ("körning" if len(story.runs) == 1 else "körningar")
             + ("" if story.complete else " (ofullständig: de äldsta körningarna saknas)"),
             "Tider i svensk tid (Europe/Stockholm).", ""]
    for step in story.steps:
        who = "systemet" if step.actor_role == "system" else f"{step.actor_id} ({step.actor_role_sv})"
        lines.append(f"{step.at_sv}  {who}  [{ORIGIN_SV[step.origin]}]  {step.text}")
        lines += [f"    {detail}" for detail in step.details]
        lines += [f"    AVVIKELSE: {problem}" for problem in step.disagreements]
    marked = {p for s in story.steps for p in s.disagreements}
    rest = [f for f in story.findings if f.problem not in marked]
    lines.append("")
    if story.findings:
        lines.append(f"Historiken och diariet stämmer inte överens: {len(story.findings)} avvikelser.")
        lines += [f"  AVVIKELSE: {f.row}: {f.problem}" for f in rest]
    else:
        lines.append("Historiken och diariet stämmer överens.")
    lines += [f"  INTE KONTROLLERAT: {n.row}: {n.note}" for n in story.notices]
    return "\n".join(lines) + "\n"


_CSS = """
body { font-family: Georgia, 'Times New Roman', serif; margin: 2em; color: #111; }
h1 { font-size: 1.4em; margin-bottom: .2em; }
p.meta { margin: .2em 0; }
table { border-collapse: collapse; width: 100%; margin-top: 1em; font-size: .92em; }
th, td { border-bottom: 1px solid #999; padding: .35em .5em; text-align: left; vertical-align: top; }
th { background: #eee; }
tr.avvikelse td { background: #fde2e2; }
.avvikelse-text { color: #8b0000; font-weight: bold; }
ul { margin: .2em 0; padding-left: 1.2em; }
.summary { margin-top: 1.5em; font-weight: bold; }
@media print {
  body { margin: 1cm; font-size: 10pt; }
  thead { display: table-header-group; }
  tr { page-break-inside: avoid; }
  tr.avvikelse td { background: none; border-left: 3px solid #000; }
}
"""


def html(story: Story) -> str:
    def e(value: Any) -> str:
        return escape(str(value), quote=True)

    rows = []
    for step in story.steps:
        who = "systemet" if step.actor_role == "system" else f"{step.actor_id} ({step.actor_role_sv})"
        notes = "".join(f"<li>{e(d)}</li>" for d in step.details)
        notes += "".join(f'<li class="avvikelse-text">Avvikelse: {e(p)}</li>' for p in step.disagreements)
        marked = ' class="avvikelse"' if step.disagreements else ""
        rows.append(
            f"<tr{marked}><td>{e(step.at_sv)}</td><td>{e(who)}</td>"
            f"<td>{e(ORIGIN_SV[step.origin])}</td><td>{e(step.text)}{f'<ul>{notes}</ul>' if notes else ''}</td></tr>"
        )
    if story.findings:
        summary = (f'<p class="summary avvikelse-text">Historiken och diariet stämmer inte överens: '
                   f"{len(story.findings)} avvikelser.</p><ul>"
                   + "".join(f"<li>{e(f.row)}: {e(f.problem)}</li>" for f in story.findings) + "</ul>")
    else:
        summary = '<p class="summary">Historiken och diariet stämmer överens.</p>'
    if story.notices:
        summary += ("<p>Inte kontrollerat mot historiken:</p><ul>"
                    + "".join(f"<li>{e(n.row)}: {e(n.note)}</li>" for n in story.notices) + "</ul>")
    outcome = f", utfall: {story.outcome_sv}" if story.outcome_sv else ""
    granted = f", beviljat {format_kronor(story.granted)}" if story.granted is not None else ""
    runs = f"{len(story.runs)} {'körning' if len(story.runs) == 1 else 'körningar'}"
    return f"""<!DOCTYPE html>
<html lang="sv">
<head>
<meta charset="utf-8">
<title>Ärende {e(story.case_number)} – ärendets förlopp</title>
<style>{_CSS}</style>
</head>
<body>
<h1>Ärende {e(story.case_number)}: {e(story.subject or '–')}</h1>
<p class="meta">Sökande: {e(story.sender_name or '–')}. Utlysning: {e(story.call_id or '–')}.</p>
<p class="meta">Steg: {e(story.stage_sv or '–')}{e(outcome)}{e(granted)}.</p>
<p class="meta">Historiken är läst från {e(story.source_sv)}; {e(runs)}{'' if story.complete else
    ' (ofullständig: de äldsta körningarna saknas)'}. Tider i svensk tid (Europe/Stockholm).</p>
<table>
<thead><tr><th>Tid</th><th>Vem</th><th>Källa</th><th>Vad</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
{summary}
</body>
</html>
"""


def cmd_history(args: argparse.Namespace) -> int:
    story = run_command(case_story(client_settings(), args.case))
    if args.format == "json":
        out = json.dumps(story.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"
    elif args.format == "html":
        out = html(story)
    else:
        out = text(story)
    if args.output is None:
        sys.stdout.write(out)
    else:
        try:
            Path(args.output).write_text(out, encoding="utf-8")
        except OSError as exc:
            raise InputError.one("--output", f"cannot write {args.output}: {exc.strerror}") from None
        print(f"Ärende {story.case_number}: förloppet skrivet till {args.output}")
    return EXIT_DISAGREES if story.findings else EXIT_OK


def add_command(audit_commands: Any) -> None:
    history = audit_commands.add_parser(
        "history", help="the story of a case, from its recorded history and the register together",
        description="Exit codes: 0 the history and the register agree, 1 they disagree somewhere (marked), "
                    "2 bad input.",
    )
    history.add_argument("case", metavar="NUMBER")
    history.add_argument("--format", choices=("text", "json", "html"), default="text")
    history.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")
    history.set_defaults(run=cmd_history)


__all__ = ["add_command", "html", "text"]
