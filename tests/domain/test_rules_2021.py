"""Every machine-checkable rule of the 2021 export call: broken, it is caught; kept, it passes.

Each test breaks one thing in an otherwise valid application and asserts that exactly the
rules concerned fire, so a rule that fires too widely fails here as well as one that never does.
"""

from __future__ import annotations

from datetime import datetime

from infra.calls import load_catalog
from tests.factories import (
    ASSOCIATION,
    CLUSTER_2,
    COMPANY,
    PERSONNUMMER,
    SHA,
    application_2021,
    check,
    errors,
    warnings,
)


def fields(verdict, rule):
    return [f.field for f in verdict.findings if f.rule == rule]


def test_the_valid_application_has_no_findings_at_all():
    verdict = check(application_2021())
    assert verdict.findings == []
    assert verdict.eligible


# --- När kan vi söka? --------------------------------------------------------


def test_received_on_the_last_evening_is_in_time():
    verdict = check(application_2021(), datetime.fromisoformat("2021-03-08T23:59:59+01:00"))
    assert "ES21-WINDOW-LATE" not in warnings(verdict)


def test_received_after_the_last_day_is_flagged_but_not_rejected():
    data = application_2021()
    data["project"]["start"] = "2021-03-10"
    verdict = check(data, datetime.fromisoformat("2021-03-09T00:00:00+01:00"))
    assert warnings(verdict) == {"ES21-WINDOW-LATE"}
    assert verdict.eligible  # the officer may dismiss; the system does not
    assert "avvisa" in verdict.warnings[0].message


def test_received_before_the_call_opened_is_an_error():
    verdict = check(application_2021(), datetime.fromisoformat("2021-02-04T23:30:00+01:00"))
    assert errors(verdict) == {"ES21-WINDOW-OPEN"}


def _opening_day_application():
    data = application_2021()
    data["project"]["start"] = "2021-02-05"
    return data


def test_received_at_midnight_stockholm_on_the_opening_day_is_open():
    verdict = check(_opening_day_application(), datetime.fromisoformat("2021-02-05T00:00:00+01:00"))
    assert verdict.findings == []


def test_received_one_second_before_midnight_on_the_opening_day_is_too_early():
    # 22:59:59 UTC is 23:59:59 in Stockholm on 4 February.
    verdict = check(_opening_day_application(), datetime.fromisoformat("2021-02-04T22:59:59+00:00"))
    assert errors(verdict) == {"ES21-WINDOW-OPEN"}
    assert fields(verdict, "ES21-WINDOW-OPEN") == ["$"]


# --- Vem kan söka? -----------------------------------------------------------


def test_a_private_person_cannot_apply():
    data = application_2021()
    data["co_applicants"][0] = {"org_number": PERSONNUMMER, "name": "Sven Svensson", "kind": "private_person"}
    verdict = check(data)
    assert errors(verdict) == {"ES21-WHO-PRIVATE", "ES21-WHO-KIND"}
    assert fields(verdict, "ES21-WHO-PRIVATE") == ["$.co_applicants[0].kind"]
    # The personnummer is personal data: no finding may repeat it.
    assert all(PERSONNUMMER not in f.message for f in verdict.findings)


def test_a_personnummer_declared_as_a_promotion_actor_is_a_private_person():
    data = application_2021()
    data["co_applicants"][0] = {"org_number": PERSONNUMMER, "name": "Exempel Science Park", "kind": "science_park"}
    verdict = check(data)
    # The number says a natural person: the call's own exclusion speaks, not only the form's mismatch.
    assert errors(verdict) == {"ES21-WHO-PRIVATE", "FORM-ORG-KIND"}
    assert fields(verdict, "ES21-WHO-PRIVATE") == ["$.co_applicants[0].org_number"]
    assert all(PERSONNUMMER not in f.message for f in verdict.findings)


def test_a_company_developing_its_own_business_cannot_apply():
    data = application_2021()
    data["co_applicants"][0] = {"org_number": COMPANY, "name": "Exempel AB", "kind": "company"}
    verdict = check(data)
    assert errors(verdict) == {"ES21-WHO-OWNBIZ", "ES21-WHO-KIND"}


def test_a_private_export_promotion_company_may_apply():
    data = application_2021()
    data["co_applicants"][0] = {"org_number": COMPANY, "name": "Exportrådgivarna AB", "kind": "export_promotion"}
    assert check(data).findings == []


