"""The forms of a case's actions, made from each action's request model (the API's own body).

Every field of an action's body becomes a labelled control by its type: text, a number, an amount,
a date, a choice of an enum, a yes/no, or lines of text for a list of texts. The few bodies that hold
one row per something in the case (a ruling per secret-marked section, a score per criterion, an
approved amount per reported cost) are laid out from the case itself. What a person typed is read
back by the same description, so a refused form is shown again as it was sent.
"""

from __future__ import annotations

import itertools
import types
import typing
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import BaseModel

from api.routes.actions import request_model
from domain.actions import roles_for, stages_for
from domain.case import Role
from domain.lifecycle import Stage
from services.cases import ACTIONS

ACTION_LABELS_SV = {
    "request-completion": "Begär komplettering",
    "accept-for-review": "Godta ansökan för prövning",
    "record-secrecy-review": "Sekretessprövning",
    "declare-no-conflict": "Jävsförklaring",
    "score": "Bedömning per kriterium",
    "prepare-decision": "Förbered beslut",
    "communicate": "Kommunicera före beslut",
    "decide": "Fatta beslut",
    "review-payment-request": "Granska begäran om utbetalning",
    "review-final-report": "Granska slutrapporten",
    "prepare-revocation": "Förbered återkallelse",
    "revoke": "Återkalla beslutet",
    "prepare-reclaim": "Förbered återkrav",
    "decide-reclaim": "Besluta om återkrav",
    "register-repayment": "Registrera återbetalning",
    "write-off": "Avskriv fordran",
    "assign": "Tilldela handläggare",
    "release-public-document": "Lämna ut allmän handling",
    "refuse-public-document": "Avslå begäran om allmän handling",
}

ACTION_HELP_SV = {
    "declare-no-conflict": "Jag förklarar att jäv inte föreligger för mig i ärendet (FL 16–18 §§).",
    "decide": "Beslutet fattas enligt det förberedda förslaget.",
    "communicate": "Sökanden får ta del av underlaget och yttra sig före beslut (FL 25 §).",
}

FIELD_LABELS_SV = {
    "missing": "Vad som saknas (en uppgift per rad)",
    "reply_days": "Svarstid i dagar",
    "note": "Anteckning",
    "kind": "Typ av beslut",
    "replaces_proposal": "Ersätter ett tidigare förslag",
    "amount": "Belopp (kr)",
    "period_start": "Projektperiodens första dag",
    "period_end": "Projektperiodens sista dag",
    "conditions": "Villkor (ett per rad)",
    "reasons": "Skäl",
    "unseen_material": "Underlag som sökanden inte har sett (FL 25 §)",
    "advance": "Förskott (kr)",
    "advance_reasons": "Skäl för förskott",
    "payee_bankgiro": "Mottagarens bankgiro",
    "final_report_due": "Slutrapport senast",
    "revoked_amount": "Belopp som återkallas (kr)",
    "material": "Övrigt underlag",
    "interest_from": "Ränta från och med",
    "due_days": "Betalningsfrist i dagar",
    "paid_on": "Betalt den",
    "officer": "Handläggare (användar-id)",
    "in_part": "Lämnas ut med de sekretessbelagda delarna maskade",
    "legal_ground": "Lagrum",
    "assessment": "Bedömning",
    "text": "Text",
    "secret": "Beslut",
    "reason": "Motivering",
    "score": "Poäng",
    "motivation": "Motivering",
    "approved": "Godkänt belopp (kr)",
}

ENUM_LABELS_SV = {"approve": "Bifall", "reject": "Avslag", "dismiss": "Avvisning"}

# Actions an officer's web never offers: the public's own request, and operations' resume (Temporal UI).
NOT_OFFERED = frozenset({"request-public-document", "resume"})
_RECORDS = frozenset({"release-public-document", "refuse-public-document"})
DOCUMENT_LABELS_SV = {"application": "ansökan", "decision": "beslutet"}


@dataclass
class Field:
    name: str  # dotted path in the body: "scores.0.motivation"
    label: str
    widget: str  # text, textarea, number, decimal, date, select, checkbox, lines, hidden, yesno
    required: bool = False
    options: list[tuple[str, str]] = field(default_factory=list)
    value: str = ""
    error: str | None = None
    hint: str | None = None

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-")


@dataclass
class Group:
    legend: str
    shows: str | None = None  # what the row is about, shown above its fields
    fields: list[Field] = field(default_factory=list)


