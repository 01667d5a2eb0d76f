"""The calls grantflow knows: the bundled seed calls, any in GRANTFLOW_CALLS_DIR, and the calls the
running installation opened itself (the demo's copies), which it keeps in its data directory's `calls/`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

from pydantic import BaseModel

from domain.call import Call, CallFileError, FormRules, parse_call, parse_form_rules
from infra.errors import InputError
from infra.settings import Settings, SettingsError

CALLS_DIR_ENV = "GRANTFLOW_CALLS_DIR"
# Under the data directory: each call this installation opened, as JSON ({"call": ..., "text": ...}), so
# that every process of the stack (the CLI in another terminal too) knows the same calls.
INSTALLED_CALLS = "calls"


class _InstalledCall(BaseModel):
    call: Call
    text: str


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


def _read_installed(directory: Path, calls: dict[str, Call], texts: dict[str, str]) -> None:
    for path in sorted(directory.glob("*.json")):
        try:
            saved = _InstalledCall.model_validate_json(path.read_bytes())
        except ValueError as exc:  # pydantic's ValidationError is one
            raise CallFileError(str(path), [str(exc)]) from None
        if saved.call.id in calls:
            raise CallFileError(str(path), [f"id: call {saved.call.id!r} is defined twice"])
        calls[saved.call.id] = saved.call
        texts[saved.call.id] = saved.text


def install_call(data_dir: Path, call: Call, text: str) -> Path:
    """Keep `call` among the calls of the installation in `data_dir`; written whole or not at all."""
    directory = data_dir / INSTALLED_CALLS
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{call.id}.json"
    with tempfile.NamedTemporaryFile("wb", dir=directory, suffix=".partial", delete=False) as partial:
        partial.write(_InstalledCall(call=call, text=text).model_dump_json(indent=2).encode())
    os.replace(partial.name, path)
    default_catalog.cache_clear()
    return path


def load_catalog(extra_dir: Path | None = None, *, data_dir: Path | None = None) -> CallCatalog:
    bundled = Path(str(files("domain") / "calls"))
    form_file = Path(str(files("domain") / "form_rules.toml"))
    form = parse_form_rules(form_file.read_text(encoding="utf-8"), str(form_file))
    calls: dict[str, Call] = {}
    texts: dict[str, str] = {}
    _read_dir(bundled, calls, texts)
    if extra_dir is not None:
        _read_dir(extra_dir, calls, texts)
    if data_dir is not None and (data_dir / INSTALLED_CALLS).is_dir():
        _read_installed(data_dir / INSTALLED_CALLS, calls, texts)
    form_ids = {r.id for r in form.rules}
    for call in calls.values():
        clash = form_ids & {r.id for r in call.rules}
        if clash:
            raise CallFileError(call.id, [f"rule ids also used by the form rules: {', '.join(sorted(clash))}"])
    return CallCatalog(calls=calls, form=form, texts=texts)


def _configured_data_dir() -> Path | None:
    try:
        return Settings.from_env().data_dir
    except SettingsError:
        return None  # the command itself reports the bad variable when it reads its settings


@cache
def default_catalog(data_dir: Path | None = None) -> CallCatalog:
    """Every call known here; `data_dir` is the installation's (the configured one if not given)."""
    extra = os.environ.get(CALLS_DIR_ENV)
    return load_catalog(Path(extra) if extra else None, data_dir=data_dir or _configured_data_dir())
