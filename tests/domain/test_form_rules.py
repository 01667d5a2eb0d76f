"""Rules of the form itself, the same for every call."""

from __future__ import annotations

import pytest

from tests.factories import PERSONNUMMER, application_2021, application_2022, check, errors, warnings


def fields(verdict, rule):
    return [f.field for f in verdict.findings if f.rule == rule]


@pytest.mark.parametrize("number", ["232100-0017", "23210000", "ABCDEF-0016", "432100-0018", ""])
def test_an_invalid_organisation_number_is_a_finding_not_a_refusal(number):
    data = application_2021()
    data["applicant"]["org_number"] = number
    verdict = check(data)
    assert "FORM-ORG-NUMBER" in errors(verdict)
    assert fields(verdict, "FORM-ORG-NUMBER") == ["$.applicant.org_number"]


def test_numbers_everywhere_in_the_form_are_checked():
    data = application_2022()
    data["participating_companies"]["companies"][0]["org_number"] = "556012-3457"
    data["financing"][0]["org_number"] = "556677-8890"
    verdict = check(data)
    assert fields(verdict, "FORM-ORG-NUMBER") == [
        "$.financing[0].org_number", "$.participating_companies.companies[0].org_number",
    ]


def test_an_invalid_personnummer_is_not_repeated_in_the_finding():
    data = application_2022()
    wrong = PERSONNUMMER[:-1] + str((int(PERSONNUMMER[-1]) + 1) % 10)
    data["applicant"]["org_number"] = wrong
    verdict = check(data)
    assert "FORM-ORG-NUMBER" in errors(verdict)
    assert all(wrong not in f.message and wrong[:6] not in f.message for f in verdict.findings)


def test_an_organisation_number_declared_as_a_private_person():
    data = application_2022()
    data["applicant"]["kind"] = "private_person"
    assert "FORM-ORG-KIND" in errors(check(data))


def test_the_applicant_needs_a_contact_person():
    data = application_2022()
    del data["applicant"]["contact"]
    verdict = check(data)
    assert errors(verdict) == {"FORM-CONTACT"}


def test_financing_must_cover_the_budget_to_the_ore():
    data = application_2022()
    data["financing"][0]["amount"] = "377499.99"
    verdict = check(data)
    assert "FORM-BUDGET-BALANCE" in errors(verdict)
    assert "755\u00a0000\u00a0kr" in next(f for f in verdict.errors if f.rule == "FORM-BUDGET-BALANCE").message


def test_a_budget_of_nothing():
    data = application_2022()
    data["budget"] = []
    assert "FORM-BUDGET-BALANCE" in errors(check(data))


def test_revenue_larger_than_costs():
    data = application_2021()
    data["budget"].append({"cost_type": "project_revenue", "amount": "5000000.00", "description": "Intäkter"})
    verdict = check(data)
    assert "FORM-BUDGET-BALANCE" in errors(verdict)


def test_a_period_that_ends_before_it_starts():
    data = application_2022()
    data["project"]["start"], data["project"]["end"] = "2022-10-01", "2022-09-01"
    assert errors(check(data)) == {"FORM-PERIOD-ORDER"}


def test_a_budget_over_two_years_is_split_by_year():
    data = application_2022()
    data["call_id"] = "saker-digitalisering-2022"
    data["project"]["start"] = "2022-06-13"
    data["project"]["end"] = "2022-10-31"
    for line in data["budget"]:
        line["year"] = 2023
    verdict = check(data)
    assert errors(verdict) == {"FORM-BUDGET-YEARS"}
    assert len(fields(verdict, "FORM-BUDGET-YEARS")) == 4


