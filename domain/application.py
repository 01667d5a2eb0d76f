"""The application form: what an applicant submits through the agency's e-service.

The form takes in what an applicant actually wrote, including mistakes a case
officer must see (an organisation number with a wrong check digit, a missing
appendix, a budget that does not balance): those become findings, not refusals,
so that an application is registered whatever its quality. The form refuses only
what cannot be read at all: unknown fields, wrong types, negative money, absurd sizes.

Types are taken as written, never guessed: a date is an ISO string ("2021-03-15", not
0 or "0", which pydantic would read as 1970-01-01), a yes/no is true or false (not
"yes"), a count is a whole number (not 12.0). A guess would put a meaning the
applicant never wrote into a case record.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, StrictBool, StringConstraints

from domain.money import Kronor
from domain.text import Clean

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300), Clean]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20_000), Clean]
IdentityText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20), Clean]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    Clean,
]
Sha256 = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9a-fA-F]{64}$")]
# A year of a budget line; bounded so that "year": 99999999 is an input error, not a finding.
BudgetYear = Annotated[int, Strict(), Field(ge=2000, le=2100)]
Flag = StrictBool
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def _parse_iso_date(value: object) -> object:
    # Strict mode alone still reads the string "0" as a Unix timestamp. Turning the text
    # into a date here keeps strictness for everything else (numbers, datetimes) and
    # lets a date object through, as a workflow passes one.
    if not isinstance(value, str):
        return value
    if _ISO_DATE.fullmatch(value) is None:
        raise ValueError('skriv datum som ÅÅÅÅ-MM-DD, t.ex. "2021-03-15"')
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value} är inget datum i kalendern") from None


IsoDate = Annotated[date, Strict(), BeforeValidator(_parse_iso_date)]


class Form(BaseModel):
    """Base of every part of the form: strict about shape, so a typo is named, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class OrganisationKind(StrEnum):
    """What kind of actor an organisation is, as the applicant declares it."""

    REGION = "region"
    MUNICIPALITY = "municipality"
    STATE_AGENCY = "state_agency"
    UNIVERSITY = "university"
    BUSINESS_PROMOTION = "business_promotion"
    EXPORT_PROMOTION = "export_promotion"
    SCIENCE_PARK = "science_park"
    CLUSTER_ORGANISATION = "cluster_organisation"
    INCUBATOR = "incubator"
    INDUSTRY_ASSOCIATION = "industry_association"
    COMPANY = "company"
    SOLE_TRADER = "sole_trader"
    PRIVATE_PERSON = "private_person"


ORGANISATION_KIND_LABELS_SV: dict[OrganisationKind, str] = {
    OrganisationKind.REGION: "region",
    OrganisationKind.MUNICIPALITY: "kommun",
    OrganisationKind.STATE_AGENCY: "statlig myndighet",
    OrganisationKind.UNIVERSITY: "universitet eller högskola",
    OrganisationKind.BUSINESS_PROMOTION: "företagsfrämjande aktör",
    OrganisationKind.EXPORT_PROMOTION: "exportfrämjande aktör",
    OrganisationKind.SCIENCE_PARK: "science park",
    OrganisationKind.CLUSTER_ORGANISATION: "klusterorganisation",
    OrganisationKind.INCUBATOR: "inkubator",
    OrganisationKind.INDUSTRY_ASSOCIATION: "branschorganisation",
    OrganisationKind.COMPANY: "företag som söker för sin egen verksamhet",
    OrganisationKind.SOLE_TRADER: "enskild näringsidkare",
    OrganisationKind.PRIVATE_PERSON: "privatperson",
}


class ContactPerson(Form):
    name: ShortText
    email: Email
    phone: ShortText | None = None


class Organisation(Form):
    org_number: IdentityText = Field(description="Organisationsnummer (or personnummer for a sole trader)")
    name: ShortText
    kind: OrganisationKind
    contact: ContactPerson | None = None


class Project(Form):
    title: ShortText
    summary: LongText | None = None
    start: IsoDate
    end: IsoDate
    regional: Flag = Field(False, description="A regional project (anchored in one region)")
    region: ShortText | None = None
    region_reference: ContactPerson | None = Field(
        None, description="Reference person at the region, when the region is not a partner"
    )
    collaboration_project: Flag = Field(False, description="Run as a collaboration project (samverkansprojekt)")


class ChangeLogic(Form):
    """Förändringslogik: where the project starts, where it wants to be, and how."""

    current_state: LongText | None = None
    desired_state: LongText | None = None
    planned_work: LongText | None = None


class Descriptions(Form):
    target_group: LongText | None = None
    added_value: LongText | None = None
    follow_up: LongText | None = None
    challenge: LongText | None = Field(
        None, description="The target group's challenge and needs, and the methods to develop"
    )
    company_involvement: LongText | None = None
    activities: LongText | None = None
    staff_training: LongText | None = None
    organisation: LongText | None = Field(None, description="Project organisation, competence and experience")
    dissemination: LongText | None = None


class CostType(StrEnum):
    PERSONNEL = "personnel"
    EXTERNAL_SERVICES = "external_services"
    OVERHEAD = "overhead"
    TRAVEL = "travel"
    EXPERIENCE_MEETING = "experience_meeting"
    EQUIPMENT = "equipment"
    STAFF_TRAINING = "staff_training"
    OTHER = "other"
    PROJECT_REVENUE = "project_revenue"


