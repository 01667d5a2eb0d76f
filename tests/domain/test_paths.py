"""What a secrecy mark points at: the same path reading for the review, the public version and the officer's view."""

from __future__ import annotations

from domain.paths import section_parts, value_at

DOCUMENT = {"budget": [{"description": "Lokaler"}, {"description": "Kundregister"}],
            "participating_companies": {"companies": [{"name": "Sårbar AB"}]},
            "descriptions": {"challenge": "Kundernas sårbarheter"}}


def test_a_mark_reaches_into_lists_as_well_as_objects():
    assert section_parts("$.budget[1].description") == ["budget", 1, "description"]
    assert value_at(DOCUMENT, "$.budget[1].description") == "Kundregister"
    assert value_at(DOCUMENT, "$.participating_companies.companies[0]") == {"name": "Sårbar AB"}
    assert value_at(DOCUMENT, "descriptions.challenge") == "Kundernas sårbarheter"


def test_a_mark_that_points_at_nothing_is_none():
    for nowhere in ("$.budget[7].description", "$.budget.description", "$.descriptions[0]", "$..", "$.nope"):
        assert value_at(DOCUMENT, nowhere) is None
