"""The call files: both seed calls load, cite real headings, and broken files are named."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import pytest

from domain.call import CallFileError, parse_call
from infra.calls import load_catalog

CALLS = Path(__file__).parents[2] / "domain" / "calls"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def normalised(text: str) -> str:
    # The published texts use non-breaking spaces inside some headings.
    return " ".join(text.split())


HEADING_MAX = 80


def _is_body(line: str) -> bool:
    return line.startswith("•") or line.endswith((".", ":")) or len(line) > HEADING_MAX


def headings(text: str) -> set[str]:
    """The headings of a published call text, as it was copied from the web page.

    A heading is a short line that is not a bullet and does not end like a sentence or
    an introduction (".", ":", ",", ";"), directly followed by body text: a sentence, a
    bullet or a long paragraph. That leaves out the page's image captions and contact
    names, which are followed by another short line, and every sentence of the text.
    """
    lines = [normalised(line) for line in text.splitlines() if line.strip()]
    return {
        line
        for line, following in pairwise(lines)
        if len(line) <= HEADING_MAX and not line.startswith("•") and not line.endswith((".", ":", ",", ";"))
        and _is_body(following)
    }


def cited_sections(call) -> list[tuple[str, str]]:
    cited = [(r.id, r.section) for r in call.rules] + [(c.id, c.section) for c in call.state_aid.ceilings]
    cited += [("window", call.window.section), ("legal_basis", call.legal_basis.section),
              ("state_aid", call.state_aid.section), ("funding", call.funding.budget_section),
              ("timeline", call.timeline.section), ("assessment", call.assessment.section),
              ("payments", call.payments.section), ("follow_up", call.follow_up.section)]
    return cited


def uncited(call, text: str) -> list[tuple[str, str]]:
    found = headings(text)
    return [(rule_id, section) for rule_id, section in cited_sections(call) if normalised(section) not in found]


def test_both_seed_calls_are_bundled(catalog):
    assert sorted(catalog.calls) == ["export-samverkan-2021", "saker-digitalisering-2022"]


@pytest.mark.parametrize("call_id", ["export-samverkan-2021", "saker-digitalisering-2022"])
def test_every_rule_and_criterion_cites_a_heading_of_its_call_text(catalog, call_id):
    assert uncited(catalog.get(call_id), catalog.texts[call_id]) == []


def test_the_headings_of_the_2021_call_text_are_found_and_its_sentences_are_not(catalog):
    found = headings(catalog.texts["export-samverkan-2021"])
    assert {"Vem kan söka?", "Målgrupp för insatserna", "Medfinansiering", "Allmänna villkor och handbok",
            "Hur handläggs och beslutas vår ansökan?"} <= found
    assert not {
        "Privatpersoner kan inte söka stödet.",  # a sentence
        "Du kan använda följande kostnadsslag:",  # an introduction to a list
        "Utlysningen är öppen: 2021-02-05 – 2021-03-08",  # a bullet
        "Bilaga till ansökan: Beskriv förändringslogikenPDF",  # a link, followed by a heading
        "Mona Abbaspour",  # a contact, followed by an e-mail address
    } & found


def test_the_headings_of_the_2022_call_text_are_found_and_its_captions_are_not(catalog):
    found = headings(catalog.texts["saker-digitalisering-2022"])
    assert {"Vem kan söka?", "Målgruppen företag i projekten", "För vad kan vi söka?",
            "Exempel på aktiviteter i projekten som kan stödjas"} <= found
    assert not {"Flera personer jobbar vid datorer", "Illustration av en pil uppåt", "Kontakt",
                "Enskilda näringsidkare kan inte söka stödet."} & found


def test_a_rule_citing_a_sentence_instead_of_a_heading_is_caught(catalog):
    call = catalog.get("export-samverkan-2021")
    rules = [r.model_copy(update={"section": "Privatpersoner kan inte söka stödet."}) if r.id == "ES21-WHO-PRIVATE"
             else r for r in call.rules]
    moved = call.model_copy(update={"rules": rules})
    assert uncited(moved, catalog.texts[call.id]) == [("ES21-WHO-PRIVATE", "Privatpersoner kan inte söka stödet.")]


@pytest.mark.parametrize("call_id", ["export-samverkan-2021", "saker-digitalisering-2022"])
def test_rule_ids_carry_the_call_prefix(catalog, call_id):
    prefix = {"export-samverkan-2021": "ES21-", "saker-digitalisering-2022": "SD22-"}[call_id]
    call = catalog.get(call_id)
    ids = [r.id for r in call.rules] + [c.id for c in call.assessment.criteria]
    assert all(i.startswith(prefix) for i in ids)
    assert len(ids) == len(set(ids))


def test_terms_of_the_2021_call(catalog):
    call = catalog.get("export-samverkan-2021")
    assert call.window.opens.isoformat() == "2021-02-05"
    # The last day ends at midnight Stockholm time (CET in March): 23:00 UTC.
    assert call.window.deadline == datetime(2021, 3, 8, 23, 0, tzinfo=UTC)
    assert call.funding.budget == Decimal("5000000.00")
    assert call.support_rate == Fraction(3, 4)
    assert call.legal_basis.regulation == "SFS 2003:596"
    assert call.state_aid.grant == "none" and call.state_aid.participating_companies
    regional = [c for c in call.assessment.criteria if c.when == "project.regional"]
    assert [c.id for c in regional] == ["ES21-CRIT-REGIONAL"]


def test_terms_of_the_2022_call(catalog):
    call = catalog.get("saker-digitalisering-2022")
    assert call.window.opens is None
    # Summer time in June: the end of 7 June in Stockholm is 22:00 UTC.
    assert call.window.deadline == datetime(2022, 6, 7, 22, 0, tzinfo=UTC)
    assert call.funding.budget == Decimal("10000000.00")
    assert call.support_rate == Fraction(1, 2)
    assert (call.legal_basis.regulation, call.legal_basis.provision) == ("SFS 2015:210", "13 §")
    assert call.state_aid.grant == "de_minimis"
    assert call.timeline.operations_end.isoformat() == "2022-10-31"
    assert call.timeline.final_report_due.isoformat() == "2022-11-30"


def test_form_rules_do_not_clash_with_call_rules(catalog):
    form_ids = {r.id for r in catalog.form.rules}
    assert all(i.startswith("FORM-") for i in form_ids)


# --- broken call files -------------------------------------------------------

SEED = (CALLS / "export-samverkan-2021.toml").read_text(encoding="utf-8")


def broken(old: str, new: str) -> str:
    assert old in SEED, old
    return SEED.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id = [unclosed", "not valid TOML"),
        (broken('budget = "5000000.00"', 'budget = "-1"'), "funding.budget"),
        (broken('budget = "5000000.00"', 'budget = "5 miljoner"'), "funding.budget: Value error, inget belopp"),
        (broken('budget = "5000000.00"', "budget = 5000000.0"), 'funding.budget: Value error, ett JSON-tal'),
        (broken('budget = "5000000.00"', 'budget = "5E+6"'), "funding.budget: Value error, inget belopp"),
        (
            broken('"descriptions.follow_up" = "hur', '"descriptions.followup" = "hur'),
            "rules[8] (ES21-TARGET-GROUP): Value error, labels for fields not in `fields`: descriptions.followup",
        ),
        (
            broken('kind = "collaboration_agreement"', 'kind = "collaboration_agreement"\nwhen_budget_has = "travels"'),
            "rules[21] (ES21-COLLAB-AGREEMENT).when_budget_has",
        ),
        (broken('minimum = "1/4"', 'minimum = "5/4"'), "rules[19] (ES21-COFIN-SHARE).minimum"),
        (broken('minimum = "1/4"', "minimum = 0.25"), "rules[19] (ES21-COFIN-SHARE).minimum"),
        (
            broken('check = "minimum_organisations"', 'check = "minimum_organisation"'),
            "rules[5] (ES21-WHO-TOGETHER): Input tag 'minimum_organisation' found using 'check' does not match",
        ),
        (broken("minimum = 2\n", "minimum = 2\nmaximum = 3\n"), "rules[5] (ES21-WHO-TOGETHER).maximum"),
        (broken('when = "project.regional"\npartner', 'when = "project.regionall"\npartner'), "project.regionall"),
        (broken('when = "project.regional"\npartner', 'when = "project.title"\npartner'), "not a bool field"),
        (broken('"descriptions.follow_up"]', '"descriptions.follow_ups"]'), "rules[8] (ES21-TARGET-GROUP).fields[2]"),
        (broken('id = "ES21-WHO-PRIVATE"', 'id = "ES21-WHO-KIND"'), "repeated: ES21-WHO-KIND"),
        (
            broken('id = "ES21-WHO-PRIVATE"', 'id = "es21 who private"'),
            "rules[3] (es21 who private).id: String should match pattern",
        ),
        (broken("closes = 2021-03-08", "closes = 2021-02-01"), "opens must not be after closes"),
        (broken('severity = "warning"', 'severity = "info"'), "severity"),
        (broken('kinds = ["private_person"]', 'kinds = ["privatperson"]'), "rules[3] (ES21-WHO-PRIVATE).kinds[0]"),
    ],
)
def test_a_broken_call_file_names_the_file_the_key_and_the_reason(text, expected):
    with pytest.raises(CallFileError) as caught:
        parse_call(text, "broken.toml")
    assert str(caught.value).startswith("broken.toml: ")
    assert expected in str(caught.value)


def test_a_period_rule_needs_the_date_it_refers_to():
    text = broken('by = "final_report_due"', 'by = "operations_end"')
    with pytest.raises(CallFileError, match=r"needs timeline\.operations_end"):
        parse_call(text, "broken.toml")


def test_a_call_in_the_extra_directory_must_be_named_after_its_id(tmp_path):
    (tmp_path / "other-name.toml").write_text(SEED, encoding="utf-8")
    (tmp_path / "export-samverkan-2021.txt").write_text("", encoding="utf-8")
    with pytest.raises(CallFileError, match="must match the file name"):
        load_catalog(tmp_path)


def test_a_call_without_its_text_beside_it_is_refused(tmp_path):
    shifted = SEED.replace('id = "export-samverkan-2021"', 'id = "export-samverkan-2026"')
    (tmp_path / "export-samverkan-2026.toml").write_text(shifted, encoding="utf-8")
    with pytest.raises(CallFileError, match="source_text"):
        load_catalog(tmp_path)


def test_an_extra_directory_adds_calls(tmp_path):
    shifted = SEED.replace('id = "export-samverkan-2021"', 'id = "export-samverkan-2026"')
    (tmp_path / "export-samverkan-2026.toml").write_text(shifted, encoding="utf-8")
    (tmp_path / "export-samverkan-2021.txt").write_text("", encoding="utf-8")
    catalog = load_catalog(tmp_path)
    assert "export-samverkan-2026" in catalog.calls
    assert "export-samverkan-2021" in catalog.calls