@dataclass
class ActionForm:
    action: str
    label: str
    help: str | None = None
    fields: list[Field] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    refusal: str | None = None  # the workflow's reason, when the last try was refused
    key: str = ""  # the idempotency key the form is sent with: made when it is shown

    def all_fields(self) -> list[Field]:
        return [*self.fields, *(f for g in self.groups for f in g.fields)]


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The type inside Annotated and Optional; and whether None is allowed."""
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(annotation))
            if len(args) != 1:
                return annotation, optional
            annotation = args[0]
        else:
            return annotation, optional


def _widget(annotation: Any) -> tuple[str, list[tuple[str, str]]] | None:
    """The control for a type; None when it is a structure the generic form cannot show."""
    inner, _ = _unwrap(annotation)
    if isinstance(inner, type) and issubclass(inner, Enum):
        return "select", [(m.value, ENUM_LABELS_SV.get(m.value, m.value)) for m in inner]
    if inner is bool:
        return "checkbox", []
    if inner is int:
        return "number", []
    if inner is Decimal:
        return "decimal", []
    if inner is date:
        return "date", []
    if inner is str:
        return "text", []
    if typing.get_origin(inner) is list:
        item, _ = _unwrap(typing.get_args(inner)[0])
        if item is str:
            return "lines", []
    return None


_LONG = frozenset({"reasons", "note", "unseen_material", "advance_reasons", "material", "assessment", "text",
                   "motivation", "reason"})


def _field(name: str, path: str, annotation: Any, required: bool) -> Field | None:
    found = _widget(annotation)
    if found is None:
        return None
    widget, options = found
    if widget == "text" and name in _LONG:
        widget = "textarea"
    return Field(name=path, label=FIELD_LABELS_SV.get(name, name), widget=widget, required=required,
                 options=options)


def _scalar_fields(model: type[BaseModel], skip: frozenset[str] = frozenset()) -> list[Field] | None:
    fields = []
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        made = _field(name, name, info.annotation, info.is_required())
        if made is None:
            return None
        fields.append(made)
    return fields


def _rows(name: str, item: type[BaseModel], count: int) -> list[Group]:
    groups = []
    for i in range(count):
        group = Group(legend=f"Rad {i + 1}")
        for sub, info in item.model_fields.items():
            made = _field(sub, f"{name}.{i}.{sub}", info.annotation, info.is_required())
            if made is not None:
                group.fields.append(made)
        groups.append(group)
    return groups


def _secrecy(view: dict[str, Any]) -> ActionForm:
    form = ActionForm("record-secrecy-review", ACTION_LABELS_SV["record-secrecy-review"],
                      help="Pröva varje avsnitt som sökanden har markerat som sekretess. Utan markerade avsnitt "
                           "registreras prövningen utan avgöranden." if view["secret_sections"] else
                           "Sökanden har inte markerat något avsnitt som sekretess.")
    for i, marked in enumerate(view["secret_sections"]):
        form.groups.append(Group(legend=f"Avsnitt {marked['section']}", shows=f"Sökandens skäl: "
                                 f"{marked['applicant_reason']}", fields=[
            Field(f"rulings.{i}.section", "Avsnitt", "hidden", value=marked["section"]),
            Field(f"rulings.{i}.secret", "Beslut", "select", required=True,
                  options=[("true", "Sekretess gäller"), ("false", "Offentligt")]),
            Field(f"rulings.{i}.legal_ground", "Lagrum (vid sekretess)", "text",
                  hint="Till exempel OSL 30 kap. 23 §"),
            Field(f"rulings.{i}.reason", "Motivering", "textarea", required=True),
        ]))
    return form


def _scores(view: dict[str, Any]) -> ActionForm:
    form = ActionForm("score", ACTION_LABELS_SV["score"])
    for i, criterion in enumerate(view["criteria"]):
        form.groups.append(Group(legend=f"Kriterium {criterion['id']}", shows=criterion["text"], fields=[
            Field(f"scores.{i}.criterion", "Kriterium", "hidden", value=criterion["id"]),
            Field(f"scores.{i}.score", "Poäng", "number", required=True),
            Field(f"scores.{i}.motivation", "Motivering", "textarea", required=True),
        ]))
    return form


def _cost_rows(costs: list[dict[str, Any]], form: ActionForm, kr: Any) -> None:
    for i, cost in enumerate(costs):
        form.groups.append(Group(
            legend=f"Kostnad {i + 1}",
            shows=f"{cost['description']} ({cost['cost_type']}): {kr(cost['amount'])}, "
                  f"verifikationer {', '.join(cost.get('vouchers', []))}",
            fields=[Field(f"costs.{i}.approved", "Godkänt belopp (kr)", "decimal", required=True,
                          value=str(cost["amount"])),
                    Field(f"costs.{i}.reason", "Skäl till avdrag", "textarea")]))


def _payment_review(view: dict[str, Any], kr: Any) -> ActionForm | None:
    payments = view.get("payments") or {}
    waiting = [r for r in payments.get("requests", []) if r.get("reviewed_at") is None]
    if not waiting:
        return None
    pending = waiting[0]
    form = ActionForm("review-payment-request", ACTION_LABELS_SV["review-payment-request"],
                      help=f"Begäran {pending['number']}: begärt {kr(pending['request']['requested'])}.",
                      fields=[Field("request_number", "Begäran", "hidden", value=str(pending["number"]))])
    _cost_rows(pending["request"]["costs"], form, kr)
    return form


def _final_review(view: dict[str, Any], kr: Any) -> ActionForm | None:
    report = ((view.get("payments") or {}).get("final_report") or {})
    if not report or report.get("reviewed_at"):
        return None
    form = ActionForm("review-final-report", ACTION_LABELS_SV["review-final-report"])
    _cost_rows(report.get("report", {}).get("costs", []), form, kr)
    form.fields.append(Field("assessment", "Bedömning", "textarea", required=True))
    return form


def _records(name: str, action: type[Any], view: dict[str, Any]) -> ActionForm | None:
    """Release or refusal of a waiting request for a public document: which request is a choice."""
    waiting = [r for r in view.get("records_requests", []) if r["status"] == "pending"]
    fields = _scalar_fields(request_model(action), skip=frozenset({"request_id"}))
    if not waiting or fields is None:
        return None
    choice = Field("request_id", "Begäran", "select", required=True, value=waiting[0]["request_id"], options=[
        (r["request_id"], f"{DOCUMENT_LABELS_SV.get(r['document'], r['document'])}, begärd {r['requested_at'][:16]}")
        for r in waiting])
    return ActionForm(name, ACTION_LABELS_SV[name], fields=[choice, *fields],
                      help="Besvaras samma dag om det går (OSL 6 kap.).")


def offered(view: dict[str, Any], role: str, person: str, kr: Any) -> list[ActionForm]:
    """The forms for the actions this person's role may take in the case's current stage, and only those."""
    try:
        acting = Role(role)
        stage = Stage(view["stage"])
    except ValueError:
        return []
    declared = any(d["person"] == person for d in view.get("declarations", []))
    forms: list[ActionForm] = []
    for name, (_, action) in ACTIONS.items():
        if name in NOT_OFFERED or acting not in roles_for(action) or stage not in stages_for(action):
            continue
        form: ActionForm | None
        if name == "declare-no-conflict" and declared:
            continue
        if name in _RECORDS:
            form = _records(name, action, view)
        elif name == "record-secrecy-review":
            form = _secrecy(view)
        elif name == "score":
            form = _scores(view)
        elif name == "review-payment-request":
            form = _payment_review(view, kr)
        elif name == "review-final-report":
            form = _final_review(view, kr)
        else:
            fields = _scalar_fields(request_model(action))
            form = None if fields is None else ActionForm(name, ACTION_LABELS_SV.get(name, name),
                                                          help=ACTION_HELP_SV.get(name), fields=fields)
        if form is not None:
            forms.append(form)
    return forms


def _set(body: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node: Any = body
    for part, following in itertools.pairwise(parts):
        nxt: Any = [] if following.isdigit() else {}
        if isinstance(node, list):
            index = int(part)
            while len(node) <= index:
                node.append(None)
            if node[index] is None:
                node[index] = nxt
            node = node[index]
        else:
            node = node.setdefault(part, nxt)
    last = parts[-1]
    if isinstance(node, list):
        index = int(last)
        while len(node) <= index:
            node.append(None)
        node[index] = value
    else:
        node[last] = value


def read(form: ActionForm, sent: dict[str, str]) -> dict[str, Any]:
    """The action's body from what was sent; each field keeps what was typed, for showing it again.

    An empty field is left out (the action's default applies, or the API names it as missing)."""
    body: dict[str, Any] = {}
    for f in form.all_fields():
        raw = sent.get(f.name, "")
        f.value = raw if f.widget != "hidden" or raw else f.value
        if f.widget == "checkbox":
            if raw:
                _set(body, f.name, True)
            continue
        if f.widget == "hidden":
            raw = f.value
        raw = raw.strip()
        if not raw:
            continue
        if f.widget == "lines":
            _set(body, f.name, [line.strip() for line in raw.splitlines() if line.strip()])
        elif f.widget == "select" and raw in ("true", "false"):
            _set(body, f.name, raw == "true")
        elif f.widget == "decimal":
            _set(body, f.name, raw.replace("\u00a0", "").replace(" ", "").replace(",", "."))
        else:
            _set(body, f.name, raw)
    return body


def show_errors(form: ActionForm, errors: dict[str, str]) -> None:
    """Each field's reason beside it; a reason for something the form has no field for, with the refusal."""
    names = set()
    for f in form.all_fields():
        names.add(f.name)
        if f.name in errors:
            f.error = errors[f.name]
    rest = [f"{path or 'formuläret'}: {why}" for path, why in errors.items() if path not in names]
    if rest:
        form.refusal = " ".join([form.refusal or "", *rest]).strip()
