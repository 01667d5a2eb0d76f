"""What Temporal stores of a case is ciphertext; keys rotate under running cases; the `temporal` CLI decodes
through the codec server for an officer (docs/decisions/0028). A real dev server, real workers, real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer, Worker

from activities.db import open_pool
from api.codec_server import create_codec_app
from infra.codec import ENCODING, KEY_ID, generate_key, parse_keys
from infra.converter import converter_for
from infra.settings import Settings
from services import users
from stack.embedded import _stop_api, serve_app
from tests.factories import application_2021
from tests.keys import CODEC_KEYS
from tests.records_examples import LEGAL_GROUND
from tests.worker.helpers import free_port
from tests.workflows.conftest import TEMPORAL, Harness
from tests.workflows.test_case_workflow import OFFICER
from worker import registry
from worker.interceptors import LogContextInterceptor

SECTION = "$.change_logic.planned_work"
SECRET_TEXT = "Coachning i tre nivåer enligt metoden Nordstjärnan-7"  # a secret section's text
EMAIL = "tolvan.tolvansson@hemligt.example"
PHONE = "070-987 65 43"
PERSONNUMMER = "19121212-1212"
PLAINTEXTS = (SECRET_TEXT, "Nordstjärnan", EMAIL, "tolvansson@", PHONE, "987 65 43", PERSONNUMMER, "121212-1212")


def _application(harness: Harness) -> tuple[dict[str, Any], str]:
    data = application_2021()
    data["change_logic"]["planned_work"] = SECRET_TEXT
    data["secret_sections"] = [{"section": SECTION, "reason": "Metoden är vår affärshemlighet."}]
    data["applicant"]["contact"] = {"name": "Tolvan Tolvansson", "email": EMAIL, "phone": PHONE}
    data["project"]["title"] = f"Projekt för Tolvan Tolvansson {PERSONNUMMER}"
    call, days = harness.call("export-samverkan-2021")
    return harness.application(data, call, days), call.id


@asynccontextmanager
async def worker(harness: Harness, client: Client, task_queue: str) -> AsyncIterator[None]:
    """grantflow's worker on `task_queue`, with `client`'s converter (its keys), as `grantflow worker` builds it."""
    async with Worker(client, task_queue=task_queue, workflows=registry.workflows(),
                      workflow_runner=registry.workflow_runner(strict=True),
                      activities=registry.activities(harness.pool, Settings(), client),
                      interceptors=[LogContextInterceptor()]):
        yield


def _payloads(message: Message) -> Iterator[Payload]:
    """Every Payload anywhere in a protobuf message (history events nest them deeply)."""
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        if descriptor.message_type.GetOptions().map_entry:
            items = list(value.values())
        else:
            items = [value] if isinstance(value, Message) else list(value)
        for item in items:
            if isinstance(item, Payload):
                yield item
            elif isinstance(item, Message):
                yield from _payloads(item)


def _key_ids(history: WorkflowHistory) -> set[str]:
    return {p.metadata[KEY_ID].decode() for event in history.events for p in _payloads(event)
            if p.metadata.get("encoding") == ENCODING}


async def _stored_histories(client: Client) -> dict[str, WorkflowHistory]:
    """Every workflow's history in the namespace, as the server stores it (the client does not decode it)."""
    found = {}
    async for execution in client.list_workflows():
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        found[f"{execution.id}/{execution.run_id}"] = await handle.fetch_history()
    return found


def _plaintexts_in(history: WorkflowHistory) -> list[str]:
    """The application's values found anywhere in the history's bytes as stored (protobuf keeps bytes and strings
    as they are: a value in clear would be there verbatim)."""
    stored = b"".join(event.SerializeToString() for event in history.events)
    return [plain for plain in PLAINTEXTS if plain.encode() in stored]


def _texts_in_json(shown: str) -> str:
    """All of `temporal workflow show -o json`, with each payload's data (base64 in protobuf JSON) decoded."""
    texts = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("data"), str) and isinstance(value.get("metadata"), dict):
                texts.append(base64.b64decode(value["data"]).decode(errors="replace"))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            texts.append(value)

    walk(json.loads(shown))
    return "\n".join(texts)


def _clear(history: WorkflowHistory) -> list[str]:
    """The payloads of a history left in clear, besides those the SDK never passes through a codec: search
    attributes (which is why they hold no personal data) and the SDK's own bookkeeping in markers: a local
    activity's sequence number, type and times (its result beside them is encrypted), a patch's id."""
    clear = []
    for event in history.events:
        exempt = {p.SerializeToString() for p in _payloads(event.upsert_workflow_search_attributes_event_attributes)}
        started = event.workflow_execution_started_event_attributes
        child = event.start_child_workflow_execution_initiated_event_attributes
        exempt |= {p.SerializeToString() for p in (*_payloads(started.search_attributes),
                                                    *_payloads(child.search_attributes))}
        marker = event.marker_recorded_event_attributes
        for bookkeeping in ("data", "patch-data"):
            if bookkeeping in marker.details:
                exempt |= {p.SerializeToString() for p in marker.details[bookkeeping].payloads}
        clear += [p.data.decode(errors="replace") for p in _payloads(event)
                  if p.metadata.get("encoding") != ENCODING and p.SerializeToString() not in exempt]
    return clear


