"""The example applications of both calls with parts marked secret, for the tests of records requests.

Each example gets marks into plain fields, into a list item's field and on a whole list item; the
review (`rulings`) finds all but one of them secret. `secret_texts` are what must never be released.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from domain.paths import section_parts

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
LEGAL_GROUND = "OSL 30 kap. 23 §"

# file, when it was received (examples/manifest.toml), the marks ruled secret, the mark found public
CASES: list[tuple[str, str, list[str], str]] = [
    ("export-samverkan-2021/eligible-nationell-bredd-av-smaforetag.json", "2021-03-08T23:41:00+01:00",
     ["$.change_logic.planned_work", "$.budget[0].description"], "$.descriptions.follow_up"),
    ("export-samverkan-2021/eligible-regional-livsmedel-ostergotland.json", "2021-03-04T14:32:00+01:00",
     ["$.change_logic.desired_state", "$.co_applicants[0].contact"], "$.descriptions.added_value"),
    ("saker-digitalisering-2022/eligible-science-park-med-personalutbildning.json", "2022-05-24T10:12:00+02:00",
     ["$.descriptions.challenge", "$.participating_companies.companies[0]", "$.budget[1].description"],
     "$.descriptions.dissemination"),
    ("saker-digitalisering-2022/eligible-region-for-framjargrupp.json", "2022-06-03T13:40:00+02:00",
     ["$.descriptions.company_involvement", "budget[0].description"], "$.descriptions.activities"),
]
IDS = [file.split("/")[1].removesuffix(".json") for file, *_ in CASES]


def marked(file: str, secret: list[str], public: str) -> dict[str, Any]:
    """The example with the applicant's marks on `secret` and `public` (replacing any it had)."""
    data: dict[str, Any] = json.loads((EXAMPLES / file).read_text(encoding="utf-8"))
    data["secret_sections"] = [{"section": s, "reason": f"Affärshemlighet i {s}: skulle skada oss."}
                               for s in [*secret, public]]
    return data


def rulings(secret: list[str], public: str) -> list[dict[str, Any]]:
    return [*({"section": s, "secret": True, "legal_ground": LEGAL_GROUND,
               "reason": "Skulle skada sökanden om det lämnades ut."} for s in secret),
            {"section": public, "secret": False, "reason": "Uppgifterna är allmänt kända."}]


def at(data: Any, section: str) -> Any:
    for part in section_parts(section) or []:
        data = data[part]
    return data


def texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in texts(v)]
    return []


def secret_texts(data: dict[str, Any], secret: list[str]) -> list[str]:
    """What the secret parts say (each text long enough to mean something), and the applicant's reasons."""
    found = [t for s in secret for t in texts(at(data, s)) if len(t.strip()) >= 8]
    found += [m["reason"] for m in data["secret_sections"] if m["section"] in secret]
    assert found
    return found


def received(text: str) -> datetime:
    return datetime.fromisoformat(text)
