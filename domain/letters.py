"""The letters the agency sends an applicant, as Swedish text templates.

Pure: `render_letter` turns a letter kind and already formatted Swedish strings
(dates, amounts, reasons) into a subject and a body. Formatting belongs to the
caller (`domain.money.format_kronor`, `domain.clock.format_instant_sv`), so that a
letter says exactly what the case file says, and the same input always renders
the same letter: a resent letter is word for word the first one.

Templates use `string.Template` (`$name`). A missing placeholder is an error
naming the key, never an empty gap in a letter that has legal effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from string import Template
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict


class LetterKind(StrEnum):
    RECEIPT = "receipt"  # mottagningsbekräftelse (OSL 5 kap., FL 22 §)
    COMPLETION_REQUEST = "completion_request"  # begäran om komplettering
    COMMUNICATION = "communication"  # kommunicering före beslut (FL 25 §)
    DECISION_APPROVED = "decision_approved"
    DECISION_REJECTED = "decision_rejected"
    DECISION_DISMISSED = "decision_dismissed"  # avvisning
    WITHDRAWAL_CONFIRMED = "withdrawal_confirmed"
    DECISION_REQUEST_RECEIVED = "decision_request_received"  # begäran om avgörande (FL 12 §)
    PAYMENT_DECISION = "payment_decision"  # beslut om utbetalning, with reasons for costs not approved
    PAYOUT_MADE = "payout_made"
    FINAL_REPORT_REMINDER = "final_report_reminder"
    FINAL_REPORT_REVIEWED = "final_report_reviewed"  # beslut om slutligt stöd
    RECLAIM_COMMUNICATION = "reclaim_communication"  # kommunicering före beslut om återkrav (FL 25 §)
    RECLAIM_DECISION = "reclaim_decision"  # beslut om återkrav (and revocation), appealable
    REVOCATION_COMMUNICATION = "revocation_communication"  # kommunicering före upphävande av beslut (FL 25 §)
    GRANT_REDUCED = "grant_reduced"  # a partial revocation that leaves nothing to pay back
    CLAIM_OVERDUE = "claim_overdue"
    CASE_CLOSED = "case_closed"
    # To a company the project reached, not to the applicant: intyg om stöd av mindre betydelse.
    DE_MINIMIS_CERTIFICATE = "de_minimis_certificate"
    # To someone who asked for a public document (TF 2 kap.), not to the applicant.
    RECORDS_RELEASE = "records_release"  # the document, when it could not be given at once
    RECORDS_REFUSAL = "records_refusal"  # beslut om avslag, helt eller delvis (OSL 6 kap. 7-8 §§)


class RenderedLetter(BaseModel):
    model_config = ConfigDict(frozen=True)

    subject: str
    body: str


# Every decision letter says who decided and when (FL 31 §), and ends with the
# `appeal` paragraph: how to appeal, or that the decision cannot be appealed
# (FL 33 §; appealability is a setting of the call, see `appeal_text`).
_DECISION_FOOTER = (
    "Beslutet har fattats $decision_date av $decided_by.",
    "Överklagande\n$appeal",
)


def _letter(subject: str, *paragraphs: str) -> tuple[Template, Template]:
    # One line per paragraph: the mail client wraps, so a long project title never
    # leaves a ragged hard-wrapped line behind.
    body = "\n\n".join(
        (
            "Hej $recipient_name,",
            *paragraphs,
            "Ange alltid diarienummer $case_number när du kontaktar oss om ärendet.",
            "Med vänliga hälsningar\n$agency",
        )
    )
    return Template(subject), Template(body + "\n")


def _to_requester(subject: str, *paragraphs: str) -> tuple[Template, Template]:
    # The requester may be anonymous (TF 2 kap. 18 §): greeted without a name.
    body = "\n\n".join(("Hej,", *paragraphs, "Ange alltid diarienummer $case_number och begäran $request_id"
                         " när du kontaktar oss om den.", "Med vänliga hälsningar\n$agency"))
    return Template(subject), Template(body + "\n")


# OSL 6 kap. 8 §: a refusal is appealed to the administrative court of appeal.
RECORDS_APPEAL = (
    "Beslutet kan överklagas hos kammarrätten. Överklagandet ska ha kommit in till myndigheten inom tre veckor"
    " från den dag du fick del av beslutet. Överklagandet ska vara skriftligt och skickas till oss; ange"
    " diarienumret, vilken ändring du vill ha och varför. Vi skickar det vidare till kammarrätten."
)

_TEMPLATES: Mapping[LetterKind, tuple[Template, Template]] = MappingProxyType(
    {
        LetterKind.RECEIPT: _letter(
            "Vi har tagit emot din ansökan – $case_number",
            "Vi har tagit emot ansökan ”$project_title” i utlysningen ”$call_title”. Ansökan kom in till oss"
            " $received_at och har fått diarienummer $case_number.",
            "Vi kontrollerar nu att ansökan är komplett och att den uppfyller utlysningens villkor."
            " Om något saknas hör vi av oss.",
            "En ansökan som har kommit in till oss är en allmän handling. Uppgifter som du har markerat som"
            " affärshemligheter prövar vi enligt offentlighets- och sekretesslagen innan vi lämnar ut dem.",
        ),
        LetterKind.COMPLETION_REQUEST: _letter(
            "Begäran om komplettering – $case_number",
            "Vi har gått igenom ansökan ”$project_title” i utlysningen ”$call_title” och behöver följande"
            " kompletteringar för att kunna pröva den:",
            "$missing",
            "Skicka kompletteringen till oss senast $deadline. Om vi inte har fått den då kan ansökan komma att"
            " avvisas, det vill säga inte prövas i sak.",
        ),
        LetterKind.COMMUNICATION: _letter(
            "Kommunicering inför beslut – $case_number",
            "Innan vi fattar beslut om ansökan ”$project_title” i utlysningen ”$call_title” ger vi dig möjlighet"
            " att yttra dig över följande underlag, som kan komma att ligga till grund för beslutet"
            " (25 § förvaltningslagen):",
            "$material",
            "Lämna dina synpunkter senast $deadline. Om vi inte har hört av dig då fattar vi beslut på det"
            " underlag som finns i ärendet.",
        ),
        LetterKind.DECISION_APPROVED: _letter(
            "Beslut: ansökan beviljas – $case_number",
            "Vi har beslutat att bevilja stöd med högst $amount till projektet ”$project_title” i utlysningen"
            " ”$call_title”.",
            "Projektperiod: $project_period",
            "Villkor för stödet:\n$conditions",
            *_DECISION_FOOTER,
        ),
        LetterKind.DECISION_REJECTED: _letter(
            "Beslut: ansökan avslås – $case_number",
            "Vi har beslutat att avslå ansökan ”$project_title” i utlysningen ”$call_title”.",
            "Skälen för beslutet:\n$reasons",
            *_DECISION_FOOTER,
        ),
        LetterKind.DECISION_DISMISSED: _letter(
            "Beslut: ansökan avvisas – $case_number",
            "Vi har beslutat att avvisa ansökan ”$project_title” i utlysningen ”$call_title”. Det betyder att"
            " ansökan inte har prövats i sak.",
            "Skälen för beslutet:\n$reasons",
            *_DECISION_FOOTER,
        ),
        LetterKind.WITHDRAWAL_CONFIRMED: _letter(
            "Ansökan återkallad – $case_number",
            "Vi bekräftar att ansökan ”$project_title” i utlysningen ”$call_title” återkallades $withdrawn_at."
            " Ansökan kommer inte att prövas och ärendet avslutas.",
        ),
        LetterKind.DECISION_REQUEST_RECEIVED: _letter(
            "Vi har tagit emot din begäran om avgörande – $case_number",
            "Vi har $requested_at tagit emot din skriftliga begäran om att vi ska avgöra ärendet om ansökan"
            " ”$project_title” i utlysningen ”$call_title” (12 § förvaltningslagen).",
            "Inom fyra veckor ska vi antingen avgöra ärendet eller i ett särskilt beslut avslå din begäran."
            " Du får alltså besked senast $deadline.",
        ),
        LetterKind.PAYMENT_DECISION: _letter(
            "Beslut om utbetalning – $case_number",
            "Vi har granskat din ansökan om utbetalning nummer $request_number för projektet ”$project_title”"
            " (perioden $period).",
            "Redovisade kostnader: $claimed. Godkända stödberättigande kostnader: $approved.",
            "Kostnader som inte har godkänts och skälen för det:\n$not_approved",
            "Belopp att betala ut nu: $payable. Hittills godkänt för utbetalning inklusive detta: $paid_total av"
            " beviljade $granted.",
            "Beslutet har fattats $decision_date av $decided_by.",
        ),
        LetterKind.PAYOUT_MADE: _letter(
            "Utbetalning – $case_number",
            "Vi har i dag godkänt en utbetalning av $amount till bankgiro $bankgiro för projektet ”$project_title”"
            " ($what). Beloppet skickas till banken med vår nästa betalningsfil och når kontot några bankdagar"
            " därefter. Betalningen är märkt med diarienummer $case_number.",
        ),
        LetterKind.FINAL_REPORT_REMINDER: _letter(
            "Påminnelse om slutrapport – $case_number",
            "Slutrapporten för projektet ”$project_title” ska ha kommit in till oss senast $due.",
            "$consequence",
        ),
        LetterKind.FINAL_REPORT_REVIEWED: _letter(
            "Beslut om slutligt stöd – $case_number",
            "Vi har granskat slutrapporten för projektet ”$project_title”.",
            "$assessment",
            "Godkända stödberättigande kostnader för hela projektet: $approved. Stödandel: $support_rate."
            " Slutligt stöd: $final_grant (beviljat högst $granted). Godkänt för utbetalning hittills: $paid.",
            "$outcome",
            "Beslutet har fattats $decision_date av $decided_by.",
        ),
        LetterKind.RECLAIM_COMMUNICATION: _letter(
            "Kommunicering inför beslut om återkrav – $case_number",
            "Vi överväger att besluta om återkrav för projektet ”$project_title” i utlysningen ”$call_title”."
            " Innan vi fattar beslut ger vi dig möjlighet att yttra dig (25 § förvaltningslagen).",
            "Belopp som vi överväger att kräva tillbaka: $amount.",
            "Skälen:\n$reasons",
            "Om beslutet fattas ska beloppet betalas senast $due_days dagar efter beslutet. Ränta tas ut enligt"
            " 5 § räntelagen (referensräntan plus två procentenheter) från $interest_from till förfallodagen och"
            " därefter dröjsmålsränta enligt 6 § räntelagen (referensräntan plus åtta procentenheter).",
            "Lämna dina synpunkter senast $deadline.",
        ),
        LetterKind.RECLAIM_DECISION: _letter(
            "Beslut om återkrav – $case_number",
            "Vi har beslutat att du ska betala tillbaka $amount av stödet till projektet ”$project_title”.",
            "Skälen för beslutet:\n$reasons",
            "Beloppet ska ha kommit in till oss senast $due_date. Ange diarienummer $case_number vid betalningen."
            " Ränta tas ut enligt 5 § räntelagen (referensräntan plus två procentenheter) från $interest_from till"
            " förfallodagen och därefter dröjsmålsränta enligt 6 § räntelagen (referensräntan plus åtta"
            " procentenheter) till dess att beloppet är betalt.",
            *_DECISION_FOOTER,
        ),
        LetterKind.REVOCATION_COMMUNICATION: _letter(
            "Kommunicering inför beslut om upphävande – $case_number",
            "Vi överväger att upphäva beslutet om stöd till projektet ”$project_title” i utlysningen"
            " ”$call_title” $what. Innan vi fattar beslut ger vi dig möjlighet att yttra dig över förslaget och"
            " underlaget (25 § förvaltningslagen).",
            "Skälen:\n$reasons",
            "Underlag:\n$material",
            "$consequence",
            "Lämna dina synpunkter senast $deadline. Om vi inte har hört av dig då fattar vi beslut på det"
            " underlag som finns i ärendet.",
        ),
        LetterKind.GRANT_REDUCED: _letter(
            "Beslut om ändrat stöd – $case_number",
            "Vi har beslutat att delvis upphäva beslutet om stöd till projektet ”$project_title”: beviljat belopp"
            " sänks med $revoked till $granted.",
            "Skälen för beslutet:\n$reasons",
            "Hittills har $paid betalats ut, vilket inte är mer än det nya stödet; inget ska betalas tillbaka."
            " Projektet fortsätter och resten av stödet betalas ut mot redovisade kostnader som tidigare.",
            *_DECISION_FOOTER,
        ),
        LetterKind.CLAIM_OVERDUE: _letter(
            "Påminnelse: obetalt återkrav – $case_number",
            "Återkravet för projektet ”$project_title” skulle ha betalats senast $due_date. Kvar att betala"
            " $balance, och dröjsmålsränta löper från och med dagen efter förfallodagen.",
            "Om beloppet inte betalas lämnar vi kravet vidare för indrivning.",
        ),
        LetterKind.RECORDS_RELEASE: _to_requester(
            "Allmän handling ur ärende $case_number",
            "Du begärde $requested_at att få ta del av $document i ärende $case_number (”$project_title”)."
            " Här är handlingen:",
            "$content",
            "$secrecy_note",
        ),
        LetterKind.RECORDS_REFUSAL: _to_requester(
            "Beslut om avslag på begäran om allmän handling – $case_number",
            "Du begärde $requested_at att få ta del av $document i ärende $case_number (”$project_title”)."
            " Vi har beslutat att $what.",
            "Skälen för beslutet:\n$reasons",
            "Lagrum: $legal_ground",
            "Beslutet har fattats $decision_date av $decided_by.",
            "Hur man överklagar\n$appeal",
        ),
        LetterKind.DE_MINIMIS_CERTIFICATE: _letter(
            "Intyg om stöd av mindre betydelse – $case_number",
            "$company_name ($org_number) har fått stöd av mindre betydelse (försumbart stöd, de minimis-stöd)"
            " genom projektet ”$project_title” i utlysningen ”$call_title”, som $agency finansierar.",
            "Stödet: $aid. Stödets värde: $value, det vill säga $value_eur omräknat med $rate."
            " Stödet beviljades $granted_on.",
            "Stödet har lämnats enligt $regulation. Ett företag får sammanlagt få högst $ceiling i stöd av mindre"
            " betydelse under $aid_period.",
            "Spara intyget. När ni söker annat stöd av mindre betydelse ska ni kunna redovisa allt sådant stöd"
            " som ni har fått under perioden, och detta stöd ska då räknas med.",
        ),
        LetterKind.CASE_CLOSED: _letter(
            "Ärendet är avslutat – $case_number",
            "Ärendet om projektet ”$project_title” i utlysningen ”$call_title” är nu avslutat. $summary",
            "Handlingarna i ärendet bevaras enligt arkivlagen.",
        ),
    }
)


def _placeholders(template: Template) -> frozenset[str]:
    return frozenset(template.get_identifiers())


REQUIRED_KEYS: Mapping[LetterKind, frozenset[str]] = MappingProxyType(
    {kind: _placeholders(subject) | _placeholders(body) for kind, (subject, body) in _TEMPLATES.items()}
)
"""The context keys each kind of letter needs, for callers that build the context."""


def render_letter(kind: LetterKind, context: Mapping[str, str]) -> RenderedLetter:
    """The letter `kind` filled in from `context`; extra keys are ignored.

    Raises ValueError naming every missing key, and TypeError for a value that is
    not already a string (formatting is the caller's job: a Decimal or a date
    rendered here would not be in Swedish style).
    """
    kind = LetterKind(kind)
    missing = sorted(REQUIRED_KEYS[kind] - context.keys())
    if missing:
        raise ValueError(f"letter {kind.value!r} is missing context key(s): {', '.join(missing)}")
    not_text = sorted(key for key in REQUIRED_KEYS[kind] if not isinstance(context[key], str))
    if not_text:
        raise TypeError(f"letter {kind.value!r}: context value(s) must be formatted strings: {', '.join(not_text)}")
    subject, body = _TEMPLATES[kind]
    return RenderedLetter(subject=subject.substitute(context), body=body.substitute(context))


def appeal_text(appealable: bool, *, court: str = "förvaltningsrätten") -> str:
    """The `appeal` paragraph of a decision letter (FL 33, 43–45 §§).

    Whether a decision can be appealed is a setting of the call (`Appeal`), not of
    this function; `court` is the court that tries an appeal.
    """
    if not appealable:
        return "Beslutet kan inte överklagas."
    return (
        f"Om du är missnöjd med beslutet kan du överklaga det hos {court}. Överklagandet ska vara skriftligt"
        " och skickas till oss. Det ska ha kommit in till oss inom tre veckor från den dag du fick del av"
        " beslutet. Ange vilket beslut du överklagar (diarienumret), hur du vill att beslutet ska ändras och varför."
    )
