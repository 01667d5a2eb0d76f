#!/bin/sh
# Before every upgrade: does the new release reproduce every case it will meet?
#
# Run with the NEW release installed (its own virtual environment, not yet serving), on an
# operations host, with the cluster's settings (the GRANTFLOW_* variables of deploy/README.md, e.g.
# `set -a; . /etc/grantflow/grantflow.env; set +a`). It reads only: it replays, against the new
# workflow code and data converter, every open (and retained) case and workflow of the cluster's
# namespace from Temporal, then every archived case from the database. No worker needs to be stopped.
#
#   deploy/pre-release-replay.sh [/opt/grantflow-NEW/venv/bin/grantflow]
#
# Exit 0: every case replays; the release may go out. Exit 1: a case differs (its number, run and
# event are printed): do not start workers of this release; the change needs `workflow.patched`
# (docs/decisions/0030-replay-before-every-release.md). 2 or 3: bad settings or unreachable, nothing checked.
set -u
grantflow=${1:-grantflow}
status=0
echo "== open cases, from Temporal, replayed by $grantflow" >&2
"$grantflow" audit replay --all --from temporal --progress || status=$?
[ "$status" -ge 2 ] && exit "$status"
echo "== archived cases, from the archive" >&2
"$grantflow" audit replay --all --from archive --progress || { code=$?; [ "$code" -ge 2 ] && exit "$code"; status=1; }
if [ "$status" -ne 0 ]; then
    echo "pre-release replay: a case does not replay with this release: do not deploy it" >&2
else
    echo "pre-release replay: every case replays with this release" >&2
fi
exit "$status"
