"""Amounts, co-financing and costs: "Hur mycket kan vi få?", "Medfinansiering", cost types."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from domain.application import COST_TYPE_LABELS_SV, CostType, FinancingCategory, FinancingForm
from domain.identity import identity_key
from domain.money import Kronor, Share, format_kronor, format_share, share_of, total
from domain.rules.base import Problem, Rule, Submission


class RequestedAmountAtLeast(Rule):
    check: Literal["requested_amount_at_least"]
    minimum: Kronor

    def problems(self, submission: Submission) -> Iterator[Problem]:
        requested = submission.application.requested_amount
        if requested < self.minimum:
            yield "$.requested_amount", (
                f"Sökt belopp {format_kronor(requested)} är lägre än lägsta belopp "
                f"{format_kronor(self.minimum)}."
            )


class RequestedAmountWithin(Rule):
    check: Literal["requested_amount_within"]
    minimum: Kronor
    maximum: Kronor

    def problems(self, submission: Submission) -> Iterator[Problem]:
        requested = submission.application.requested_amount
        if not self.minimum <= requested <= self.maximum:
            yield "$.requested_amount", (
                f"Sökt belopp {format_kronor(requested)} ligger utanför den omfattning "
                f"utlysningen ser gärna: {format_kronor(self.minimum)}–{format_kronor(self.maximum)}."
            )


class RequestedWithinCallBudget(Rule):
    check: Literal["requested_amount_within_call_budget"]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        requested = submission.application.requested_amount
        budget = submission.terms.funding.budget
        if requested > budget:
            yield "$.requested_amount", (
                f"Sökt belopp {format_kronor(requested)} är större än utlysningens hela "
                f"omfattning {format_kronor(budget)}."
            )


class CoFinancingShare(Rule):
    """Only cash counts: in-kind co-financing is refused by its own rule, not silently added."""

    check: Literal["co_financing_share"]
    minimum: Share

    def problems(self, submission: Submission) -> Iterator[Problem]:
        cash = total(
            source.amount
            for source in submission.application.financing
            if source.form is FinancingForm.CASH
        )
        budget = submission.total_budget
        if budget <= 0:
            return  # an empty budget is the form rules' finding; a share of nothing means nothing
        if share_of(cash, budget) < self.minimum:
            yield "$.financing", (
                f"Kontant medfinansiering {format_kronor(cash)} är {format_share(share_of(cash, budget))} "
                f"av projektets budget {format_kronor(budget)}; minst {format_share(self.minimum)} krävs."
            )


class CoFinancingCashOnly(Rule):
    check: Literal["co_financing_cash_only"]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        for i, source in enumerate(submission.application.financing):
            if source.form is FinancingForm.IN_KIND:
                yield f"$.financing[{i}].form", (
                    f"Medfinansiering från {source.financier} ({format_kronor(source.amount)}) är "
                    "i annat än pengar. Medfinansiering i annat än pengar godkänns ej."
                )


class FinancingCategoryExcluded(Rule):
    check: Literal["financing_category_excluded"]
    category: FinancingCategory
    instead: CostType

    def problems(self, submission: Submission) -> Iterator[Problem]:
        for i, source in enumerate(submission.application.financing):
            if source.category is self.category:
                yield f"$.financing[{i}].category", (
                    f"{source.financier} ({format_kronor(source.amount)}) ska inte redovisas som "
                    f"medfinansiering utan i budgeten som {COST_TYPE_LABELS_SV[self.instead]}."
                )


class CostTypesAllowed(Rule):
    check: Literal["cost_types_allowed"]
    cost_types: Annotated[list[CostType], Field(min_length=1)]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        allowed = ", ".join(COST_TYPE_LABELS_SV[c] for c in self.cost_types)
        for i, line in enumerate(submission.application.budget):
            if line.cost_type not in self.cost_types:
                yield f"$.budget[{i}].cost_type", (
                    f"Kostnadsslaget {COST_TYPE_LABELS_SV[line.cost_type]} ({line.description}) "
                    f"får inte användas. Tillåtna kostnadsslag: {allowed}."
                )


class CostTypeRequired(Rule):
    check: Literal["cost_type_required"]
    cost_type: CostType

    def problems(self, submission: Submission) -> Iterator[Problem]:
        if not any(
            line.cost_type is self.cost_type and line.amount > 0 for line in submission.application.budget
        ):
            yield "$.budget", f"Budgeten ska innehålla kostnader för {COST_TYPE_LABELS_SV[self.cost_type]}."


class CostsBorneByApplicants(Rule):
    """Costs of the companies the project serves are theirs, not the project's."""

    check: Literal["costs_borne_by_applicants"]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        applying = {identity_key(org.org_number) for org in submission.application.organisations}
        for i, line in enumerate(submission.application.budget):
            if line.incurred_by is not None and identity_key(line.incurred_by) not in applying:
                yield f"$.budget[{i}].incurred_by", (
                    f"Kostnaden ”{line.description}” bärs av en organisation som inte är sökande. "
                    "Enskilda kundföretags kostnader för medverkan är inte stödberättigade."
                )


