"""Benchmark: the officers' inbox over HTTP on a register of 100 000 cases, and what HTTP adds to an action.

Run by hand (it is not a test):

    .venv/bin/python bench/inbox.py [--cases 100000] [--requests 200] [--actions 300]

1. Load. `--cases` cases go into a throwaway database (an embedded PostgreSQL, or the server of
   GRANTFLOW_DATABASE_URL, on which a database of its own is created and dropped) through the
   register's own write path: `Register.register_application` (a case number, the public row), then
   `Register.write` with a `CaseSnapshot` (stage, officer, the deadlines the inbox shows), as the
   intake and the case workflows call them; many at once. Stages, officers (50), calls (6), amounts
   and deadlines (none, or one or two between 90 days ago and 120 days ahead) are drawn from a fixed
   seed, and about one open case in 300 has a records request waiting (the snapshot's
   `records_pending_since`, as the case workflow writes it). Then VACUUM ANALYZE of `cases` and of
   `case_counts` (the counts per stage that a trigger keeps, updated on every move), as autovacuum
   would after such a load.
2. Inbox latency. The FastAPI app as deployed (`api.app.create_app` with its own authenticator: a
   development token of a real user in `api_users`, looked up by its hash on every request) in this
   process, reached through httpx's ASGITransport, with its own pool over the loaded database: each
   common inbox query `--requests` times, one at a time, after a few unmeasured ones. Median and p95
   from the client's side (the whole request: routing, sign-in, validation, the two SQL statements,
   JSON). Target: p95 < 20 ms for each.
3. An officer action through HTTP beside the same action with the Temporal client directly. A
   Temporal dev server and a grantflow worker (`grantflow worker`, in a process of its own, as
   deployed) over the same database; a few cases are submitted and brought to assessment.
   `declare-no-conflict` (an officer signs in once and declares on each case in turn) is sent through
   the API's own endpoint `POST /cases/{case_number}/actions/declare-no-conflict` with an
   `Idempotency-Key`, signed in two ways: by a JWT of the identity provider (served here on loopback),
   as officers sign in in production, and by a development token, which costs a SELECT on every
   request; then with `services.cases.act` itself (what the endpoint calls), and with
   `client.get_workflow_handle(...).execute_update(...)`, in turns (ABCDDCBA). Each is timed once the
   case has settled from the one before. Two more ways in, beside those: `grantflow api` as deployed,
   in a process of its own (uvicorn), reached over a kept-alive socket with a lean HTTP/1.1 client
   (h11), as a browser reaches it; and the same app in this process called as uvicorn calls it once it
   has parsed a request (no client library's work counted). Target: p50 through `grantflow api`
   (OIDC) <= 1.15 x p50 with the client; the other two show where the difference lies.
   Then what HTTP itself costs: a bare FastAPI route (no sign-in) that awaits the client's p50 and
   answers the same receipt, through the same ASGITransport, beside awaiting the same wait directly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import structlog  # noqa: E402

TARGET_P95_MS = 20.0
TARGET_RATIO = 1.15
# An action's ways to the case, and the order they take turns in (ABCDDCBA: a drift falls on all alike).
KINDS = {"served": "`grantflow api` in its own process, OIDC, a socket",
         "asgi": "the app called as uvicorn calls it, OIDC",
         "oidc": "through HTTP, signed in by OIDC (production)",
         "http": "through HTTP, a development token (a SELECT)",
         "service": "services.cases.act (what the route calls)",
         "client": "Temporal client directly (execute_update)"}
ORDER = ["served", "asgi", "oidc", "http", "service", "client",
         "client", "service", "http", "oidc", "asgi", "served"]
CASES = 7  # prime to the cycle: each kind acts on every case
OFFICERS = [f"officer-{n:02d}" for n in range(50)]
CALLS = ["export-samverkan-2021", "saker-digitalisering-2022", "gront-lyft-2023", "besoksnaring-2024",
         "vatgas-2025", "kompetens-2026"]
NAMES = ["Region Exempel", "Innovationsparken i Norr", "Klustret för livsmedel", "Östergötlands företagsråd",
         "Science Park Väst", "Almi Mitt", "Region Gotland", "Inkubatorn Lund", "Företagsfabriken Skåne",
         "Näringslivsbolaget i Umeå"]
TITLES = ["Exportsamverkan för livsmedel", "Digital säkerhet i småföretag", "Grön omställning i industrin",
          "Vätgas i tunga transporter", "Turism året runt", "Cirkulär textil", "Skogens nya produkter",
          "Besöksnäring i fjällen", "AI i tillverkningen", "Kompetens för batterier"]
# Roughly where an agency's cases stand a few years in: most are closed.
STAGE_WEIGHTS = {"completeness": 4, "secrecy_review": 3, "assessment": 6, "decision": 3, "decided": 1,
                 "payments": 12, "final_report": 3, "reclaim": 1, "closed": 65, "withdrawn": 2}


def quantiles(ms: list[float]) -> tuple[float, float]:
    ordered = sorted(ms)
    return statistics.median(ordered), ordered[max(0, round(0.95 * len(ordered)) - 1)]


def met(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


async def load(pool: Any, count: int, seed: int = 2026) -> None:
    from activities.register import CaseSnapshot, Register, RegisterApplication, RegisterWrite
    from domain.inbox import Deadline, DeadlineKind
    from domain.lifecycle import Stage

    rng = random.Random(seed)
    register = Register(pool)
    now = datetime.now(UTC)
    kinds = [k for k in DeadlineKind if k is not DeadlineKind.RECORDS_REQUEST]
    stages, weights = list(STAGE_WEIGHTS), list(STAGE_WEIGHTS.values())
    years = list(range(2019, 2027))

    def planned(i: int) -> tuple[Any, Any]:
        stage = Stage(rng.choices(stages, weights)[0])
        open_case = stage not in (Stage.CLOSED, Stage.WITHDRAWN, Stage.DECIDED)
        n = rng.choice([1, 1, 2]) if open_case and rng.random() < 0.8 else 0
        deadlines = sorted((Deadline(kind=k, at=now + timedelta(minutes=rng.randrange(-90 * 1440, 120 * 1440)))
                            for k in rng.sample(kinds, n)), key=lambda d: d.at)
        officer = rng.choice(OFFICERS) if stage not in (Stage.COMPLETENESS, Stage.SECRECY_REVIEW) else None
        application = RegisterApplication(
            submission_id=f"bench-{seed}-{i}", call_id=rng.choice(CALLS),
            received_at=datetime(years[i % len(years)], 1 + i % 12, 1 + i % 28, 9, tzinfo=UTC), imported=False,
            sender_name=rng.choice(NAMES), sender_org_number=None, subject=f"{rng.choice(TITLES)} {i}",
            requested_amount=Decimal(rng.randrange(50_000, 5_000_000)))
        # A waiting records request on about one open case in 300, as the case's snapshot carries it.
        records = now - timedelta(minutes=rng.randrange(4 * 1440)) if open_case and rng.random() < 1 / 300 else None
        return application, dict(stage=stage, officer=officer, deadlines=deadlines, records_pending_since=records,
                                 deadline_at=deadlines[0].at if deadlines else None,
                                 deadline_kind=deadlines[0].kind if deadlines else None)

    async def one(i: int) -> None:
        application, snapshot = planned(i)
        registered = await register.register_application(application)
        await register.write(RegisterWrite(case_number=registered.case_number, snapshot=CaseSnapshot(
            case_number=registered.case_number, **snapshot)))

    started, batch = time.perf_counter(), 64
    for start in range(0, count, batch):
        await asyncio.gather(*(one(i) for i in range(start, min(start + batch, count))))
        if start and start % 20_000 == 0:
            print(f"  … {start} cases, {time.perf_counter() - started:.0f} s", flush=True)
    async with pool.connection() as conn:
        await conn.execute("VACUUM ANALYZE cases")
        await conn.execute("VACUUM ANALYZE case_counts")  # rewritten on every move: autovacuum's first job
        cursor = await conn.execute("SELECT count(*), count(records_pending_since) FROM cases")
        total, records = await cursor.fetchone()
    print(f"loaded {total} cases ({records} with a waiting records request) in "
          f"{time.perf_counter() - started:.0f} s through Register.register_application + Register.write")


async def time_requests(call: Callable[[], Awaitable[Any]], n: int, warmup: int = 10) -> list[float]:
    for _ in range(warmup):
        await call()
    timings = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def bench_inbox(app: Any, http: Any, token: str, requests: int) -> bool:
    headers = {"Authorization": f"Bearer {token}"}

    async def get(params: dict[str, Any]) -> dict[str, Any]:
        response = await http.get("/inbox", params=params, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET /inbox {params}: {response.status_code} {response.text}")
        body: dict[str, Any] = response.json()
        return body

    second = (await get({}))["next_cursor"]
    queries: dict[str, dict[str, Any]] = {
        "default (nearest deadline first, 50)": {},
        "next page (cursor)": {"cursor": second},
        "mine (officer=me)": {"officer": "me"},
        "mine, overdue": {"officer": "me", "overdue": "true"},
        "my team's (team=mine)": {"team": "mine"},
        "my team's, overdue": {"team": "mine", "overdue": "true"},
        "stage=assessment": {"stage": "assessment"},
        "overdue": {"overdue": "true"},
        "due within 7 days": {"due_within_days": 7},
        "free text 'vätgas'": {"q": "vätgas"},
        "free text 'norr 123'": {"q": "norr 123"},
        "call + stage + amount": {"call": CALLS[1], "stage": ["payments", "final_report"],
                                  "min_amount": "1000000", "max_amount": "3000000"},
        "200 a page": {"limit": 200},
    }
    all_met = True
    print(f"\nInbox over HTTP (in-process ASGI), {requests} requests each, one at a time; target p95 < "
          f"{TARGET_P95_MS:.0f} ms")
    print(f"  {'query':40} {'rows':>5} {'total':>7} {'p50 ms':>8} {'p95 ms':>8}  target")
    for name, params in queries.items():
        sample = await get(params)
        p50, p95 = quantiles(await time_requests(lambda params=params: get(params), requests))
        ok = p95 < TARGET_P95_MS
        all_met &= ok
        print(f"  {name:40} {len(sample['cases']):>5} {sample['total']:>7} {p50:>8.2f} {p95:>8.2f}  "
              f"< {TARGET_P95_MS:.0f} {met(ok)}")
    return all_met


async def bench_action(url: str, settings_kwargs: dict[str, Any], app_pool: Any, actions: int) -> bool:
    from temporalio.testing import WorkflowEnvironment

    from api.app import create_app
    from domain.clock import stockholm_date
    from infra.calls import CallCatalog, load_catalog
    from infra.codec import generate_key
    from infra.converter import data_converter
    from infra.settings import Settings
    from services import cases, users
    from services.demo import demo_application, demo_call
    from workflows import search_attributes as sa

    queue = f"bench-inbox-{uuid.uuid4().hex[:8]}"
    settings = Settings(database_url=url, task_queue=queue, codec_keys=generate_key("bench"), **settings_kwargs)
    temporal = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))
    attrs = [arg for key in sa.ALL
             for arg in ("--search-attribute", f"{key.name}={key.indexed_value_type.name.title()}")]
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal, dev_server_extra_args=attrs,
                                                data_converter=data_converter(settings), dev_server_log_level="error")
    client = env.client
    seeds = load_catalog()
    tomorrow = stockholm_date(datetime.now(UTC)) + timedelta(days=1)
    call = demo_call(seeds.get("export-samverkan-2021"), tomorrow)
    catalog = CallCatalog(calls={**seeds.calls, call.id: call}, form=seeds.form, texts=seeds.texts)
    example = json.loads((ROOT / "examples/export-samverkan-2021/eligible-regional-livsmedel-ostergotland.json")
                         .read_text(encoding="utf-8"))
    raw = json.dumps(demo_application(example, call, tomorrow))

    import httpx

    # The app as deployed: sign-in through the real authenticator: development tokens looked up in
    # `api_users`, and the identity provider's JWTs verified against its keys, served here on loopback.
    provider = _Provider()
    settings = settings.model_copy(update={"oidc": provider.config()})
    app = create_app(settings, client=client, pool=app_pool)
    # The worker in a process of its own, as deployed (`grantflow worker`): in this one it would share
    # the event loop with the timed requests, and its work after answering an update (the register
    # write) would fall on what comes next here, the HTTP response for one kind and nothing for the other.
    address = client.service_client.config.target_host
    worker_env = {**os.environ, "GRANTFLOW_TEMPORAL_ADDRESS": address, "GRANTFLOW_DATABASE_URL": url,
                  "GRANTFLOW_TASK_QUEUE": queue, "GRANTFLOW_LOG_FORMAT": "json",
                  "GRANTFLOW_CODEC_KEYS": settings.codec_keys.get_secret_value() if settings.codec_keys else ""}
    worker_log = tempfile.TemporaryFile()  # noqa: SIM115  # read if the worker dies; closed with the process
    worker = subprocess.Popen([sys.executable, "-m", "cli.main", "worker"], cwd=ROOT, env=worker_env,
                              stdout=subprocess.DEVNULL, stderr=worker_log)
    # And the API as deployed: `grantflow api` (uvicorn) in a process of its own, signing in with the
    # same identity provider, reached over a kept-alive socket as a browser reaches it.
    api_port = _free_port()
    oidc = settings.oidc
    api_env = {**worker_env, "GRANTFLOW_OIDC_ISSUER": oidc.issuer, "GRANTFLOW_OIDC_AUDIENCE": oidc.audience,
               "GRANTFLOW_OIDC_JWKS_URL": oidc.jwks_url or "", "GRANTFLOW_OIDC_ROLE_MAP": "grantflow-officer=officer"}
    api = subprocess.Popen([sys.executable, "-m", "cli.main", "api", "--port", str(api_port)], cwd=ROOT,
                           env=api_env, stdout=subprocess.DEVNULL, stderr=worker_log)
    served = _Http11(api_port)
    # The floor: a FastAPI route that answers at once, in a uvicorn process of its own, over the same kind
    # of socket, asked right after each action through `grantflow api` (so idle as long between requests).
    floor_port = _free_port()
    floor_app = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "inbox:floor_app", "--app-dir",
                                  str(ROOT / "bench"), "--port", str(floor_port), "--log-level", "warning"],
                                 cwd=ROOT, stdout=subprocess.DEVNULL, stderr=worker_log)
    floor = _Http11(floor_port)
    floor_ms: list[float] = []
    try:
        await served.open()
        await floor.open()
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://grantflow.bench") as http:
                numbers = [(await cases.submit(client, catalog, raw, task_queue=queue)).case_number
                           for _ in range(CASES)]
                for number in numbers:
                    await settle(client, number)
                    command = cases.build_command("record-secrecy-review", {"role": "officer", "id": "anna"},
                                                  {"rulings": []}, None)
                    await cases.act(client, number, "record-secrecy-review", command)
                    await settle(client, number)
                # An officer signs in once and acts on several cases: officer k takes actions 8k..8k+7, one
                # on each case (a case accepts one declaration per person). Real users with development
                # tokens, all made before the timing starts.
                def person_of(i: int) -> str:
                    return f"bench-officer-{i // len(numbers)}"

                tokens = {person: (await users.add(app_pool, users.new_user(person, "officer"))).token
                          for person in {person_of(i) for i in range(actions)}}
                timings: dict[str, list[float]] = {kind: [] for kind in KINDS}
                for i in range(actions):
                    number = numbers[i % len(numbers)]  # CASES cases, a cycle of 8: each kind acts on each case
                    person = person_of(i)
                    kind = ORDER[i % len(ORDER)]
                    if kind == "served":
                        headers = {"Authorization": f"Bearer {provider.token(person)}",
                                   "Idempotency-Key": uuid.uuid4().hex}
                        started = time.perf_counter()
                        status, _ = await served.post(f"/cases/{number}/actions/declare-no-conflict", headers)
                        elapsed = time.perf_counter() - started
                        if status != 200:
                            raise RuntimeError(f"action through `grantflow api`: {status}")
                        await settle(client, number)
                        started_floor = time.perf_counter()
                        status, _ = await floor.post(f"/cases/{number}/actions/declare-no-conflict", {})
                        floor_ms.append((time.perf_counter() - started_floor) * 1000)
                        if status != 200:
                            raise RuntimeError(f"the floor's route: {status}")
                    elif kind == "asgi":
                        headers = {"Authorization": f"Bearer {provider.token(person)}",
                                   "Idempotency-Key": uuid.uuid4().hex}
                        started = time.perf_counter()
                        status, _ = await _asgi_post(app, f"/cases/{number}/actions/declare-no-conflict", headers)
                        elapsed = time.perf_counter() - started
                        if status != 200:
                            raise RuntimeError(f"action through the ASGI app: {status}")
                    elif kind in ("http", "oidc"):
                        token = tokens[person] if kind == "http" else provider.token(person)
                        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
                        started = time.perf_counter()
                        response = await http.post(f"/cases/{number}/actions/declare-no-conflict", headers=headers)
                        elapsed = time.perf_counter() - started
                        if response.status_code != 200:
                            raise RuntimeError(f"action through HTTP: {response.status_code} {response.text}")
                    elif kind == "service":
                        started = time.perf_counter()
                        command = cases.build_command("declare-no-conflict", {"role": "officer", "id": person}, {},
                                                      uuid.uuid4().hex)
                        await cases.act(client, number, "declare-no-conflict", command)
                        elapsed = time.perf_counter() - started
                    else:
                        started = time.perf_counter()
                        command = cases.build_command("declare-no-conflict", {"role": "officer", "id": person}, {},
                                                      uuid.uuid4().hex)
                        handle = client.get_workflow_handle(number)
                        await handle.execute_update("declare_no_conflict", command, id=cases.update_id(command))
                        elapsed = time.perf_counter() - started
                    timings[kind].append(elapsed * 1000)
                    await settle(client, number)
                receipt = response.content
    except Exception:
        worker_log.seek(0)
        print(worker_log.read()[-4000:].decode(errors="replace"), file=sys.stderr)
        raise
    finally:
        served.close()
        floor.close()
        for process in (api, worker, floor_app):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        await env.shutdown()
        provider.close()
    p50 = {kind: quantiles(ms)[0] for kind, ms in timings.items()}
    ratio = p50["served"] / p50["client"]
    print(f"\nAn officer action (declare-no-conflict), {len(timings['http'])} of each kind in the order "
          f"{' '.join(ORDER)}, each on a settled case")
    for kind, label in KINDS.items():
        median, p95 = quantiles(timings[kind])
        print(f"  {label:48} p50 {median:7.2f} ms   p95 {p95:7.2f} ms")
    print(f"  ratio `grantflow api` (as deployed, OIDC) / Temporal client (p50): {ratio:.3f}   "
          f"target <= {TARGET_RATIO} {met(ratio <= TARGET_RATIO)}")
    print(f"  (in this process through httpx's ASGITransport, OIDC / client: {p50['oidc'] / p50['client']:.3f};"
          f" development token / client: {p50['http'] / p50['client']:.3f};"
          f" services.cases.act / client: {p50['service'] / p50['client']:.3f})")
    lowest = quantiles(floor_ms)[0]
    print(f"  the floor: a FastAPI route that answers at once, in a uvicorn process of its own, over a socket: "
          f"p50 {lowest:.2f} ms; so through any such process the ratio is at least "
          f"(client + floor) / client = {(p50['client'] + lowest) / p50['client']:.3f}")
    direct, through = await http_baseline(p50["client"], receipt, len(timings["http"]))
    print(f"  HTTP itself: a bare FastAPI route that awaits {p50['client']:.2f} ms and answers the same receipt: "
          f"p50 {through:.2f} ms through HTTP, {direct:.2f} ms awaited directly: +{through - direct:.2f} ms "
          f"(the action through HTTP: +{p50['http'] - p50['client']:.2f} ms)")
    return ratio <= TARGET_RATIO


async def http_baseline(wait_ms: float, body: bytes, n: int) -> tuple[float, float]:
    """What HTTP alone costs: the p50 of awaiting a wait directly, and of the same wait behind a bare
    FastAPI route (no sign-in, no body) through the same ASGITransport, answering `body`."""
    import httpx
    from fastapi import FastAPI, Response

    async def work() -> bytes:
        await asyncio.sleep(wait_ms / 1000)
        return body

    bare = FastAPI()

    @bare.post("/cases/{case_number}/actions/{action}")
    async def take(case_number: str, action: str) -> Response:
        return Response(await work(), media_type="application/json")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=bare), base_url="http://bare.bench") as http:
        async def post() -> None:
            (await http.post("/cases/2026-00001/actions/declare-no-conflict")).raise_for_status()

        direct = await time_requests(work, n)
        through = await time_requests(post, n)
    return quantiles(direct)[0], quantiles(through)[0]


async def settle(client: Any, number: str, timeout: float = 60.0) -> None:
    """Until the case has no workflow task or activity pending: its register write is done."""
    deadline = time.monotonic() + timeout
    handle = client.get_workflow_handle(number)
    while time.monotonic() < deadline:
        raw = (await handle.describe()).raw_description
        if not raw.pending_activities and not raw.HasField("pending_workflow_task"):
            return
        await asyncio.sleep(0.02)  # polling the server, not waiting for a timer
    raise RuntimeError(f"case {number} did not settle in {timeout} s")


async def main(count: int, requests: int, actions: int) -> int:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    from activities.db import open_pool, upgrade
    from api.app import create_app
    from infra.settings import Settings
    from services import teams, users

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    print(f"bench/inbox.py at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}, "
          f"{os.cpu_count()} cores")
    work = Path(tempfile.mkdtemp(prefix="grantflow-bench-inbox-"))
    server_url = os.environ.get("GRANTFLOW_DATABASE_URL")
    server = None
    if server_url is None:
        import warnings

        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset (CI, containers) and falls back to /tmp.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            import pgserver

        server = pgserver.get_server(work / "pg", cleanup_mode="delete")
        server_url = server.get_uri()
    name = f"bench_inbox_{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as admin:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(server_url, dbname=name)
    ok = True
    try:
        await upgrade(url)
        pool = await open_pool(url, max_size=16)
        try:
            await load(pool, count)
            import httpx

            # The API's pool as the API opens its own (services.register.open_register_pool): 10 connections.
            app_pool = await open_pool(url, max_size=10)
            try:
                settings = Settings(database_url=url)
                # A real user and token: every request signs in against `api_users`, as deployed.
                officer = await users.add(app_pool, users.new_user(OFFICERS[7], "officer", name="Handläggare"))
                # Their team, as an administrator keeps it: three of the fifty officers.
                await teams.add(app_pool, "bench-team", [OFFICERS[7], OFFICERS[8], OFFICERS[9]], "bench")
                app = create_app(settings, client=_NoTemporal(), pool=app_pool)  # type: ignore[arg-type]
                async with app.router.lifespan_context(app):
                    transport = httpx.ASGITransport(app=app)
                    async with httpx.AsyncClient(transport=transport, base_url="http://grantflow.bench") as http:
                        ok &= await bench_inbox(app, http, officer.token, requests)
                if actions:
                    ok &= await bench_action(url, {}, app_pool, actions)
            finally:
                await app_pool.close()
        finally:
            await pool.close()
    finally:
        async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as admin:
            await admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if server is not None:
            server.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}; all targets {met(ok)}")
    return 0 if ok else 1


class _Provider:
    """An identity provider on loopback: an RSA key, its JWKS served over HTTP, tokens it signs."""

    ISSUER = "https://login.bench.example"

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from cryptography.hazmat.primitives.asymmetric import rsa
        from jwt.algorithms import RSAAlgorithm

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = {**json.loads(RSAAlgorithm.to_jwk(self.key.public_key())), "kid": "bench", "alg": "RS256", "use": "sig"}
        body = json.dumps({"keys": [jwk]}).encode()

        class Keys(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Keys)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def config(self) -> Any:
        from infra.settings import OidcConfig

        return OidcConfig(issuer=self.ISSUER, audience="grantflow",
                          jwks_url=f"http://127.0.0.1:{self.server.server_address[1]}/keys",
                          role_map={"grantflow-officer": "officer"})

    def token(self, person: str) -> str:
        import jwt

        now = int(time.time())
        claims = {"iss": self.ISSUER, "aud": "grantflow", "sub": person, "name": person, "iat": now,
                  "exp": now + 600, "roles": ["grantflow-officer"]}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "bench"})

    def close(self) -> None:
        self.server.shutdown()


async def _asgi_post(app: Any, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """A POST with no body handed to the ASGI app as uvicorn hands it one, once it has parsed the request."""
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
             "headers": [(b"host", b"grantflow.bench"), (b"content-length", b"0"),
                         *((name.lower().encode(), value.encode()) for name, value in headers.items())]}
    answer: dict[str, Any] = {"status": 0, "body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return answer["status"], answer["body"]


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _Http11:
    """One kept-alive HTTP/1.1 connection to the API, as a browser holds one: h11 over asyncio streams.

    Not httpx: its client's own work per request (about 0.3 ms here) is the caller's, not the API's,
    and a browser spends it outside our processes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.writer: asyncio.StreamWriter | None = None

    async def open(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:  # until `grantflow api` has reached Temporal and the database and listens
            try:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        import h11

        self.h11 = h11
        self.connection = h11.Connection(h11.CLIENT)

    async def post(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        h11 = self.h11
        assert self.writer is not None
        request = h11.Request(method="POST", target=path,
                              headers=[("Host", "grantflow.bench"), ("Content-Length", "0"), *headers.items()])
        self.writer.write(self.connection.send(request) + self.connection.send(h11.EndOfMessage()))
        status, body = 0, b""
        while True:
            event = self.connection.next_event()
            if event is h11.NEED_DATA:
                self.connection.receive_data(await self.reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                self.connection.start_next_cycle()
                return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def floor_app() -> Any:
    """For the floor (uvicorn --factory inbox:floor_app): one route that answers a receipt's size at once."""
    from fastapi import FastAPI, Response

    app = FastAPI()
    body = b'{"receipt": "' + b"x" * 200 + b'"}'

    @app.post("/cases/{case_number}/actions/{action}")
    async def take(case_number: str, action: str) -> Response:
        return Response(body, media_type="application/json")

    return app


class _NoTemporal:
    """The inbox needs no Temporal: the first part runs without a server."""


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--actions", type=int, default=300, help="0 skips the action part (and Temporal)")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.cases, args.requests, args.actions)))
