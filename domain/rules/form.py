"""Rules of the application form itself, the same for every call.

They live in `domain/form_rules.toml` beside the calls, so an officer reads them the
same way: an organisation number that fails its check digit, a budget that does not
balance, a period that ends before it starts.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from domain.application import ORGANISATION_KIND_LABELS_SV, Application, OrganisationKind
from domain.identity import InvalidIdentityNumber, LegalForm, identity_key, parse_identity_number
from domain.money import format_kronor, total
from domain.paths import section_parts
from domain.rules.base import Problem, Rule, Submission

_NATURAL_PERSON_KINDS = frozenset({OrganisationKind.SOLE_TRADER, OrganisationKind.PRIVATE_PERSON})
_PUBLIC_KINDS = frozenset({OrganisationKind.REGION, OrganisationKind.MUNICIPALITY, OrganisationKind.STATE_AGENCY})


def _identity_numbers(submission: Submission) -> Iterator[tuple[str, str]]:
    application = submission.application
    for i, org in enumerate(application.organisations):
        path = "$.applicant" if i == 0 else f"$.co_applicants[{i - 1}]"
        yield f"{path}.org_number", org.org_number
    for i, org in enumerate(application.represented_organisations):
        yield f"$.represented_organisations[{i}].org_number", org.org_number
    for i, source in enumerate(application.financing):
        if source.org_number:
            yield f"$.financing[{i}].org_number", source.org_number
    for i, line in enumerate(application.budget):
        if line.incurred_by:
            yield f"$.budget[{i}].incurred_by", line.incurred_by
    if application.participating_companies:
        for i, company in enumerate(application.participating_companies.companies):
            yield f"$.participating_companies.companies[{i}].org_number", company.org_number


class IdentityNumbersValid(Rule):
    check: Literal["identity_numbers_valid"]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        for path, number in _identity_numbers(submission):
            try:
                parse_identity_number(number)
            except InvalidIdentityNumber as exc:
                # The number itself is not repeated: it may be a personnummer.
                yield path, f"Organisationsnumret är ogiltigt: {exc.reason}."


class KindMatchesIdentity(Rule):
    """The declared kind must agree with what the number says about the legal form."""

    check: Literal["kind_matches_identity"]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        application = submission.application
        orgs = [("$.applicant", application.applicant)]
        orgs += [(f"$.co_applicants[{i}]", o) for i, o in enumerate(application.co_applicants)]
        orgs += [(f"$.represented_organisations[{i}]", o) for i, o in enumerate(application.represented_organisations)]
        for path, org in orgs:
            try:
                number = parse_identity_number(org.org_number)
            except InvalidIdentityNumber:
                continue  # reported by IdentityNumbersValid
            label = ORGANISATION_KIND_LABELS_SV[org.kind]
            if number.is_personal and org.kind not in _NATURAL_PERSON_KINDS:
                yield f"{path}.org_number", (
                    f"{org.name} anges som {label} men numret är ett personnummer: "
                    "sökanden är en fysisk person."
                )
            elif not number.is_personal and org.kind in _NATURAL_PERSON_KINDS:
                yield f"{path}.kind", f"{org.name} anges som {label} men numret är ett organisationsnummer."
            elif org.kind in _PUBLIC_KINDS and number.legal_form is not LegalForm.PUBLIC:
                yield f"{path}.kind", (
                    f"{org.name} anges som {label} men organisationsnumret hör inte till "
                    "stat, region eller kommun."
                )


class UniqueOrganisations(Rule):
    check: Literal["unique_organisations"]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        seen: set[str] = set()
        for i, org in enumerate(submission.application.organisations):
            key = identity_key(org.org_number)
            if key in seen:
                yield f"$.co_applicants[{i - 1}].org_number", f"{org.name} finns redan med bland de sökande."
            seen.add(key)


class ApplicantContact(Rule):
    check: Literal["applicant_contact"]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        if submission.application.applicant.contact is None:
            yield "$.applicant.contact", "Ange en kontaktperson hos sökanden."


class BudgetBalances(Rule):
    """Costs less revenue must equal the grant asked for plus the co-financing."""

    check: Literal["budget_balances"]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        application = submission.application
        budget = submission.total_budget
        if budget <= 0:
            yield "$.budget", "Budgeten ska ha kostnader som överstiger projektintäkterna."
            return
        if application.requested_amount <= 0:
            yield "$.requested_amount", "Ange hur mycket stöd som söks."
        financed = application.requested_amount + total(s.amount for s in application.financing)
        if financed != budget:
            yield "$.financing", (
                f"Sökt stöd och medfinansiering är tillsammans {format_kronor(financed)}, men "
                f"projektets budget är {format_kronor(budget)}. Finansieringen ska täcka budgeten exakt."
            )


class PeriodInOrder(Rule):
    check: Literal["period_in_order"]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        project = submission.application.project
        if project.end < project.start:
            yield "$.project.end", (
                f"Projektets slutdatum {project.end.isoformat()} ligger före startdatum {project.start.isoformat()}."
            )


class BudgetYearsWithinPeriod(Rule):
    """A budget over several years is split by year, and only the project's years."""

    check: Literal["budget_years_within_period"]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        project = submission.application.project
        years = range(project.start.year, project.end.year + 1)
        for i, line in enumerate(submission.application.budget):
            if line.year is None:
                if len(years) > 1:
                    yield f"$.budget[{i}].year", (
                        f"Projektet löper över flera år: ange vilket år ”{line.description}” avser."
                    )
            elif line.year not in years:
                yield f"$.budget[{i}].year", (
                    f"Året {line.year} för ”{line.description}” ligger utanför projektperioden."
                )