def test_secrecy_marks_must_point_at_something_in_the_application_and_are_only_warnings():
    data = application_2022()
    data["secret_sections"] = [
        {"section": "$.descriptions.challenge", "reason": "Beskriver våra kunders sårbarheter."},
        {"section": "$.budget", "reason": "Konsultarvoden är affärshemligheter."},
        {"section": "$.descriptions.nonexistent", "reason": "x"},
        {"section": "$.descriptions.follow_up", "reason": "x"},
    ]
    verdict = check(data)
    # Secrecy is the officer's decision (OSL 30 kap. 23 §): a stray mark is no reason to be ineligible.
    assert verdict.eligible
    assert errors(verdict) == set()
    assert warnings(verdict) == {"FORM-SECRECY-MARKS"}
    assert fields(verdict, "FORM-SECRECY-MARKS") == ["$.secret_sections[2].section", "$.secret_sections[3].section"]


def test_secrecy_marks_may_point_into_lists_as_findings_do():
    data = application_2022()
    data["secret_sections"] = [
        {"section": "$.budget[1].description", "reason": "Namnger vår säkerhetskonsult."},
        {"section": "$.budget[1]", "reason": "Hela raden."},
        {"section": "$.participating_companies.companies[0].name", "reason": "Kunden vill vara anonym."},
        {"section": "budget[0].amount", "reason": "Utan $. betyder det samma sak."},
    ]
    assert check(data).findings == []


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("$.budget[9].description", "är inte en del av ansökan"),  # only four lines
        ("$.budget[1].descripton", "är inte en del av ansökan"),
        ("$.budget.description", "är inte en del av ansökan"),  # a list needs its index
        ("$.descriptions[0]", "är inte en del av ansökan"),  # and only a list has one
        ("$.budget[x]", "är inte en del av ansökan"),
        ("$", "är inte en del av ansökan"),
        ("$.budget[2].incurred_by", "är tom i ansökan"),
        ("$.co_applicants", "är tom i ansökan"),
    ],
)
def test_a_secrecy_mark_that_misses_says_why(section, message):
    data = application_2022()
    data["secret_sections"] = [{"section": section, "reason": "Affärshemlighet."}]
    verdict = check(data)
    assert [f.rule for f in verdict.findings] == ["FORM-SECRECY-MARKS"]
    assert verdict.findings[0].message == f"{section} {message}."


def test_a_secrecy_mark_inside_a_part_left_out_is_empty_not_unknown():
    data = application_2022()
    del data["participating_companies"]
    data["secret_sections"] = [{"section": "$.participating_companies.companies[0].name", "reason": "x"}]
    verdict = check(data)
    assert [f.message for f in verdict.findings if f.rule == "FORM-SECRECY-MARKS"] == [
        "$.participating_companies.companies[0].name är tom i ansökan."
    ]


def _over_two_years(data):
    data["project"]["start"], data["project"]["end"] = "2021-03-15", "2022-06-30"
    data["budget"] = [
        {"cost_type": "personnel", "amount": "300000.00", "description": "Projektledning 2021", "year": 2021},
        {"cost_type": "personnel", "amount": "200000.00", "description": "Projektledning 2022", "year": 2022},
        {"cost_type": "external_services", "amount": "200000.00", "description": "Marknadsanalyser",
         "year": 2021},
        {"cost_type": "overhead", "amount": "75000.00", "description": "Schablon för overhead", "year": 2022},
        {"cost_type": "experience_meeting", "amount": "25000.00", "description": "Erfarenhetsträff", "year": 2021},
        {"cost_type": "project_revenue", "amount": "40000.00", "description": "Deltagaravgifter", "year": 2022},
    ]
    return data


def test_a_budget_over_two_years_split_by_year_passes():
    verdict = check(_over_two_years(application_2021()))
    # The project runs past the call's final report date; the form rule has nothing to say.
    assert "FORM-BUDGET-YEARS" not in errors(verdict)
    assert errors(verdict) == {"ES21-PERIOD-END"}


def test_a_budget_over_two_years_must_say_the_year_of_every_line():
    data = _over_two_years(application_2021())
    del data["budget"][1]["year"]
    data["budget"][4]["year"] = None
    verdict = check(data)
    assert errors(verdict) == {"FORM-BUDGET-YEARS", "ES21-PERIOD-END"}
    assert fields(verdict, "FORM-BUDGET-YEARS") == ["$.budget[1].year", "$.budget[4].year"]
    assert "Projektledning 2022" in verdict.errors[0].message
