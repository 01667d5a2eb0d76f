"""Reading the files and standard input a command is given: one clear line for each way it fails."""

from __future__ import annotations

import errno
import sys

from infra.errors import InputError

# Far above any application or action (services.applications.MAX_APPLICATION_BYTES is the limit
# that applies); only keeps `--data @/dev/zero` from reading for ever.
MAX_FILE_BYTES = 4_000_000

_WHY_SV = {
    errno.ENOENT: "filen finns inte",
    errno.EISDIR: "det är en katalog, inte en fil",
    errno.EACCES: "behörighet saknas",
    errno.EPERM: "behörighet saknas",
    errno.ENOTDIR: "en del av sökvägen är ingen katalog",
    errno.ELOOP: "för många symboliska länkar",
    errno.ENAMETOOLONG: "filnamnet är för långt",
}


def read_input(name: str, field: str) -> bytes:
    """The bytes of file `name`, or of standard input for "-"; InputError naming `field` if it cannot be read."""
    try:
        if name == "-":
            data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        else:
            with open(name, "rb") as file:
                data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        why = _WHY_SV.get(exc.errno or 0, exc.strerror or type(exc).__name__)
        raise InputError.one(field, f"{name!r} kan inte läsas: {why}") from None
    except ValueError:  # a NUL byte in the name
        raise InputError.one(field, f"{name!r} kan inte läsas: ogiltigt filnamn") from None
    if len(data) > MAX_FILE_BYTES:
        raise InputError.one(field, f"{name!r} är större än {MAX_FILE_BYTES} byte")
    return data


__all__ = ["MAX_FILE_BYTES", "read_input"]
