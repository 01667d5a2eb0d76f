"""Valid applications for each seed call, as plain dicts a test can break in one place.

The organisation numbers are well-formed (Luhn check digits computed) and fictitious.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from domain.application import Application
from domain.findings import Verdict
from domain.validation import validate
from infra.calls import load_catalog

REGION = "232100-0016"  # 2: region
MUNICIPALITY = "212000-1231"  # 2: municipality
SCIENCE_PARK = "556677-8899"  # 5: limited company
CLUSTER = "802400-1235"  # 8: non-profit association
CLUSTER_2 = "802480-5551"
COMPANY = "556012-3456"
ASSOCIATION = "769600-1119"  # 7: economic association
PERSONNUMMER = "850101-1236"  # a sole trader's personnummer (fictitious, valid check digit)

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

RECEIVED_2021 = datetime.fromisoformat("2021-03-01T10:00:00+01:00")
RECEIVED_2022 = datetime.fromisoformat("2022-06-01T09:00:00+02:00")

_CATALOG = load_catalog()


def contact(name: str = "Anna Andersson") -> dict[str, Any]:
    return {"name": name, "email": "anna.andersson@example.se", "phone": "031-123 45 67"}


def application_2021() -> dict[str, Any]:
    return copy.deepcopy({
        "call_id": "export-samverkan-2021",
        "applicant": {"org_number": REGION, "name": "Region Exempel", "kind": "region", "contact": contact()},
        "co_applicants": [
            {"org_number": CLUSTER, "name": "Exempelklustret", "kind": "cluster_organisation",
             "contact": contact("Erik Eriksson")},
        ],
        "project": {
            "title": "Gemensam exportsatsning för livsmedelsföretag",
            "start": "2021-03-15",
            "end": "2021-11-30",
            "regional": True,
            "region": "Region Exempel",
        },
        "focus_areas": ["Fördjupade branschsatsningar"],
        "change_logic": {
            "current_state": "Få livsmedelsföretag i regionen exporterar.",
            "desired_state": "Fler småföretag har en exportplan och egna kontakter på nya marknader.",
            "planned_work": "Gemensam rådgivning, marknadsanalyser och digitala mässor.",
        },
        "descriptions": {
            "target_group": "Små livsmedelsföretag med 5–50 anställda och låg exportmognad.",
            "added_value": "Företagen får en samlad ingång till exportstöd.",
            "follow_up": "Enkät till deltagande företag efter sex och tolv månader.",
            "activities": "Behovsanalys, gemensam rådgivning och branschseminarier.",
        },
        "budget": [
            {"cost_type": "personnel", "amount": "500000.00", "description": "Projektledning och rådgivare"},
            {"cost_type": "external_services", "amount": "200000.00", "description": "Marknadsanalyser"},
            {"cost_type": "overhead", "amount": "75000.00", "description": "Schablon för overhead"},
            {"cost_type": "experience_meeting", "amount": "25000.00", "description": "Resa till erfarenhetsträff"},
            {"cost_type": "project_revenue", "amount": "40000.00", "description": "Deltagaravgifter"},
        ],
        "requested_amount": "570000.00",
        "financing": [
            {"financier": "Region Exempel", "org_number": REGION, "category": "own", "form": "cash",
             "amount": "190000.00"},
        ],
        "sustainability": {
            "gender_equality": "Vi rekryterar företag med kvinnor och män i ledningen.",
            "equal_treatment": "Aktiviteterna är öppna för företagare födda inrikes och utrikes.",
            "environment": "Digitala mässor ersätter resor.",
            "agenda_2030": "Projektet bidrar till mål 8 och 12.",
        },
        "attachments": [
            {"name": "forandringslogik.pdf", "kind": "change_logic", "sha256": SHA},
            {"name": "delegationsordning.pdf", "kind": "signatory_authority", "sha256": SHA},
        ],
    })


def application_2022() -> dict[str, Any]:
    return copy.deepcopy({
        "call_id": "saker-digitalisering-2022",
        "applicant": {"org_number": SCIENCE_PARK, "name": "Exempel Science Park AB", "kind": "science_park",
                      "contact": contact()},
        "project": {"title": "Säker digitalisering för små tillverkare", "start": "2022-06-13", "end": "2022-10-31"},
        "descriptions": {
            "challenge": "Små tillverkare saknar rutiner för informationssäkerhet hos leverantörer.",
            "company_involvement": "Ledning och styrelse deltar i tre workshoppar.",
            "activities": "Behovsanalys, coachning och utbildning i riskhantering.",
            "organisation": "Projektledare med tio års erfarenhet av digitalisering.",
            "dissemination": "Metoden publiceras och sprids via regionens nätverk.",
            "staff_training": "Projektledaren certifieras i informationssäkerhet och en affärsrådgivare går en kurs "
                              "i riskanalys.",
        },
        "participating_companies": {
            "expected_count": 8,
            "expected_hours_per_company": 40,
            "share_women_percent": 40,
            "share_men_percent": 60,
            "companies": [
                {"org_number": COMPANY, "name": "Exempel Mekaniska AB", "employees": 12,
                 "growth_ambitions": True, "basic_digital_competence": True},
            ],
        },
        "budget": [
            {"cost_type": "personnel", "amount": "500000.00", "description": "Projektledning och coacher"},
            {"cost_type": "external_services", "amount": "200000.00", "description": "Säkerhetskonsulter"},
            {"cost_type": "staff_training", "amount": "30000.00", "description": "Certifiering",
             "person": "Projektledare", "training": "Certifiering i informationssäkerhet"},
            {"cost_type": "staff_training", "amount": "25000.00", "description": "Kurs",
             "person": "Affärsrådgivare", "training": "Kurs i riskanalys"},
        ],
        "requested_amount": "377500.00",
        "financing": [
            {"financier": "Exempel Science Park AB", "category": "own", "form": "cash", "amount": "377500.00"},
        ],
    })


def check(data: dict[str, Any], received: datetime | None = None) -> Verdict:
    application = Application.model_validate(data)
    call = _CATALOG.get(application.call_id)
    if received is None:
        received = RECEIVED_2021 if application.call_id == "export-samverkan-2021" else RECEIVED_2022
    return validate(call, _CATALOG.form, application, received)


def errors(verdict: Verdict) -> set[str]:
    return {f.rule for f in verdict.errors}


def warnings(verdict: Verdict) -> set[str]:
    return {f.rule for f in verdict.warnings}
