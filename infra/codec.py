"""Encrypting what grantflow sends to Temporal: a payload codec with AES-256-GCM (docs/decisions/0028).

Every payload the data converter makes (workflow and activity inputs and results, updates, queries,
signals, memo, summaries, failures' details) leaves the process encrypted; Temporal's server, its
database and Temporal UI see only ciphertext. Search attributes never pass through a codec and must
never hold personal data (workflows/search_attributes.py); failure messages stay in clear for
operations (docs/decisions/0028), so they must not quote an application either.

An encrypted payload is marked with the encoding `binary/encrypted` and carries the id of the key it
was encrypted with in its metadata, so that keys can be rotated: the first configured key encrypts,
every configured key decrypts. The key id is also the AES-GCM associated data, so a payload whose key
id was changed does not decrypt. A payload without the mark (recorded before encryption was turned
on) is passed on as it is. A payload for a key id that is not configured fails loudly, naming it.

Keys are 32 random bytes, written as base64 after their id: `ID:BASE64`, several separated by commas
or new lines (GRANTFLOW_CODEC_KEYS, or one per line in GRANTFLOW_CODEC_KEY_FILE). `generate_key`
makes one. This module reads no environment and no file: infra/converter.py gives it the keys.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"  # metadata: which key encrypted the payload
CIPHER = "encryption-cipher"  # metadata: how; only one so far, but a reader can tell
AES_256_GCM = b"AES-256-GCM"
KEY_BYTES = 32
NONCE_BYTES = 12  # GCM's standard nonce: random for every payload
TAG_BYTES = 16  # GCM's authentication tag, after the ciphertext
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)


class KeyFormatError(ValueError):
    """A key as configured cannot be used; the message names which one and why, never its secret."""


class PayloadDecryptionError(RuntimeError):
    """An encrypted payload that the configured keys cannot decrypt; the message names the key id."""

    def __init__(self, message: str, key_id: str) -> None:
        super().__init__(message)
        self.key_id = key_id


class UnknownKeyError(PayloadDecryptionError):
    """The payload was encrypted with a key that is not configured here."""


@dataclass(frozen=True)
class Key:
    id: str
    secret: bytes = field(repr=False)


def generate_key(key_id: str | None = None) -> str:
    """A new key as configuration holds it, `ID:BASE64`; the id defaults to the day it was made."""
    key_id = datetime.now(UTC).strftime("k%Y%m%d") if key_id is None else key_id
    if _KEY_ID.fullmatch(key_id) is None:
        raise KeyFormatError(f"key id {key_id!r} is not 1-64 letters, digits, '.', '_' or '-'")
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode('ascii')}"


def parse_keys(text: str) -> tuple[Key, ...]:
    """`ID:BASE64` entries separated by commas or new lines, the encrypting one first; '#' starts a comment."""
    keys: list[Key] = []
    entries = (part.strip() for line in text.splitlines() for part in line.split("#", 1)[0].split(","))
    for position, entry in enumerate(filter(None, entries), start=1):
        key_id, sep, encoded = (side.strip() for side in entry.partition(":"))
        if not sep or _KEY_ID.fullmatch(key_id) is None:
            raise KeyFormatError(f"key {position} is not ID:BASE64 with an id of letters, digits, '.', '_' or '-'")
        try:
            secret = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise KeyFormatError(f"key {key_id!r} is not valid base64") from None
        if len(secret) != KEY_BYTES:
            raise KeyFormatError(f"key {key_id!r} is {len(secret)} bytes; AES-256 needs {KEY_BYTES} "
                                 "(make one with `grantflow codec-key`)")
        if any(key.id == key_id for key in keys):
            raise KeyFormatError(f"key id {key_id!r} is given twice")
        keys.append(Key(key_id, secret))
    if not keys:
        raise KeyFormatError("holds no key: ID:BASE64 entries, the encrypting one first")
    return tuple(keys)


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each whole payload (its metadata and data), with the key id beside it."""

    def __init__(self, keys: Sequence[Key]) -> None:
        if not keys:
            raise ValueError("an encryption codec needs at least one key")
        self.key_ids = tuple(key.id for key in keys)
        self._encrypting = keys[0].id
        self._ciphers = {key.id: AESGCM(key.secret) for key in keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self._encrypting.encode()
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self._encrypting].encrypt(nonce, payload.SerializeToString(), key_id)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id, CIPHER: AES_256_GCM}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # in clear: recorded before encryption was turned on
        raw_id = payload.metadata.get(KEY_ID, b"")
        key_id = raw_id.decode("utf-8", errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            known = ", ".join(self.key_ids)
            raise UnknownKeyError(
                f"a payload is encrypted with key id {key_id!r}, which is not configured here (configured: "
                f"{known}); add that key, after the encrypting one, to GRANTFLOW_CODEC_KEYS or "
                "GRANTFLOW_CODEC_KEY_FILE", key_id)
        if payload.metadata.get(CIPHER, AES_256_GCM) != AES_256_GCM:
            raise PayloadDecryptionError(f"a payload under key id {key_id!r} names an unknown cipher", key_id)
        if len(payload.data) < NONCE_BYTES + TAG_BYTES:  # cut short: AES-GCM would refuse the nonce, unnamed
            raise PayloadDecryptionError(
                f"a payload under key id {key_id!r} is {len(payload.data)} bytes, too short to be one this codec "
                "sealed: it was cut short or altered", key_id)
        try:
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], raw_id)
        except InvalidTag:
            raise PayloadDecryptionError(
                f"a payload under key id {key_id!r} does not decrypt with the key configured under that id: "
                "another key was given that id, or the payload was altered", key_id) from None
        return Payload.FromString(plain)
