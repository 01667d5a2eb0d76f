"""Who may apply, and when: the rules under a call's "Vem kan söka?" and "När kan vi söka?"."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field

from domain.application import ORGANISATION_KIND_LABELS_SV, Organisation, OrganisationKind
from domain.clock import format_instant_sv
from domain.identity import InvalidIdentityNumber, identity_key, parse_identity_number
from domain.rules.base import Problem, Rule, Submission

Kinds = Annotated[list[OrganisationKind], Field(min_length=1)]
_NATURAL_PERSON_KINDS = frozenset({OrganisationKind.SOLE_TRADER, OrganisationKind.PRIVATE_PERSON})


def _kinds_sv(kinds: list[OrganisationKind]) -> str:
    return ", ".join(ORGANISATION_KIND_LABELS_SV[k] for k in kinds)


def _applying(submission: Submission, applies_to: str) -> Iterator[tuple[str, Organisation]]:
    application = submission.application
    yield "$.applicant", application.applicant
    if applies_to == "all":
        for i, org in enumerate(application.co_applicants):
            yield f"$.co_applicants[{i}]", org


class ReceivedByLastDay(Rule):
    """Late is a flag for the officer, who may dismiss: never an automatic rejection."""

    check: Literal["received_by_last_day"]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        window = submission.terms.window
        if window.is_late(submission.received_at):
            yield "$", (
                f"Ansökan kom in {format_instant_sv(submission.received_at)}, efter sista "
                f"ansökningsdag {window.closes.isoformat()}. Handläggaren kan avvisa den."
            )


class ReceivedAfterOpening(Rule):
    check: Literal["received_after_opening"]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        opens = submission.terms.window.opens
        if opens is not None and submission.received_on < opens:
            yield "$", (
                f"Ansökan kom in {format_instant_sv(submission.received_at)}, innan utlysningen "
                f"öppnade {opens.isoformat()}."
            )


class OrganisationKindsAllowed(Rule):
    check: Literal["organisation_kinds_allowed"]
    kinds: Kinds
    applies_to: Literal["applicant", "all"] = "all"

    def problems(self, submission: Submission) -> Iterator[Problem]:
        for path, org in _applying(submission, self.applies_to):
            if org.kind not in self.kinds:
                yield f"{path}.kind", (
                    f"{org.name} är angiven som {ORGANISATION_KIND_LABELS_SV[org.kind]}. "
                    f"Utlysningen vänder sig till: {_kinds_sv(self.kinds)}."
                )


def _is_personnummer(org: Organisation) -> bool:
    try:
        return parse_identity_number(org.org_number).is_personal
    except InvalidIdentityNumber:
        return False  # an unreadable number is FORM-ORG-NUMBER's finding, not a person


class OrganisationKindsExcluded(Rule):
    """Excluded by what is declared, or by the number: a personnummer is a natural person.

    An applicant who declares an organisation kind but gives a personnummer is a sole
    trader or a private person whatever the form says, so the call's own exclusion of
    those must speak too, not only the form's mismatch rule.
    """

    check: Literal["organisation_kinds_excluded"]
    kinds: Kinds
    applies_to: Literal["applicant", "all"] = "all"

    def problems(self, submission: Submission) -> Iterator[Problem]:
        natural = [k for k in self.kinds if k in _NATURAL_PERSON_KINDS]
        for path, org in _applying(submission, self.applies_to):
            if org.kind in self.kinds:
                yield f"{path}.kind", (
                    f"{org.name} är angiven som {ORGANISATION_KIND_LABELS_SV[org.kind]} "
                    "och kan inte söka stödet."
                )
            elif natural and org.kind not in _NATURAL_PERSON_KINDS and _is_personnummer(org):
                # The number itself is never quoted: it is personal data.
                yield f"{path}.org_number", (
                    f"{org.name} har ett personnummer och är alltså en fysisk person. "
                    f"Stödet kan inte sökas av: {_kinds_sv(natural)}."
                )


class MinimumOrganisations(Rule):
    check: Literal["minimum_organisations"]
    minimum: Annotated[int, Field(ge=1)]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        count = len({identity_key(org.org_number) for org in submission.application.organisations})
        if count < self.minimum:
            yield "$.co_applicants", (
                f"Ansökan har {count} sökande organisation(er); minst {self.minimum} "
                "aktörer ska söka i samverkan."
            )


class GroupApplication(Rule):
    """A region may apply for, and as project owner represent, a group of promoters."""

    check: Literal["group_application"]
    applicant_kinds: Kinds
    member_kinds: Kinds

    def problems(self, submission: Submission) -> Iterator[Problem]:
        application = submission.application
        if not application.applies_for_group:
            return
        if application.applicant.kind not in self.applicant_kinds:
            yield "$.applies_for_group", (
                f"Bara {_kinds_sv(self.applicant_kinds)} kan söka för en grupp av främjare; "
                f"sökande är {ORGANISATION_KIND_LABELS_SV[application.applicant.kind]}."
            )
        if not application.represented_organisations:
            yield "$.represented_organisations", "Ange vilka främjare i gruppen som regionen företräder."
        for i, member in enumerate(application.represented_organisations):
            if member.kind not in self.member_kinds:
                yield f"$.represented_organisations[{i}].kind", (
                    f"{member.name} är angiven som {ORGANISATION_KIND_LABELS_SV[member.kind]}; "
                    f"gruppen ska bestå av {_kinds_sv(self.member_kinds)}."
                )


class RegionalAnchoring(Rule):
    check: Literal["regional_anchoring"]
    partner_kinds: Kinds

    def problems(self, submission: Submission) -> Iterator[Problem]:
        application = submission.application
        has_partner = any(org.kind in self.partner_kinds for org in application.organisations)
        if not has_partner and application.project.region_reference is None:
            yield "$.project.region_reference", (
                "Ett regionalt projekt ska ha den regionalt utvecklingsansvariga som "
                "projektpartner eller ange en referensperson på regionen."
            )


class ExactlyOneFocusArea(Rule):
    check: Literal["exactly_one_focus_area"]
    options: Annotated[list[str], Field(min_length=2)]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        chosen = submission.application.focus_areas
        for i, area in enumerate(chosen):
            if area not in self.options:
                yield f"$.focus_areas[{i}]", (
                    f"”{area}” är inte ett av utlysningens fokusområden: {', '.join(self.options)}."
                )
        if len(chosen) != 1:
            yield "$.focus_areas", (
                f"Projektet ska fokusera på exakt ett fokusområde; ansökan anger {len(chosen)}."
            )