def test_a_university_is_not_a_promotion_actor_in_this_call():
    data = application_2021()
    data["co_applicants"][0]["kind"] = "university"
    verdict = check(data)
    assert errors(verdict) == {"ES21-WHO-KIND"}
    assert fields(verdict, "ES21-WHO-KIND") == ["$.co_applicants[0].kind"]


def test_one_applicant_alone_is_not_enough():
    data = application_2021()
    data["co_applicants"] = []
    assert errors(check(data)) == {"ES21-WHO-TOGETHER"}


def test_the_same_organisation_twice_does_not_count_as_two():
    data = application_2021()
    data["co_applicants"][0] = dict(data["applicant"])
    assert errors(check(data)) == {"ES21-WHO-TOGETHER", "FORM-ORG-UNIQUE"}


def test_a_regional_project_without_the_region_needs_a_reference_person():
    data = application_2021()
    data["applicant"] = {"org_number": ASSOCIATION, "name": "Exportföreningen", "kind": "export_promotion",
                         "contact": data["applicant"]["contact"]}
    data["financing"][0]["org_number"] = ASSOCIATION
    verdict = check(data)
    assert errors(verdict) == {"ES21-WHO-REGIONAL"}
    data["project"]["region_reference"] = {"name": "Rut Regional", "email": "rut@region.example.se"}
    assert check(data).findings == []


def test_a_national_project_needs_no_regional_anchoring():
    data = application_2021()
    data["applicant"] = {"org_number": ASSOCIATION, "name": "Exportföreningen", "kind": "export_promotion",
                         "contact": data["applicant"]["contact"]}
    data["project"]["regional"] = False
    assert check(data).findings == []


# --- För vad kan vi söka? ----------------------------------------------------


def test_both_focus_areas_at_once_is_an_error():
    data = application_2021()
    data["focus_areas"] = ["Fördjupade branschsatsningar", "Satsningar för att nå en bredd av småföretag"]
    verdict = check(data)
    assert errors(verdict) == {"ES21-FOCUS"}
    assert fields(verdict, "ES21-FOCUS") == ["$.focus_areas"]


def test_no_focus_area_is_an_error():
    data = application_2021()
    data["focus_areas"] = []
    assert errors(check(data)) == {"ES21-FOCUS"}


def test_a_focus_area_the_call_does_not_have_is_an_error():
    data = application_2021()
    data["focus_areas"] = ["Turism"]
    verdict = check(data)
    assert errors(verdict) == {"ES21-FOCUS"}
    assert fields(verdict, "ES21-FOCUS") == ["$.focus_areas[0]"]


def test_the_target_group_and_follow_up_must_be_described():
    data = application_2021()
    data["descriptions"]["follow_up"] = "   "
    verdict = check(data)
    assert errors(verdict) == {"ES21-TARGET-GROUP"}
    assert fields(verdict, "ES21-TARGET-GROUP") == ["$.descriptions.follow_up"]


def test_the_change_logic_needs_all_three_parts():
    data = application_2021()
    del data["change_logic"]["desired_state"]
    verdict = check(data)
    assert errors(verdict) == {"ES21-CHANGE-LOGIC"}
    assert fields(verdict, "ES21-CHANGE-LOGIC") == ["$.change_logic.desired_state"]


def test_the_change_logic_appendix_is_required():
    data = application_2021()
    data["attachments"] = [a for a in data["attachments"] if a["kind"] != "change_logic"]
    assert errors(check(data)) == {"ES21-CHANGE-LOGIC-APPENDIX"}


def test_missing_sustainability_texts_are_warnings_only():
    data = application_2021()
    data["sustainability"] = {"environment": "Digitala möten."}
    verdict = check(data)
    assert verdict.eligible
    assert warnings(verdict) == {"ES21-SUSTAINABILITY"}
    assert fields(verdict, "ES21-SUSTAINABILITY") == [
        "$.sustainability.gender_equality", "$.sustainability.equal_treatment", "$.sustainability.agenda_2030",
    ]


def test_activities_must_be_described():
    data = application_2021()
    data["descriptions"]["activities"] = ""
    assert errors(check(data)) == {"ES21-ACTIVITIES"}


# --- Vilka krav, villkor eller andra regler finns? ---------------------------


def test_the_project_cannot_start_before_the_application_arrived():
    data = application_2021()
    data["project"]["start"] = "2021-02-28"
    verdict = check(data)
    assert errors(verdict) == {"ES21-PERIOD-START"}
    assert fields(verdict, "ES21-PERIOD-START") == ["$.project.start"]


