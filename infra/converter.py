"""The data converter every grantflow client, worker and replayer uses: pydantic models as JSON,
encrypted with the configured keys (infra/codec.py, docs/decisions/0028). `data_converter(settings)`
is the only way to get one.

Workflows and activities exchange pydantic models with Decimal amounts and tz-aware datetimes,
which the SDK's default converter would not round-trip. The SDK's pydantic converter does, but
builds a new JSON converter, with an empty cache of pydantic type adapters, for every workflow
it runs and every serialization context. A replayed case then builds the adapters of its input,
its updates and its activities' results again; a bare workflow of strings does not notice.
Here one JSON converter, and so one cache of adapters, serves the whole process. Adapters hold
no state between calls, so sharing them changes nothing on the wire.
"""

from __future__ import annotations

import functools

from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

from infra.codec import EncryptionCodec, Key, KeyFormatError, parse_keys
from infra.errors import InputProblem
from infra.settings import PREFIX, Settings, SettingsError

_JSON = PydanticJSONPlainPayloadConverter()


class PayloadConverter(CompositePayloadConverter):
    """The SDK's default encodings, with JSON through pydantic's shared converter."""

    def __init__(self) -> None:
        super().__init__(*(_JSON if isinstance(c, JSONPlainPayloadConverter) else c
                           for c in DefaultPayloadConverter.default_encoding_payload_converters))


# Payloads in clear: for converting values to payloads and back, never for talking to Temporal.
PLAIN = DataConverter(payload_converter_class=PayloadConverter)
NO_KEY = (f"required: the keys that encrypt what grantflow sends to Temporal, as ID:BASE64 (make one with "
          f"`grantflow codec-key`), or {PREFIX}CODEC_KEY_FILE; or {PREFIX}CODEC_DISABLED=true to keep "
          "applications in clear in Temporal (docs/decisions/0028)")


def codec_keys(settings: Settings) -> tuple[Key, ...] | None:
    """The configured keys, the encrypting one first; None when encryption is explicitly disabled.

    Raises SettingsError naming the variable when there are none, or the key file cannot be used.
    """
    if settings.codec_disabled:
        return None
    if settings.codec_keys is not None:
        return parse_keys(settings.codec_keys.get_secret_value())  # checked already when the settings were read
    if settings.codec_key_file is None:
        raise SettingsError([InputProblem(field=f"{PREFIX}CODEC_KEYS", reason=NO_KEY)])
    try:
        return parse_keys(settings.codec_key_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        reason = f"{settings.codec_key_file} cannot be read: {getattr(exc, 'strerror', None) or exc}"
    except KeyFormatError as exc:
        reason = f"{settings.codec_key_file}: {exc}"
    raise SettingsError([InputProblem(field=f"{PREFIX}CODEC_KEY_FILE", reason=reason)])


def data_converter(settings: Settings) -> DataConverter:
    """The converter for every client, worker and replayer: with the configured keys' codec."""
    return converter_for(codec_keys(settings))


@functools.cache
def converter_for(keys: tuple[Key, ...] | None) -> DataConverter:
    """One converter per set of keys (a codec holds its ciphers); None: payloads in clear."""
    if keys is None:
        return PLAIN
    # Failure messages and stack traces stay in clear (the SDK's default; their details are payloads and
    # encrypted): operations read a stuck case's error in Temporal UI without the codec (decision 0028).
    return DataConverter(payload_converter_class=PayloadConverter, payload_codec=EncryptionCodec(keys))