COST_TYPE_LABELS_SV: dict[CostType, str] = {
    CostType.PERSONNEL: "personalkostnader",
    CostType.EXTERNAL_SERVICES: "externa tjänster",
    CostType.OVERHEAD: "overheadkostnader",
    CostType.TRAVEL: "resor och logi",
    CostType.EXPERIENCE_MEETING: "resor och logi för Tillväxtverkets erfarenhetsträff",
    CostType.EQUIPMENT: "utrustning",
    CostType.STAFF_TRAINING: "kompetensutveckling av egen personal",
    CostType.OTHER: "övriga kostnader",
    CostType.PROJECT_REVENUE: "projektintäkter",
}


class BudgetLine(Form):
    cost_type: CostType
    amount: Kronor = Field(description="Kronor; project revenue is entered as a positive amount and reduces the budget")
    description: ShortText
    year: BudgetYear | None = None
    incurred_by: IdentityText | None = Field(
        None, description="Organisation number of whoever bears the cost; the applicant when left out"
    )
    ordinary_operations: Flag = Field(False, description="The cost belongs to the organisation's ordinary operations")
    person: ShortText | None = Field(
        None, description=(
            "Staff training: a label for the person trained, unique per person within the application,"
            " e.g. 'Affärsrådgivare 2' (a role, never a name or personnummer)"
        ),
    )
    training: ShortText | None = Field(None, description="Staff training: the kind of training")


class FinancingForm(StrEnum):
    CASH = "cash"
    IN_KIND = "in_kind"


class FinancingCategory(StrEnum):
    OWN = "own"
    PUBLIC = "public"
    PRIVATE = "private"
    PARTICIPANT_FEES = "participant_fees"


class FinancingSource(Form):
    financier: ShortText
    org_number: IdentityText | None = None
    category: FinancingCategory
    form: FinancingForm
    amount: Kronor


class ParticipatingCompany(Form):
    org_number: IdentityText
    name: ShortText
    employees: Annotated[int, Strict(), Field(ge=0, le=10_000_000)]
    growth_ambitions: Flag
    basic_digital_competence: Flag


class ParticipatingCompanies(Form):
    expected_count: Annotated[int, Strict(), Field(ge=0, le=100_000)]
    expected_hours_per_company: Annotated[int, Strict(), Field(ge=0, le=100_000)] | None = None
    share_women_percent: Annotated[int, Strict(), Field(ge=0, le=100)] | None = None
    share_men_percent: Annotated[int, Strict(), Field(ge=0, le=100)] | None = None
    companies: Annotated[list[ParticipatingCompany], Field(max_length=1000)] = []


class Sustainability(Form):
    gender_equality: LongText | None = None
    equal_treatment: LongText | None = Field(None, description="Likabehandling och icke-diskriminering")
    environment: LongText | None = None
    agenda_2030: LongText | None = None


class AttachmentKind(StrEnum):
    CHANGE_LOGIC = "change_logic"
    SIGNATORY_AUTHORITY = "signatory_authority"
    COLLABORATION_AGREEMENT = "collaboration_agreement"
    LETTER_OF_INTENT = "letter_of_intent"
    CV = "cv"
    BUDGET = "budget"
    OTHER = "other"


ATTACHMENT_KIND_LABELS_SV: dict[AttachmentKind, str] = {
    AttachmentKind.CHANGE_LOGIC: "bilaga om förändringslogik",
    AttachmentKind.SIGNATORY_AUTHORITY: "intyg om behörig firmatecknare",
    AttachmentKind.COLLABORATION_AGREEMENT: "samverkansavtal",
    AttachmentKind.LETTER_OF_INTENT: "avsiktsförklaring",
    AttachmentKind.CV: "meritförteckning",
    AttachmentKind.BUDGET: "budgetunderlag",
    AttachmentKind.OTHER: "övrig bilaga",
}


class Attachment(Form):
    name: ShortText
    kind: AttachmentKind
    sha256: Sha256


class SecretMark(Form):
    """A part the applicant considers a business secret (OSL 30 kap. 23 §); the officer decides."""

    section: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), Clean] = Field(
        description="JSON path of the marked part, e.g. $.change_logic.planned_work"
    )
    reason: LongText


class Application(Form):
    call_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), Clean]
    applicant: Organisation
    co_applicants: Annotated[list[Organisation], Field(max_length=100)] = []
    applies_for_group: Flag = Field(False, description="A region applying on behalf of a group of promoters")
    represented_organisations: Annotated[list[Organisation], Field(max_length=100)] = []
    project: Project
    focus_areas: Annotated[list[ShortText], Field(max_length=20)] = []
    change_logic: ChangeLogic = ChangeLogic()
    descriptions: Descriptions = Descriptions()
    budget: Annotated[list[BudgetLine], Field(max_length=1000)]
    requested_amount: Kronor
    financing: Annotated[list[FinancingSource], Field(max_length=200)] = []
    participating_companies: ParticipatingCompanies | None = None
    sustainability: Sustainability = Sustainability()
    attachments: Annotated[list[Attachment], Field(max_length=200)] = []
    secret_sections: Annotated[list[SecretMark], Field(max_length=200)] = []

    @property
    def organisations(self) -> list[Organisation]:
        """Everyone applying: the applicant first, then the co-applicants."""
        return [self.applicant, *self.co_applicants]
