"""The calls grantflow knows: the bundled seed calls plus any in GRANTFLOW_CALLS_DIR."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

from domain.call import Call, CallFileError, FormRules, parse_call, parse_form_rules
from services.errors import InputError

CALLS_DIR_ENV = "GRANTFLOW_CALLS_DIR"


@dataclass(frozen=True)
class CallCatalog:
    calls: dict[str, Call]
    form: FormRules
    texts: dict[str, str]  # call id -> the call text its rules cite

    def get(self, call_id: str) -> Call:
        try:
            return self.calls[call_id]
        except KeyError:
            known = ", ".join(sorted(self.calls))
            raise InputError.one("call_id", f"okänd utlysning {call_id!r}; kända utlysningar: {known}") from None

    def all(self) -> list[Call]:
        return sorted(self.calls.values(), key=lambda c: (c.window.closes, c.id))


def _read_dir(directory: Path, calls: dict[str, Call], texts: dict[str, str]) -> None:
    for path in sorted(directory.glob("*.toml")):
        call = parse_call(path.read_text(encoding="utf-8"), str(path))
        if path.stem != call.id:
            raise CallFileError(str(path), [f"id: {call.id!r} must match the file name {path.stem!r}"])
        if call.id in calls:
            raise CallFileError(str(path), [f"id: call {call.id!r} is defined twice"])
        text_path = path.with_name(call.source_text)
        if not text_path.is_file():
            raise CallFileError(str(path), [f"source_text: {call.source_text} is not beside the call file"])
        calls[call.id] = call
        texts[call.id] = text_path.read_text(encoding="utf-8")


def load_catalog(extra_dir: Path | None = None) -> CallCatalog:
    bundled = Path(str(files("domain") / "calls"))
    form_file = Path(str(files("domain") / "form_rules.toml"))
    form = parse_form_rules(form_file.read_text(encoding="utf-8"), str(form_file))
    calls: dict[str, Call] = {}
    texts: dict[str, str] = {}
    _read_dir(bundled, calls, texts)
    if extra_dir is not None:
        _read_dir(extra_dir, calls, texts)
    form_ids = {r.id for r in form.rules}
    for call in calls.values():
        clash = form_ids & {r.id for r in call.rules}
        if clash:
            raise CallFileError(call.id, [f"rule ids also used by the form rules: {', '.join(sorted(clash))}"])
    return CallCatalog(calls=calls, form=form, texts=texts)


@cache
def default_catalog() -> CallCatalog:
    extra = os.environ.get(CALLS_DIR_ENV)
    return load_catalog(Path(extra) if extra else None)
