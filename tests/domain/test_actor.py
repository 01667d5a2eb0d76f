"""Who acts on a case is named by the agency's user id: never by a personal identity number."""

from __future__ import annotations

import pytest

from infra.errors import InputError
from services.cases import build_command


@pytest.mark.parametrize("person", ["19900101-1234", "900101-1234", "199001011234", "9001011234"])
def test_a_personnummer_is_refused_as_an_actor_id_naming_the_field(person):
    with pytest.raises(InputError) as caught:
        build_command("declare-no-conflict", {"role": "officer", "id": person}, {}, None)
    assert "actor.id" in str(caught.value) and "aldrig ett personnummer" in str(caught.value)
    assert person not in str(caught.value)


@pytest.mark.parametrize("person", ["anna", "anna.andersson@myndigheten.se", "handl-0042", "12345"])
def test_an_ordinary_user_id_is_accepted(person):
    assert build_command("declare-no-conflict", {"role": "officer", "id": person}, {}, None).actor.id == person
