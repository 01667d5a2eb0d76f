"""The data converter every grantflow client, worker and replayer uses: pydantic models as JSON.

Workflows and activities exchange pydantic models with Decimal amounts and tz-aware datetimes,
which the SDK's default converter would not round-trip. The SDK's pydantic converter does, but
builds a new JSON converter, with an empty cache of pydantic type adapters, for every workflow
it runs and every serialization context. A replayed case then builds the adapters of its input,
its updates and its activities' results again; a bare workflow of strings does not notice.
Here one JSON converter, and so one cache of adapters, serves the whole process. Adapters hold
no state between calls, so sharing them changes nothing on the wire.
"""

from __future__ import annotations

from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

_JSON = PydanticJSONPlainPayloadConverter()


class PayloadConverter(CompositePayloadConverter):
    """The SDK's default encodings, with JSON through pydantic's shared converter."""

    def __init__(self) -> None:
        super().__init__(*(_JSON if isinstance(c, JSONPlainPayloadConverter) else c
                           for c in DefaultPayloadConverter.default_encoding_payload_converters))


DATA_CONVERTER = DataConverter(payload_converter_class=PayloadConverter)