def test_the_project_may_start_on_the_day_the_application_arrived():
    data = application_2021()
    data["project"]["start"] = "2021-03-01"
    assert check(data).findings == []


def test_the_receipt_day_is_the_stockholm_day():
    # 23:30 UTC on 28 February is already 1 March in Stockholm.
    data = application_2021()
    data["project"]["start"] = "2021-03-01"
    assert check(data, datetime.fromisoformat("2021-02-28T23:30:00+00:00")).findings == []


def test_a_cost_type_the_call_does_not_list_is_an_error():
    data = application_2021()
    data["budget"][1]["cost_type"] = "equipment"
    verdict = check(data)
    assert errors(verdict) == {"ES21-COST-TYPES"}
    assert fields(verdict, "ES21-COST-TYPES") == ["$.budget[1].cost_type"]


def test_plain_travel_is_not_a_cost_type_of_this_call():
    # Only travel to the agency's experience meeting is listed, not travel in general.
    data = application_2021()
    data["budget"][1]["cost_type"] = "travel"
    verdict = check(data)
    assert errors(verdict) == {"ES21-COST-TYPES"}
    assert fields(verdict, "ES21-COST-TYPES") == ["$.budget[1].cost_type"]
    assert "resor och logi" in verdict.errors[0].message


def test_the_experience_meeting_must_be_budgeted():
    data = application_2021()
    del data["budget"][3]
    data["budget"][0]["amount"] = "525000.00"
    assert errors(check(data)) == {"ES21-COST-MEETING"}


def test_costs_of_client_companies_are_not_eligible():
    data = application_2021()
    data["budget"][1]["incurred_by"] = COMPANY
    verdict = check(data)
    assert errors(verdict) == {"ES21-COST-CLIENTS"}
    assert fields(verdict, "ES21-COST-CLIENTS") == ["$.budget[1].incurred_by"]


def test_costs_borne_by_a_co_applicant_are_eligible():
    data = application_2021()
    data["budget"][1]["incurred_by"] = data["co_applicants"][0]["org_number"]
    assert check(data).findings == []


def test_participant_fees_are_project_revenue_not_co_financing():
    data = application_2021()
    data["budget"].pop()  # the revenue line
    data["requested_amount"] = "600000.00"
    data["financing"].append({"financier": "Deltagande företag", "category": "participant_fees",
                              "form": "cash", "amount": "40000.00"})
    data["financing"][0]["amount"] = "160000.00"
    verdict = check(data)
    assert errors(verdict) == {"ES21-COST-FEES"}
    assert "projektintäkter" in verdict.errors[0].message


def test_ordinary_operations_are_not_eligible():
    data = application_2021()
    data["budget"][2]["ordinary_operations"] = True
    assert errors(check(data)) == {"ES21-COST-ORDINARY"}


def test_co_financing_of_exactly_a_quarter_is_enough_and_a_krona_less_is_not():
    data = application_2021()
    data["requested_amount"] = "570001.00"
    data["financing"][0]["amount"] = "189999.00"
    verdict = check(data)
    assert errors(verdict) == {"ES21-COFIN-SHARE"}
    assert "25\u00a0%" in verdict.errors[0].message


def test_in_kind_co_financing_is_refused_with_its_reason():
    data = application_2021()
    data["financing"] = [
        {"financier": "Region Exempel", "category": "own", "form": "cash", "amount": "100000.00"},
        {"financier": "Exempelklustret", "category": "own", "form": "in_kind", "amount": "90000.00"},
    ]
    verdict = check(data)
    # In kind does not count toward the share either, so both rules speak.
    assert errors(verdict) == {"ES21-COFIN-CASH", "ES21-COFIN-SHARE"}
    assert fields(verdict, "ES21-COFIN-CASH") == ["$.financing[1].form"]
    assert "annat än pengar" in next(f for f in verdict.errors if f.rule == "ES21-COFIN-CASH").message


def test_a_collaboration_project_must_attach_its_agreement():
    data = application_2021()
    data["project"]["collaboration_project"] = True
    assert errors(check(data)) == {"ES21-COLLAB-AGREEMENT"}
    data["attachments"].append({"name": "samverkansavtal.pdf", "kind": "collaboration_agreement", "sha256": SHA})
    assert check(data).findings == []


# --- Hur länge kan projektet pågå? -------------------------------------------


def test_the_project_must_end_by_the_final_report_date():
    data = application_2021()
    data["project"]["end"] = "2021-12-01"
    verdict = check(data)
    assert errors(verdict) == {"ES21-PERIOD-END"}
    assert fields(verdict, "ES21-PERIOD-END") == ["$.project.end"]