class NoOrdinaryOperations(Rule):
    check: Literal["no_ordinary_operations"]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        for i, line in enumerate(submission.application.budget):
            if line.ordinary_operations:
                yield f"$.budget[{i}].ordinary_operations", (
                    f"Kostnaden ”{line.description}” avser ordinarie verksamhet och drift, "
                    "som inte omfattas av stödet."
                )


def _lines_of(submission: Submission, cost_type: CostType) -> list[tuple[int, Decimal]]:
    return [
        (i, line.amount) for i, line in enumerate(submission.application.budget) if line.cost_type is cost_type
    ]


class CostTypeTotalAtMost(Rule):
    check: Literal["cost_type_total_at_most"]
    cost_type: CostType
    maximum: Kronor

    def problems(self, submission: Submission) -> Iterator[Problem]:
        spent = total(amount for _, amount in _lines_of(submission, self.cost_type))
        if spent > self.maximum:
            yield "$.budget", (
                f"Budgeten för {COST_TYPE_LABELS_SV[self.cost_type]} är {format_kronor(spent)}; "
                f"högst {format_kronor(self.maximum)} är tillåtet."
            )


class CostTypePerPersonAtMost(Rule):
    check: Literal["cost_type_per_person_at_most"]
    cost_type: CostType
    maximum: Kronor

    def problems(self, submission: Submission) -> Iterator[Problem]:
        # A person is named by a label unique within the application ("Affärsrådgivare 2");
        # "IT-ansvarig" and "it-ansvarig " are the same label.
        per_person: dict[str, Decimal] = defaultdict(Decimal)
        first_line: dict[str, int] = {}
        for i, line in enumerate(submission.application.budget):
            if line.cost_type is self.cost_type and line.person:
                key = " ".join(line.person.casefold().split())
                per_person[key] += line.amount
                first_line.setdefault(key, i)
        for key, spent in per_person.items():
            if spent > self.maximum:
                line_index = first_line[key]
                person = submission.application.budget[line_index].person
                yield f"$.budget[{line_index}].person", (
                    f"{COST_TYPE_LABELS_SV[self.cost_type].capitalize()} för {person} är "
                    f"{format_kronor(spent)}; högst {format_kronor(self.maximum)} per person är tillåtet."
                )


class CostTypeShareAtMost(Rule):
    check: Literal["cost_type_share_at_most"]
    cost_type: CostType
    maximum: Share

    def problems(self, submission: Submission) -> Iterator[Problem]:
        spent = total(amount for _, amount in _lines_of(submission, self.cost_type))
        budget = submission.total_budget
        if spent > 0 and (budget <= 0 or share_of(spent, budget) > self.maximum):
            yield "$.budget", (
                f"{COST_TYPE_LABELS_SV[self.cost_type].capitalize()} ({format_kronor(spent)}) är "
                f"{format_share(share_of(spent, budget))} av totalbudgeten; högst "
                f"{format_share(self.maximum)} får användas till det."
            )


class CostLinesState(Rule):
    check: Literal["cost_lines_state"]
    cost_type: CostType
    fields: Annotated[list[Literal["person", "training", "year", "incurred_by"]], Field(min_length=1)]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        labels = {"person": "vem som utbildas", "training": "typ av utbildning", "year": "år",
                  "incurred_by": "vem som bär kostnaden"}
        for i, line in enumerate(submission.application.budget):
            if line.cost_type is not self.cost_type:
                continue
            for name in self.fields:
                if not getattr(line, name):
                    yield f"$.budget[{i}].{name}", f"Ange {labels[name]} för ”{line.description}”."
