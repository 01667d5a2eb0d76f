"""The payload keys of the test run: every test talks to Temporal with encryption on, as production does.

A new key for every run (the processes pytest-xdist starts, and the commands tests run, inherit it
through GRANTFLOW_CODEC_KEYS): no test can pass because of a key written into the code.
"""

from __future__ import annotations

import os

from infra.codec import generate_key, parse_keys
from infra.converter import data_converter
from infra.settings import Settings

CODEC_KEYS = os.environ.setdefault("GRANTFLOW_CODEC_KEYS", generate_key("test"))
# The converter of the run's clients, workers and replayers, and its keys (for services.replay's processes).
CONVERTER = data_converter(Settings(codec_keys=CODEC_KEYS))
KEYS = parse_keys(CODEC_KEYS)