def _alternatives(annotation: Any) -> list[Any]:
    if get_origin(annotation) is Annotated:
        return _alternatives(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return [t for a in get_args(annotation) if a is not type(None) for t in _alternatives(a)]
    return [annotation]


_MISSING = object()  # the path names no part of the form, or a list item that is not there


def _marked_part(application: Application, section: str) -> object:
    """The value a secrecy mark points at: None where it is left out, `_MISSING` where it cannot be."""
    parts = section_parts(section)
    if parts is None:
        return _MISSING
    # The type is walked beside the value, so a part left out (None) is still told from a typo.
    annotation: Any = Application
    value: object = application
    for part in parts:
        kinds = _alternatives(annotation)
        if isinstance(part, str):
            models = [k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)]
            if not models or part not in models[0].model_fields:
                return _MISSING
            annotation = models[0].model_fields[part].annotation
            value = getattr(value, part) if value is not None else None
        else:
            lists = [k for k in kinds if get_origin(k) is list]
            if not lists:
                return _MISSING
            annotation = get_args(lists[0])[0]
            if isinstance(value, list):
                if part >= len(value):
                    return _MISSING
                value = value[part]
    return value


def _is_empty(value: object) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or value == []


class SecretSectionsExist(Rule):
    """A secrecy mark should point at a part the officer can actually review.

    Meant as a warning (see form_rules.toml): whether a part is secret is the officer's
    decision (OSL 30 kap. 23 §), and a mark that misses says nothing about eligibility.
    """

    check: Literal["secret_sections_exist"]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        for i, mark in enumerate(submission.application.secret_sections):
            value = _marked_part(submission.application, mark.section)
            if value is _MISSING:
                yield f"$.secret_sections[{i}].section", f"{mark.section} är inte en del av ansökan."
            elif _is_empty(value):
                yield f"$.secret_sections[{i}].section", f"{mark.section} är tom i ansökan."


class GenderSplitAddsUp(Rule):
    check: Literal["gender_split_adds_up"]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        stated = submission.application.participating_companies
        if (
            stated
            and stated.share_women_percent is not None
            and stated.share_men_percent is not None
            and stated.share_women_percent + stated.share_men_percent != 100
        ):
            yield "$.participating_companies.share_women_percent", (
                f"Andelen kvinnor ({stated.share_women_percent} %) och män ({stated.share_men_percent} %) "
                "ska tillsammans vara 100 %."
            )