async def _temporal_show(harness: Harness, workflow_id: str, *codec: str) -> subprocess.CompletedProcess[str]:
    """`temporal workflow show -o json`; in a thread, so that a codec server on this event loop can answer it."""
    address = harness.client.service_client.config.target_host
    return await asyncio.to_thread(
        subprocess.run, [TEMPORAL, "workflow", "show", "--address", address, "--namespace", harness.client.namespace,
                         "-w", workflow_id, "-o", "json", *codec], capture_output=True, text=True, timeout=120)


async def test_temporal_stores_ciphertext_and_old_cases_read_act_and_replay_after_a_key_rotation(harness: Harness):
    old_id, new = CODEC_KEYS.partition(":")[0], generate_key("rotated")
    queue = f"encrypted-{uuid.uuid4().hex[:8]}"
    before = dataclasses.replace(harness, task_queue=queue)  # the run's key, as tests.keys configures it
    raw, _ = _application(before)
    async with worker(before, before.client, queue):
        number = await before.submit(raw)
        await before.settled(number)
        await before.act(number, "record-secrecy-review", OFFICER, rulings=[
            {"section": SECTION, "secret": True, "legal_ground": LEGAL_GROUND, "reason": "Skulle skada sökanden."}])
        await before.settled(number)

    # What the server holds, every workflow the case made (intake, case, call): no plaintext of the application.
    stored = await _stored_histories(harness.client)
    assert any(key.startswith(number) for key in stored)
    for key, history in stored.items():
        assert not _plaintexts_in(history), key
        assert _clear(history) == [], key
        assert _key_ids(history) <= {old_id}
    done = await _temporal_show(harness, number)
    assert done.returncode == 0, done.stderr
    shown = _texts_in_json(done.stdout)
    assert not [plain for plain in PLAINTEXTS if plain in shown]
    assert "binary/encrypted" in base64.b64decode("YmluYXJ5L2VuY3J5cHRlZA==").decode()
    assert "YmluYXJ5L2VuY3J5cHRlZA==" in done.stdout  # each payload's encoding: binary/encrypted

    # Rotated: the new key encrypts, the run's key still decrypts. A worker and a client with both go on.
    rotated = converter_for(parse_keys(f"{new},{CODEC_KEYS}"))
    client = Client(harness.client.service_client, namespace=harness.client.namespace, data_converter=rotated)
    after = dataclasses.replace(harness, client=client, task_queue=queue)
    async with worker(after, client, queue):
        state = await after.state(number)
        assert state.application.applicant.contact.email == EMAIL  # an old case reads
        await after.act(number, "declare-no-conflict", OFFICER)  # and is acted on
        assert (await after.settled(number)).application.change_logic.planned_work == SECRET_TEXT
    history = await client.get_workflow_handle(number).fetch_history()
    assert _key_ids(history) == {old_id, "rotated"}
    assert not _plaintexts_in(history)
    # The whole history, before and after the rotation, replays with the rotated keys.
    replayed = await _replayer(rotated).replay_workflow(history, raise_on_replay_failure=False)
    assert replayed.replay_failure is None, replayed.replay_failure

    # Without the old key, it fails loudly and names the key it needs (in clear: it is no secret).
    only_new = converter_for(parse_keys(new))
    failed = await _replayer(only_new).replay_workflow(history, raise_on_replay_failure=False)
    assert failed.replay_failure is not None and old_id in str(failed.replay_failure)


def _replayer(converter: DataConverter) -> Replayer:
    return Replayer(workflows=registry.workflows(), workflow_runner=registry.workflow_runner(strict=True),
                    data_converter=converter)


async def test_an_officer_reads_the_case_in_clear_through_the_codec_server(harness: Harness):
    raw, _ = _application(harness)
    number = await harness.submit(raw)
    await harness.settled(number)
    pool = await open_pool(harness.database_url)
    try:
        officer = await users.add(pool, users.new_user("anna", "officer"))
        app = create_codec_app(Settings(database_url=harness.database_url, codec_keys=CODEC_KEYS),
                               ui_origins=["http://127.0.0.1:8233"], pool=pool)
        port = free_port()
        server, task = await serve_app(app, port, "codec server")
        try:
            endpoint = ["--codec-endpoint", f"http://127.0.0.1:{port}"]
            shown = await _temporal_show(harness, number, *endpoint, "--codec-auth", f"Bearer {officer.token}")
            assert shown.returncode == 0, shown.stderr
            decoded = _texts_in_json(shown.stdout)
            assert EMAIL in decoded and SECRET_TEXT in decoded and PERSONNUMMER in decoded
            # Without a sign-in the CLI gets no plaintext: the codec server refuses it.
            refused = await _temporal_show(harness, number, *endpoint)
            assert not [plain for plain in PLAINTEXTS if plain in refused.stdout + refused.stderr]
            if refused.returncode == 0:
                assert not [plain for plain in PLAINTEXTS if plain in _texts_in_json(refused.stdout)]
        finally:
            await _stop_api(server, task)
    finally:
        await pool.close()


@pytest.mark.parametrize("name", ["search attributes stay in clear"])
async def test_search_attributes_are_not_encrypted(harness: Harness, name: str):
    raw, call_id = _application(harness)
    number = await harness.submit(raw)
    await harness.settled(number)
    description = await harness.handle(number).describe()
    found = {pair.key.name: pair.value for pair in description.typed_search_attributes}
    assert found["CallId"] == call_id and found["CaseStage"] == "secrecy_review"
    # The server can query them: it reads them in clear.
    assert (await harness.client.count_workflows(f"CallId='{call_id}' AND CaseStage='secrecy_review'")).count == 1
