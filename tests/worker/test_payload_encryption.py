"""The payload codec and its keys, without a server: what is encrypted, rotation, and every way a key can be wrong.

With the real server and worker: tests/workflows/test_encryption.py; Temporal UI's codec server:
tests/api/test_codec_server.py.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from infra.codec import (
    ENCODING,
    KEY_ID,
    EncryptionCodec,
    KeyFormatError,
    PayloadDecryptionError,
    UnknownKeyError,
    generate_key,
    parse_keys,
)
from infra.converter import PLAIN, converter_for, data_converter
from infra.settings import Settings, SettingsError
from tests.keys import CODEC_KEYS
from worker.main import EXIT_CONFIG, main_worker

ROOT = Path(__file__).resolve().parents[2]
SECRET = "Vår metod: coachning i tre nivåer, ännu inte lanserad; anna.andersson@example.se, 19121212-1212"


def _codec(*entries: str) -> EncryptionCodec:
    return EncryptionCodec(parse_keys(",".join(entries)))


async def test_a_payload_leaves_encrypted_with_its_key_id_and_comes_back_whole():
    key = generate_key("k2026")
    [plain] = PLAIN.payload_converter.to_payloads([SECRET])
    [sealed] = await _codec(key).encode([plain])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"k2026"
    assert SECRET.encode() not in sealed.SerializeToString() and b"json/plain" not in sealed.SerializeToString()
    assert await _codec(key).decode([sealed]) == [plain]
    # A random nonce for each: the same value twice is two different ciphertexts.
    [again] = await _codec(key).encode([plain])
    assert again.data != sealed.data


async def test_a_payload_recorded_in_clear_before_encryption_is_passed_on():
    [plain] = PLAIN.payload_converter.to_payloads([{"a": 1}])
    assert await _codec(generate_key()).decode([plain]) == [plain]


async def test_after_a_rotation_the_new_key_encrypts_and_the_old_one_still_decrypts():
    old, new = generate_key("k2025"), generate_key("k2026")
    [plain] = PLAIN.payload_converter.to_payloads([SECRET])
    [before] = await _codec(old).encode([plain])
    rotated = _codec(new, old)
    [after] = await rotated.encode([plain])
    assert after.metadata[KEY_ID] == b"k2026"
    assert await rotated.decode([before, after]) == [plain, plain]


async def test_a_payload_under_a_key_not_configured_fails_loudly_naming_the_key_id():
    [plain] = PLAIN.payload_converter.to_payloads([SECRET])
    [sealed] = await _codec(generate_key("k2025")).encode([plain])
    with pytest.raises(UnknownKeyError, match=r"'k2025'.*configured: k2026") as caught:
        await _codec(generate_key("k2026")).decode([sealed])
    assert caught.value.key_id == "k2025"
    # Through the data converter, as a client or worker decodes.
    with pytest.raises(UnknownKeyError, match="k2025"):
        await converter_for(parse_keys(generate_key("k2026"))).decode([sealed], [str])


async def test_another_key_under_the_same_id_or_an_altered_payload_does_not_decrypt():
    [plain] = PLAIN.payload_converter.to_payloads([SECRET])
    [sealed] = await _codec(generate_key("k1")).encode([plain])
    with pytest.raises(PayloadDecryptionError, match="'k1' does not decrypt"):
        await _codec(generate_key("k1")).decode([sealed])
    # The key id is bound to the ciphertext: relabelled to another configured key, it fails too.
    two = _codec(generate_key("k1"), generate_key("k2"))
    [mine] = await two.encode([plain])
    relabelled = Payload(metadata={**mine.metadata, KEY_ID: b"k2"}, data=mine.data)
    with pytest.raises(PayloadDecryptionError, match="'k2'"):
        await two.decode([relabelled])
    # Cut short, down to nothing: named as such, not the cipher library's complaint about a nonce.
    for length in (0, 7, 12, 27):
        cut = Payload(metadata=dict(mine.metadata), data=mine.data[:length])
        with pytest.raises(PayloadDecryptionError, match=f"'k1' is {length} bytes, too short"):
            await two.decode([cut])


async def test_a_failures_details_are_encrypted_and_its_message_stays_in_clear_for_operations():
    converter = converter_for(parse_keys(generate_key("k1")))
    failure = Failure()
    await converter.encode_failure(ApplicationError("Registret svarar inte", {"email": "anna@example.se"}), failure)
    assert failure.message == "Registret svarar inte"
    assert b"anna@example.se" not in failure.SerializeToString()
    error = await converter.decode_failure(failure)
    assert isinstance(error, ApplicationError) and error.details == ({"email": "anna@example.se"},)


async def test_the_configured_converter_encrypts_what_it_converts():
    converter = data_converter(Settings(codec_keys=CODEC_KEYS))
    [payload] = await converter.encode([SECRET])
    assert payload.metadata["encoding"] == ENCODING and SECRET.encode() not in payload.data
    assert await converter.decode([payload], [str]) == [SECRET]


@pytest.mark.parametrize(("text", "reason"), [
    ("k1", "key 1 is not ID:BASE64"),
    ("k 1:" + base64.b64encode(bytes(32)).decode(), "key 1 is not ID:BASE64"),
    ("k1:not base64!", "key 'k1' is not valid base64"),
    ("k1:" + base64.b64encode(bytes(16)).decode(), "key 'k1' is 16 bytes; AES-256 needs 32"),
    ("k1:" + base64.b64encode(bytes(32)).decode() + ",k1:" + base64.b64encode(bytes(32)).decode(),
     "key id 'k1' is given twice"),
    (" , # nothing", "holds no key"),
])
def test_a_key_that_cannot_be_used_is_named_with_the_reason_and_never_quoted(text, reason):
    with pytest.raises(KeyFormatError, match=reason) as caught:
        parse_keys(text)
    assert "AAAAAAAA" not in str(caught.value)


def test_a_key_file_holds_one_key_a_line_with_comments(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"# the first encrypts\n{generate_key('k2026')}\n\n{generate_key('k2025')}  # the old one\n")
    codec = data_converter(Settings(codec_key_file=path)).payload_codec
    assert isinstance(codec, EncryptionCodec) and codec.key_ids == ("k2026", "k2025")


@pytest.mark.parametrize(("environ", "field", "reason"), [
    ({"GRANTFLOW_CODEC_KEYS": "k1:YWJj"}, "GRANTFLOW_CODEC_KEYS", "key 'k1' is 3 bytes"),
    ({"GRANTFLOW_CODEC_KEY_FILE": "/nonexistent/keys"}, "GRANTFLOW_CODEC_KEY_FILE", "is not a readable file"),
    ({"GRANTFLOW_CODEC_KEYS": CODEC_KEYS, "GRANTFLOW_CODEC_KEY_FILE": __file__}, "GRANTFLOW_CODEC_KEY_FILE",
     "and so is GRANTFLOW_CODEC_KEYS"),
    ({"GRANTFLOW_CODEC_KEYS": CODEC_KEYS, "GRANTFLOW_CODEC_DISABLED": "true"}, "GRANTFLOW_CODEC_DISABLED",
     "remove one or the other"),
])
def test_settings_name_the_variable_that_is_wrong(environ, field, reason):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ)
    [problem] = caught.value.problems
    assert problem.field == field and reason in problem.reason
    assert CODEC_KEYS.partition(":")[2] not in str(caught.value)


def test_without_a_key_nothing_talks_to_temporal_unless_encryption_is_disabled_on_purpose(tmp_path):
    with pytest.raises(SettingsError) as caught:
        data_converter(Settings())
    [problem] = caught.value.problems
    assert problem.field == "GRANTFLOW_CODEC_KEYS" and "GRANTFLOW_CODEC_DISABLED=true" in problem.reason
    assert data_converter(Settings.from_env({"GRANTFLOW_CODEC_DISABLED": "true"})) is PLAIN
    unreadable = tmp_path / "keys"
    unreadable.write_text("k1:c2hvcnQ=\n")  # "short"
    with pytest.raises(SettingsError) as caught:
        data_converter(Settings(codec_key_file=unreadable))
    assert caught.value.problems[0].field == "GRANTFLOW_CODEC_KEY_FILE"
    assert "is 5 bytes" in caught.value.problems[0].reason


def test_a_worker_without_a_key_refuses_to_start_naming_the_variable(capsys):
    settings = Settings(database_url="postgresql://x/y", log_format="json")
    assert main_worker(settings) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "error: GRANTFLOW_CODEC_KEYS: required" in err and "Traceback" not in err


def test_codec_key_prints_a_key_the_configuration_takes():
    done = subprocess.run([sys.executable, "-m", "cli.main", "codec-key", "--id", "k2027"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    [key] = parse_keys(done.stdout)
    assert key.id == "k2027" and len(key.secret) == 32
    refused = subprocess.run([sys.executable, "-m", "cli.main", "codec-key", "--id", "no/slash"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "error: --id: key id 'no/slash'" in refused.stderr


def test_codec_server_refuses_to_start_without_keys_to_serve_and_a_bad_origin():
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GRANTFLOW_")} | {
        "GRANTFLOW_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "GRANTFLOW_CODEC_DISABLED": "true"}
    done = subprocess.run([sys.executable, "-m", "cli.main", "codec-server"], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "error: GRANTFLOW_CODEC_DISABLED: is true" in done.stderr
    done = subprocess.run([sys.executable, "-m", "cli.main", "codec-server", "--ui-origin", "https://ui.example/x"],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "ingen origin" in done.stderr and "Traceback" not in done.stderr
