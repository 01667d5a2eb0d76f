"""Every machine-checkable rule of the 2022 secure-digitalisation call."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN, Decimal

import pytest

from tests.factories import (
    CLUSTER,
    COMPANY,
    MUNICIPALITY,
    PERSONNUMMER,
    REGION,
    application_2022,
    check,
    errors,
    warnings,
)


def fields(verdict, rule):
    return [f.field for f in verdict.findings if f.rule == rule]


def test_the_valid_application_has_no_findings_at_all():
    assert check(application_2022()).findings == []


def test_late_is_flagged_for_the_officer_and_there_is_no_opening_day():
    data = application_2022()
    late = datetime.fromisoformat("2022-06-08T00:00:00+02:00")
    verdict = check(data, late)
    assert warnings(verdict) == {"SD22-WINDOW-LATE"} and verdict.eligible
    assert check(data, datetime.fromisoformat("2022-01-01T09:00:00+01:00")).findings == []


def test_a_sole_trader_cannot_apply():
    data = application_2022()
    data["applicant"] = {"org_number": PERSONNUMMER, "name": "Konsult Karlsson", "kind": "sole_trader",
                         "contact": data["applicant"]["contact"]}
    verdict = check(data)
    assert errors(verdict) == {"SD22-WHO-SOLE-TRADER", "SD22-WHO-KIND"}
    assert all(PERSONNUMMER not in f.message for f in verdict.findings)


def test_a_personnummer_declared_as_a_science_park_is_caught():
    data = application_2022()
    data["applicant"]["org_number"] = PERSONNUMMER
    verdict = check(data)
    # A personnummer is a natural person whatever kind is declared: the call's own exclusion
    # of sole traders speaks too, not only the form's mismatch rule.
    assert errors(verdict) == {"FORM-ORG-KIND", "SD22-WHO-SOLE-TRADER"}
    assert fields(verdict, "SD22-WHO-SOLE-TRADER") == ["$.applicant.org_number"]
    assert all("personnummer" in f.message for f in verdict.errors)
    assert all(PERSONNUMMER not in f.message and PERSONNUMMER[:6] not in f.message for f in verdict.findings)


def test_an_invalid_number_declared_as_a_science_park_is_not_taken_for_a_person():
    data = application_2022()
    data["applicant"]["org_number"] = PERSONNUMMER[:-1] + str((int(PERSONNUMMER[-1]) + 1) % 10)
    assert errors(check(data)) == {"FORM-ORG-NUMBER"}


def test_a_municipality_is_not_among_the_actors_of_this_call():
    data = application_2022()
    data["applicant"] = {"org_number": MUNICIPALITY, "name": "Exempels kommun", "kind": "municipality",
                         "contact": data["applicant"]["contact"]}
    assert errors(check(data)) == {"SD22-WHO-KIND"}


def test_a_region_may_apply_for_a_group_of_promoters():
    data = application_2022()
    data["applicant"] = {"org_number": REGION, "name": "Region Exempel", "kind": "region",
                         "contact": data["applicant"]["contact"]}
    data["applies_for_group"] = True
    data["represented_organisations"] = [{"org_number": CLUSTER, "name": "Exempelklustret",
                                          "kind": "cluster_organisation"}]
    assert check(data).findings == []


def test_a_group_application_must_name_its_members():
    data = application_2022()
    data["applicant"] = {"org_number": REGION, "name": "Region Exempel", "kind": "region",
                         "contact": data["applicant"]["contact"]}
    data["applies_for_group"] = True
    verdict = check(data)
    assert errors(verdict) == {"SD22-WHO-GROUP"}
    assert fields(verdict, "SD22-WHO-GROUP") == ["$.represented_organisations"]


def test_only_a_region_applies_for_a_group_and_only_for_promoters():
    data = application_2022()
    data["applies_for_group"] = True
    data["represented_organisations"] = [{"org_number": COMPANY, "name": "Exempel AB", "kind": "company"}]
    verdict = check(data)
    assert errors(verdict) == {"SD22-WHO-GROUP"}
    assert fields(verdict, "SD22-WHO-GROUP") == ["$.applies_for_group", "$.represented_organisations[0].kind"]


def test_the_number_of_companies_time_and_gender_split_must_be_stated():
    data = application_2022()
    del data["participating_companies"]
    verdict = check(data)
    assert errors(verdict) == {"SD22-COMPANIES"}
    assert len(fields(verdict, "SD22-COMPANIES")) == 3


def test_no_participating_companies_is_caught():
    data = application_2022()
    data["participating_companies"]["expected_count"] = 0
    verdict = check(data)
    assert errors(verdict) == {"SD22-COMPANIES"}
    assert fields(verdict, "SD22-COMPANIES") == ["$.participating_companies.expected_count"]


@pytest.mark.parametrize("share", ["share_women_percent", "share_men_percent"])
def test_a_single_missing_share_of_the_gender_split_is_caught(share):
    data = application_2022()
    del data["participating_companies"][share]
    verdict = check(data)
    assert errors(verdict) == {"SD22-COMPANIES"}
    assert fields(verdict, "SD22-COMPANIES") == ["$.participating_companies"]
    assert "kvinnor och män" in verdict.errors[0].message


def test_the_gender_split_must_add_up():
    data = application_2022()
    data["participating_companies"]["share_women_percent"] = 50
    assert errors(check(data)) == {"FORM-GENDER-SPLIT"}


def test_companies_must_have_growth_ambitions():
    data = application_2022()
    data["participating_companies"]["companies"][0]["growth_ambitions"] = False
    verdict = check(data)
    assert errors(verdict) == {"SD22-COMPANY-GROWTH"}
    assert fields(verdict, "SD22-COMPANY-GROWTH") == ["$.participating_companies.companies[0].growth_ambitions"]


def test_companies_must_have_basic_digital_competence():
    data = application_2022()
    data["participating_companies"]["companies"][0]["basic_digital_competence"] = False
    assert errors(check(data)) == {"SD22-COMPANY-DIGITAL"}


def test_a_company_with_fewer_than_five_employees_is_a_warning():
    data = application_2022()
    data["participating_companies"]["companies"][0]["employees"] = 4
    verdict = check(data)
    assert verdict.eligible and warnings(verdict) == {"SD22-COMPANY-SIZE"}
    data["participating_companies"]["companies"][0]["employees"] = 5
    assert check(data).findings == []


def test_the_required_descriptions():
    data = application_2022()
    data["descriptions"]["dissemination"] = None
    data["descriptions"]["challenge"] = ""
    verdict = check(data)
    assert errors(verdict) == {"SD22-DESCRIPTIONS"}
    assert fields(verdict, "SD22-DESCRIPTIONS") == ["$.descriptions.challenge", "$.descriptions.dissemination"]


def _with_training(amounts_by_person):
    data = application_2022()
    data["budget"] = [line for line in data["budget"] if line["cost_type"] != "staff_training"]
    for person, amount in amounts_by_person:
        data["budget"].append({"cost_type": "staff_training", "amount": amount, "description": "Utbildning",
                               "person": person, "training": "Kurs i informationssäkerhet"})
    return data


def _balanced(data):
    # Ask for half, rounded down to the öre, so the co-financing is always at least half.
    costs = sum(Decimal(line["amount"]) for line in data["budget"])
    half = (costs / 2).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    data["requested_amount"] = str(half)
    data["financing"][0]["amount"] = str(costs - half)
    return data


def test_staff_training_at_most_150000_in_all():
    people = [(f"Rådgivare {i}", "30000.00") for i in range(6)]  # 180 000
    data = _balanced(_with_training(people))
    verdict = check(data)
    assert errors(verdict) == {"SD22-TRAINING-TOTAL"}


def test_staff_training_of_exactly_150000_in_all_is_allowed():
    people = [(f"Rådgivare {i}", "30000.00") for i in range(5)]  # 150 000
    data = _balanced(_with_training(people))
    assert check(data).findings == []
    data = _balanced(_with_training([*people, ("Rådgivare 5", "0.01")]))  # one öre more is not
    assert errors(check(data)) == {"SD22-TRAINING-TOTAL"}


def test_staff_training_must_be_described_when_the_budget_has_it():
    data = application_2022()
    del data["descriptions"]["staff_training"]
    verdict = check(data)
    assert errors(verdict) == {"SD22-TRAINING-DESCRIPTION"}
    assert fields(verdict, "SD22-TRAINING-DESCRIPTION") == ["$.descriptions.staff_training"]
    assert "personalutbildning" in verdict.errors[0].message
    data["descriptions"]["staff_training"] = "  "
    assert errors(check(data)) == {"SD22-TRAINING-DESCRIPTION"}


def test_no_staff_training_description_is_needed_without_staff_training():
    data = _balanced(_with_training([]))
    del data["descriptions"]["staff_training"]
    assert check(data).findings == []


def test_staff_training_at_most_30000_per_person_across_courses():
    data = _balanced(_with_training([("Projektledare", "20000.00"), ("Projektledare", "10000.01")]))
    verdict = check(data)
    assert errors(verdict) == {"SD22-TRAINING-PERSON"}
    assert fields(verdict, "SD22-TRAINING-PERSON") == ["$.budget[2].person"]
    data = _balanced(_with_training([("Projektledare", "20000.00"), ("Projektledare", "10000.00")]))
    assert check(data).findings == []


def test_staff_training_at_most_a_third_of_the_budget_exactly():
    data = application_2022()
    people = [(f"Rådgivare {i}", "30000.00") for i in range(4)]  # 120 000
    data = _with_training(people)
    data["budget"] = [line for line in data["budget"] if line["cost_type"] == "staff_training"]
    data["budget"].append({"cost_type": "personnel", "amount": "240000.00", "description": "Coacher"})
    data = _balanced(data)  # 120 000 of 360 000: exactly a third
    assert errors(check(data)) == {"SD22-AMOUNT-MIN"}  # 180 000 requested; the share itself is fine
    data["budget"][-1]["amount"] = "239999.99"
    data = _balanced(data)
    assert "SD22-TRAINING-SHARE" in errors(check(data))


def test_staff_training_must_state_who_and_what():
    data = application_2022()
    data["budget"][2]["training"] = None
    del data["budget"][3]["person"]
    verdict = check(data)
    assert errors(verdict) == {"SD22-TRAINING-STATED"}
    assert fields(verdict, "SD22-TRAINING-STATED") == ["$.budget[2].training", "$.budget[3].person"]


def test_the_project_cannot_start_before_receipt():
    data = application_2022()
    data["project"]["start"] = "2022-05-31"
    assert errors(check(data)) == {"SD22-PERIOD-START"}


def test_operations_end_by_31_october():
    data = application_2022()
    data["project"]["end"] = "2022-11-01"
    verdict = check(data)
    assert errors(verdict) == {"SD22-PERIOD-END"}
    assert "2022-10-31" in verdict.errors[0].message


def test_co_financing_of_half_the_budget():
    data = application_2022()
    data["requested_amount"] = "377500.01"
    data["financing"][0]["amount"] = "377499.99"
    assert errors(check(data)) == {"SD22-COFIN-SHARE"}


def test_co_financing_must_be_cash():
    data = application_2022()
    data["financing"][0]["form"] = "in_kind"
    assert errors(check(data)) == {"SD22-COFIN-CASH", "SD22-COFIN-SHARE"}


def test_external_cash_co_financing_counts():
    data = application_2022()
    data["financing"] = [
        {"financier": "Exempel Science Park AB", "category": "own", "form": "cash", "amount": "177500.00"},
        {"financier": "Region Exempel", "org_number": REGION, "category": "public", "form": "cash",
         "amount": "200000.00"},
    ]
    assert check(data).findings == []


def test_at_least_300000_requested():
    data = _balanced(_with_training([]))  # 700 000 budget, 350 000 requested
    data["budget"][0]["amount"] = "399999.98"  # 599 999,98 budget -> 299 999,99 requested
    data = _balanced(data)
    verdict = check(data)
    assert errors(verdict) == {"SD22-AMOUNT-MIN"}
    assert fields(verdict, "SD22-AMOUNT-MIN") == ["$.requested_amount"]


def test_more_than_the_call_budget():
    data = application_2022()
    data["budget"][0]["amount"] = "20445000.00"  # 20 700 000 with the rest
    data = _balanced(data)
    assert errors(check(data)) == {"SD22-AMOUNT-BUDGET"}


def test_a_collaboration_agreement_is_advised_against():
    data = application_2022()
    data["project"]["collaboration_project"] = True
    verdict = check(data)
    assert verdict.eligible and warnings(verdict) == {"SD22-NO-COLLAB-AGREEMENT"}


def test_one_person_written_in_different_case_is_one_person():
    data = _balanced(_with_training([("IT-säkerhetsansvarig", "20000.00"), ("it-säkerhetsansvarig ", "20000.00")]))
    verdict = check(data)
    assert errors(verdict) == {"SD22-TRAINING-PERSON"}
    assert "IT-säkerhetsansvarig" in verdict.errors[0].message


def test_two_people_with_the_same_role_have_their_own_labels():
    data = _balanced(_with_training([("Affärsrådgivare 1", "20000.00"), ("Affärsrådgivare 2", "20000.00")]))
    assert check(data).findings == []
