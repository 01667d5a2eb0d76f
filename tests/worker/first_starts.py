"""Start the embedded PostgreSQL in several data directories at the same moment, each in a process of its own.

`python -m tests.worker.first_starts DIR...` prints one line per directory, in order ("started, owner
<uid>" or why it failed), and then the uid the user "pgserver" has in the end ("user <uid>"). Used by
tests/worker/test_stack.py in a mount namespace with a copy of /etc, as root.
"""

from __future__ import annotations

import asyncio
import pwd
import subprocess
import sys
import warnings
from pathlib import Path


def start(pgdata: Path) -> str:
    from infra import postgres

    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()  # all start together, as the workers of a test run do
    try:
        server = asyncio.run(postgres.start_postgres(pgdata))
    except Exception as exc:  # reported to the test, which shows it
        return f"failed: {exc!r}"[:500]
    owner = pgdata.stat().st_uid
    server.cleanup()
    return f"started, owner {owner}"


def main(data_dirs: list[str]) -> None:
    starts = [
        subprocess.Popen([sys.executable, "-m", "tests.worker.first_starts", "--one", path],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for path in data_dirs
    ]
    for child in starts:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
    for child in starts:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in starts:
        print(child.communicate()[0].strip(), flush=True)
    print(f"user {pwd.getpwnam('pgserver').pw_uid}")


if __name__ == "__main__":
    warnings.filterwarnings("ignore")  # platformdirs on XDG_RUNTIME_DIR
    if sys.argv[1] == "--one":
        print(start(Path(sys.argv[2])))
    else:
        main(sys.argv[1:])
