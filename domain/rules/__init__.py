"""Every kind of check a call file can use, selected by its `check` key."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from domain.rules.base import Rule, Submission
from domain.rules.companies import (
    ParticipatingCompaniesStated,
    ParticipatingCompanyFlag,
    ParticipatingCompanyMinEmployees,
)
from domain.rules.content import Advisory, AttachmentRequired, TextsRequired
from domain.rules.eligibility import (
    ExactlyOneFocusArea,
    GroupApplication,
    MinimumOrganisations,
    OrganisationKindsAllowed,
    OrganisationKindsExcluded,
    ReceivedAfterOpening,
    ReceivedByLastDay,
    RegionalAnchoring,
)
from domain.rules.form import (
    ApplicantContact,
    BudgetBalances,
    BudgetYearsWithinPeriod,
    GenderSplitAddsUp,
    IdentityNumbersValid,
    KindMatchesIdentity,
    PeriodInOrder,
    SecretSectionsExist,
    UniqueOrganisations,
)
from domain.rules.funding import (
    CoFinancingCashOnly,
    CoFinancingShare,
    CostLinesState,
    CostsBorneByApplicants,
    CostTypePerPersonAtMost,
    CostTypeRequired,
    CostTypesAllowed,
    CostTypeShareAtMost,
    CostTypeTotalAtMost,
    FinancingCategoryExcluded,
    NoOrdinaryOperations,
    RequestedAmountAtLeast,
    RequestedAmountWithin,
    RequestedWithinCallBudget,
)
from domain.rules.period import PeriodEndsBy, PeriodStartsOnOrAfterReceipt

AnyRule = Annotated[
    ReceivedByLastDay
    | ReceivedAfterOpening
    | OrganisationKindsAllowed
    | OrganisationKindsExcluded
    | MinimumOrganisations
    | GroupApplication
    | RegionalAnchoring
    | ExactlyOneFocusArea
    | RequestedAmountAtLeast
    | RequestedAmountWithin
    | RequestedWithinCallBudget
    | CoFinancingShare
    | CoFinancingCashOnly
    | FinancingCategoryExcluded
    | CostTypesAllowed
    | CostTypeRequired
    | CostsBorneByApplicants
    | NoOrdinaryOperations
    | CostTypeTotalAtMost
    | CostTypePerPersonAtMost
    | CostTypeShareAtMost
    | CostLinesState
    | PeriodStartsOnOrAfterReceipt
    | PeriodEndsBy
    | TextsRequired
    | AttachmentRequired
    | Advisory
    | ParticipatingCompaniesStated
    | ParticipatingCompanyFlag
    | ParticipatingCompanyMinEmployees
    | IdentityNumbersValid
    | KindMatchesIdentity
    | UniqueOrganisations
    | ApplicantContact
    | BudgetBalances
    | PeriodInOrder
    | BudgetYearsWithinPeriod
    | SecretSectionsExist
    | GenderSplitAddsUp,
    Field(discriminator="check"),
]

__all__ = ["AnyRule", "Rule", "Submission"]