# --- Hur mycket kan vårt projekt få i stöd? ----------------------------------


def test_an_amount_outside_the_preferred_range_is_a_warning():
    data = application_2021()
    data["budget"] = [
        {"cost_type": "personnel", "amount": "1975000.00", "description": "Rådgivare"},
        {"cost_type": "experience_meeting", "amount": "25000.00", "description": "Erfarenhetsträff"},
    ]
    data["requested_amount"] = "1500000.00"
    data["financing"][0]["amount"] = "500000.00"
    verdict = check(data)
    assert verdict.eligible
    assert warnings(verdict) == {"ES21-AMOUNT-RANGE"}


def test_an_amount_below_the_preferred_range_is_a_warning():
    data = application_2021()
    data["budget"] = [
        {"cost_type": "personnel", "amount": "514998.67", "description": "Rådgivare"},
        {"cost_type": "experience_meeting", "amount": "25000.00", "description": "Erfarenhetsträff"},
    ]
    data["requested_amount"] = "399999.00"
    data["financing"][0]["amount"] = "139999.67"
    verdict = check(data)
    assert verdict.eligible
    assert warnings(verdict) == {"ES21-AMOUNT-RANGE"}
    assert fields(verdict, "ES21-AMOUNT-RANGE") == ["$.requested_amount"]
    assert "399\u00a0999\u00a0kr" in verdict.warnings[0].message


def test_the_preferred_range_is_inclusive():
    data = application_2021()
    data["budget"] = [
        {"cost_type": "personnel", "amount": "515000.00", "description": "Rådgivare"},
        {"cost_type": "experience_meeting", "amount": "25000.00", "description": "Erfarenhetsträff"},
    ]
    data["requested_amount"] = "400000.00"
    data["financing"][0]["amount"] = "140000.00"
    assert check(data).findings == []


def test_more_than_the_whole_call_budget_is_an_error():
    data = application_2021()
    data["budget"] = [
        {"cost_type": "personnel", "amount": "7975000.00", "description": "Rådgivare"},
        {"cost_type": "experience_meeting", "amount": "25000.00", "description": "Erfarenhetsträff"},
    ]
    data["requested_amount"] = "6000000.00"
    data["financing"][0]["amount"] = "2000000.00"
    verdict = check(data)
    assert errors(verdict) == {"ES21-AMOUNT-BUDGET"}
    assert warnings(verdict) == {"ES21-AMOUNT-RANGE"}


# --- Hur ansöker vi? ---------------------------------------------------------


def test_the_authorised_signatory_certificate_is_required():
    data = application_2021()
    data["attachments"] = [a for a in data["attachments"] if a["kind"] != "signatory_authority"]
    assert errors(check(data)) == {"ES21-SIGNATORY"}


def test_a_region_must_have_a_public_organisation_number():
    data = application_2021()
    data["co_applicants"].append({"org_number": CLUSTER_2, "name": "Region Fel", "kind": "region"})
    assert errors(check(data)) == {"FORM-ORG-KIND"}


def test_all_findings_are_in_swedish_and_name_their_rule():
    data = application_2021()
    data["co_applicants"] = []
    data["attachments"] = []
    verdict = check(data)
    rule_ids = {r.id for r in load_catalog().get("export-samverkan-2021").rules}
    assert {f.rule for f in verdict.findings} == {"ES21-WHO-TOGETHER", "ES21-CHANGE-LOGIC-APPENDIX", "ES21-SIGNATORY"}
    assert {f.rule for f in verdict.findings} <= rule_ids
    assert all(f.message and f.message[0].isupper() and f.message.endswith(".") for f in verdict.findings)


def test_one_organisation_written_two_ways_is_still_one():
    data = application_2021()
    data["co_applicants"][0] = dict(data["applicant"], org_number="16" + data["applicant"]["org_number"])
    assert errors(check(data)) == {"ES21-WHO-TOGETHER", "FORM-ORG-UNIQUE"}
    data["co_applicants"][0]["org_number"] = data["applicant"]["org_number"].replace("-", "")
    assert errors(check(data)) == {"ES21-WHO-TOGETHER", "FORM-ORG-UNIQUE"}


def test_a_co_applicants_cost_is_recognised_however_its_number_is_written():
    data = application_2021()
    data["budget"][1]["incurred_by"] = "16" + data["co_applicants"][0]["org_number"].replace("-", "")
    assert check(data).findings == []
