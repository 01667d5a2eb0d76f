"""The companies taking part in a project's activities (the 2022 call's target group)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field

from domain.rules.base import Problem, Rule, Submission


class ParticipatingCompaniesStated(Rule):
    """The number of companies and the expected split between women and men."""

    check: Literal["participating_companies_stated"]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        stated = submission.application.participating_companies
        if stated is None or stated.expected_count < 1:
            yield "$.participating_companies.expected_count", "Ange hur många företag som ska delta."
        if stated is None or stated.share_women_percent is None or stated.share_men_percent is None:
            yield "$.participating_companies", (
                "Ange en uppskattning av fördelningen mellan kvinnor och män som företräder "
                "de deltagande företagen."
            )
        if stated is None or stated.expected_hours_per_company is None:
            yield "$.participating_companies.expected_hours_per_company", (
                "Ange en uppskattning i tid av företagens deltagande."
            )


class ParticipatingCompanyFlag(Rule):
    check: Literal["participating_company_flag"]
    flag: Literal["growth_ambitions", "basic_digital_competence"]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        stated = submission.application.participating_companies
        wanted = {
            "growth_ambitions": "ha tillväxtambitioner",
            "basic_digital_competence": "ha grundläggande kompetens inom digitalisering",
        }[self.flag]
        for i, company in enumerate(stated.companies if stated else []):
            if not getattr(company, self.flag):
                yield f"$.participating_companies.companies[{i}].{self.flag}", (
                    f"Deltagande företag ska {wanted}; det gäller inte {company.name}."
                )


class ParticipatingCompanyMinEmployees(Rule):
    check: Literal["participating_company_min_employees"]
    minimum: Annotated[int, Field(ge=1)]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        stated = submission.application.participating_companies
        for i, company in enumerate(stated.companies if stated else []):
            if company.employees < self.minimum:
                yield f"$.participating_companies.companies[{i}].employees", (
                    f"{company.name} har {company.employees} anställda; deltagande företag bör ha "
                    f"minst {self.minimum} anställda."
                )
