"""Schemathesis over the live OpenAPI schema (GET /api/schema/) of a real server.

A gunicorn process serves this test process's database, seeded with a small estate (two services,
staging and production, changes, deployments, an incident). Schemathesis loads the schema from it
and sends generated requests (its examples, coverage and fuzzing phases, valid and invalid data;
fixed seed, bounded examples) once per caller: a token of each scope (ingest, gate, read), a
logged-in session and no credentials at all. Every response must pass four checks:
not_a_server_error (no 5xx), status_code_conformance (the status is documented),
content_type_conformance and response_schema_conformance (the body is the documented one).

A caller's own operations get the full pass; the others a few examples, enough to check their
401/403 bodies. Failures are collected per distinct (operation, check, status, and for a 5xx the
exception in the server's log) and listed with a curl command that reproduces each, so one run
shows everything that is wrong.

Run it alone: `python -m pytest -m schemathesis -q` (docs/DEVELOPMENT.md).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import Failure, FailureGroup

# The one entry point that builds an operation's tests with every configured phase (examples,
# coverage, fuzzing), as `schema.parametrize()` does for pytest; pinned with schemathesis.
from schemathesis.pytest.lazy import get_all_tests

from tests import builders
from tests.conftest import ROOT, _database_url

# django_db: pytest-django sets up the test database only when some collected test asks for it
# (run alone, this module would otherwise reach the DATABASE_URL database itself). Each test's
# transaction is never used: the server reads what the module fixture committed.
pytestmark = [pytest.mark.schemathesis, pytest.mark.django_db]

SEED = 20260313
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
SERVER_START_TIMEOUT_SECONDS = 60.0
REQUEST_TIMEOUT_SECONDS = 60.0
EVENTS = "/api/v1/events"
GATE = "/api/v1/gates/promotion"
METRICS = "^/api/v1/metrics"
QUOTED = re.compile(r'"[^"]*"')


# ---------------------------------------------------------------------------------------------
# The estate and the server
# ---------------------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def estate_events(now: datetime) -> list[dict[str, Any]]:
    """Two services over the last three weeks, as pipelines would report them: each change is
    a commit and a merged pull request, shipped to staging, then production a few hours later
    (checkout's v1.4.2 is in staging only, soaked: the gate's documented example decides it);
    one production deployment failed, one incident was caused by a rollout."""
    events: list[dict[str, Any]] = []
    for service, repo, versions in (
        ("checkout", "acme/checkout", ["v1.3.0", "v1.4.0", "v1.4.1", "v1.4.2"]),
        ("search", "acme/search", ["v2.0.0", "v2.1.0", "v2.2.0"]),
    ):
        parent: list[str] = []
        for number, version in enumerate(versions, start=1):
            start = now - timedelta(days=21) + timedelta(days=5 * number)
            sha = builders.sha(f"{service}-{number}")
            events += [
                {"type": "commit", "id": f"{repo}@{sha}", "repo": repo, "sha": sha,
                 "parents": parent, "authored_at": _iso(start)},
                {"type": "change", "id": f"{repo}#{number}", "repo": repo, "number": number,
                 "title": f"{service} change {number}",
                 "created_at": _iso(start + timedelta(hours=1)),
                 "merged_at": _iso(start + timedelta(hours=3)), "merge_sha": sha,
                 "commits": [sha]},
                {"type": "pipeline_run", "id": f"{repo}:ci:{number}", "repo": repo, "sha": sha,
                 "status": "success", "started_at": _iso(start + timedelta(hours=3)),
                 "finished_at": _iso(start + timedelta(hours=3, minutes=20))},
                {"type": "deployment", "id": f"{service}:staging:{number}", "service": service,
                 "environment": "staging", "sha": sha, "version": version, "status": "success",
                 "finished_at": _iso(start + timedelta(hours=4))},
            ]  # fmt: skip
            parent = [sha]
            if service == "checkout" and version == "v1.4.2":
                continue  # waiting in staging for the gate
            failed = service == "search" and version == "v2.1.0"
            events.append(
                {
                    "type": "deployment",
                    "id": f"{service}:production:{number}",
                    "service": service,
                    "environment": "production",
                    "target": "eu-west-1",
                    "sha": sha,
                    "version": version,
                    "status": "failure" if failed else "success",
                    "finished_at": _iso(start + timedelta(hours=8)),
                }  # fmt: skip
            )
    events.append(
        {
            "type": "incident",
            "id": "inc-1",
            "service": "checkout",
            "severity": "sev2",
            "opened_at": _iso(now - timedelta(days=5)),
            "resolved_at": _iso(now - timedelta(days=4)),
            "caused_by": {"version": "v1.4.1"},
        }  # fmt: skip
    )
    return events


@dataclass(frozen=True)
class Caller:
    """Who sends the requests: the headers that authenticate it (none for anonymous)."""

    name: str
    headers: dict[str, str]


@dataclass
class EstateServer:
    url: str
    log_path: Path
    callers: dict[str, Caller] = field(default_factory=dict)
    log_offset: int = 0

    def new_exceptions(self) -> list[str]:
        """For each traceback the server logged since the last call: its last frame in this
        project and the exception, e.g.
        `dora/intake/schema.py:298 in event_validate: TypeError: ...`."""
        with open(self.log_path, errors="replace") as log:
            log.seek(self.log_offset)
            text = log.read()
            self.log_offset = log.tell()
        found = []
        frame = ""
        inside = False
        for line in text.splitlines():
            if line.startswith("Traceback (most recent call last):"):
                inside, frame = True, ""
            elif inside and line.startswith('  File "'):
                path, _, rest = line.strip().removeprefix('File "').partition('", line ')
                number, _, function = rest.partition(", in ")
                where = os.path.relpath(path, ROOT)
                if os.path.isabs(path) and not where.startswith(".."):  # ours, not a library's
                    frame = f"{where}:{number} in {function}"
            elif inside and line and not line.startswith(" "):
                # One entry per kind of error: the values it quotes vary from case to case.
                exception = QUOTED.sub('"…"', line.strip())
                found.append(f"{frame}: {exception}")
                inside = False
        return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session_cookie(user: Any) -> str:
    """A logged-in session for `user`, stored as the login view would store it."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"sessionid={session.session_key}"


def _seed() -> dict[str, Caller]:
    from django.contrib.auth.models import Group, User

    from dora.intake.events import events_record
    from dora.models import ApiToken, Service, Team
    from dora.web.access import LEADERSHIP_GROUP

    report = events_record(estate_events(datetime.now(UTC)))
    assert report.counts["rejected"] == 0, [i.reason for i in report.items if i.reason]
    Service.objects.filter(name="checkout").update(team=Team.objects.create(name="payments"))
    Service.objects.filter(name="search").update(team=Team.objects.create(name="discovery"))
    lead = User.objects.create_user("fuzz-lead")
    lead.groups.add(Group.objects.create(name=LEADERSHIP_GROUP))
    callers = {}
    for scope in ("ingest", "gate", "read"):
        _, raw = ApiToken.issue(name=f"fuzz-{scope}", scope=scope)
        callers[scope] = Caller(scope, {"Authorization": f"Bearer {raw}"})
    callers["session"] = Caller("session", {"Cookie": _session_cookie(lead)})
    callers["anonymous"] = Caller("anonymous", {})
    return callers


@pytest.fixture(scope="module")
def estate_server(
    django_db_setup, django_db_blocker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EstateServer]:
    """gunicorn on this process's test database, seeded (committed); flushed afterwards, as a
    transactional test leaves it."""
    from django.core.management import call_command
    from django.db import connection

    try:
        database_url = _database_url(connection.settings_dict)
    except RuntimeError as exc:
        pytest.skip(f"{exc}: the schemathesis pass needs DATABASE_URL=postgres://...")
    name = connection.settings_dict["NAME"]
    assert name.startswith("test_"), f"{name} is not a test database: it would be seeded"
    port = _free_port()
    log_path = tmp_path_factory.mktemp("schemathesis") / "gunicorn.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "dora.settings",
        "CONN_MAX_AGE": "60",  # the server stops before the database is flushed
        "CELERY_BROKER_URL": "",  # tasks run in the server process
        "DORA_CACHE_URL": "",
    }
    command = [
        sys.executable, "-m", "gunicorn", "dora.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", "1",
        "--timeout", str(int(REQUEST_TIMEOUT_SECONDS)), "--graceful-timeout", "5",
    ]  # fmt: skip
    with django_db_blocker.unblock():
        callers = _seed()
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            server = EstateServer(url=f"http://127.0.0.1:{port}", log_path=log_path)
            server.callers.update(callers)
            _wait_until_serving(server, process)
            yield server
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            call_command("flush", interactive=False, verbosity=0)


def _wait_until_serving(server: EstateServer, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"gunicorn exited with {process.returncode}:\n{server.log_path.read_text()}"
            )
        try:
            # The schema takes seconds of CPU to build: on a loaded machine the first answer
            # is slow, which is not a failure to start.
            if requests.get(f"{server.url}/api/schema/", timeout=30).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn did not answer within {SERVER_START_TIMEOUT_SECONDS}s")
        time.sleep(0.2)


# ---------------------------------------------------------------------------------------------
# Intake: events as CONTRACT §1 describes them
# ---------------------------------------------------------------------------------------------

# type -> (required fields, optional fields) -> kind, from the table of CONTRACT §1.
EVENT_FIELDS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "commit": (
        {"repo": "str", "sha": "sha", "authored_at": "time"},
        {"committed_at": "time", "parents": "shas", "author": "str", "message": "str",
         "files": "strs"},
    ),
    "change": (
        {"repo": "str", "number": "int", "created_at": "time"},
        {"title": "str", "author": "str", "ready_at": "time", "first_review_at": "time",
         "approved_at": "time", "merged_at": "time", "closed_at": "time", "base": "str",
         "head": "str", "merge_sha": "sha", "squash_sha": "sha", "commits": "shas",
         "labels": "strs", "issue": "str", "issue_created_at": "time"},
    ),
    "pipeline_run": (
        {"repo": "str", "sha": "sha", "status": "status", "started_at": "time"},
        {"name": "str", "branch": "str", "created_at": "time", "finished_at": "time",
         "trigger": "str", "jobs": "jobs"},
    ),
    "deployment": (
        {"service": "str", "environment": "str", "status": "status", "finished_at": "time"},
        {"target": "str", "version": "str", "sha": "sha", "repo": "str", "started_at": "time",
         "commits": "shas", "trigger": "deployment_trigger", "config_version": "str",
         "remediates": "str", "pipeline_run": "str", "approved_at": "time",
         "approved_by": "str"},
    ),
    "incident": (
        {"service": "str", "opened_at": "time"},
        {"environment": "str", "title": "str", "severity": "str", "impact_started_at": "time",
         "mitigated_at": "time", "resolved_at": "time", "caused_by": "caused_by",
         "cause": "cause"},
    ),
    "automation_run": (
        {"service": "str", "environment": "str", "action": "action", "status": "status",
         "finished_at": "time"},
        {"target": "str", "started_at": "time", "trigger": "run_trigger", "version": "str",
         "drift_detected": "bool"},
    ),
    "out_of_band_change": (
        {"service": "str", "environment": "str", "changed_at": "time", "actor": "str",
         "what": "str"},
        {"target": "str", "resources": "strs"},
    ),
}  # fmt: skip

# What a pipeline sends, and one hostile flavour per event, as the probe of issue 13 found them:
# every text longer than its column, holding NUL; numbers past PostgreSQL's 32 bits; times whose
# offset leaves years 1..9999. (Lone surrogates too, but schemathesis cannot encode them;
# tests/integration/test_request_bounds.py and the fuzz report send them.) One flavour per
# event, so that a refused value does not hide the others of its event.
_SHA = {"type": "string", "pattern": "^[0-9a-f]{7,40}$"}
_TIME = {"type": "string", "format": "date-time"}
FLAVOURS: dict[str, dict[str, Any]] = {
    "plain": {"str": {"type": "string", "minLength": 1, "maxLength": 40},
              "int": {"type": "integer", "minimum": 0}, "time": _TIME},
    "long": {"str": {"type": "string", "minLength": 201, "maxLength": 600}},
    "nul": {"str": {"type": "string", "pattern": "^[a-z]{0,3}\u0000[a-z]{0,3}$"}},
    "big": {"int": {"type": "integer", "minimum": 2**31}},
    "far": {"time": {"enum": ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00"]}},
}  # fmt: skip


def _kinds(flavour: str) -> dict[str, Any]:
    kinds = {**FLAVOURS["plain"], **FLAVOURS[flavour]}
    status = {"enum": ["success", "failure", "cancelled", "running"]}
    return {
        **kinds,
        "sha": _SHA,
        "shas": {"type": "array", "items": _SHA, "maxItems": 3},
        "strs": {"type": "array", "items": kinds["str"], "maxItems": 3},
        "status": status,
        "bool": {"type": "boolean"},
        "jobs": {"type": "array", "maxItems": 2, "items": {
            "type": "object", "required": ["name"],
            "properties": {"name": kinds["str"], "started_at": kinds["time"],
                           "finished_at": kinds["time"], "status": status}}},
        "caused_by": {"type": "object", "properties": {"deployment": kinds["str"],
                                                       "version": kinds["str"], "sha": _SHA}},
        "cause": {"enum": ["change", "external", "unknown"]},
        "action": {"enum": ["apply", "plan", "deploy", "test"]},
        "deployment_trigger": {"enum": ["automated", "manual"]},
        "run_trigger": {"enum": ["schedule", "change", "manual"]},
    }  # fmt: skip


def _event_schema(etype: str, flavour: str) -> dict[str, Any]:
    required, optional = EVENT_FIELDS[etype]
    kinds = _kinds(flavour)
    plain = FLAVOURS["plain"]["str"]  # the id: a refused id would stop at the id
    return {
        "type": "object",
        "properties": {
            "type": {"enum": [etype]},
            "id": plain,
            **{name: kinds[kind] for name, kind in {**required, **optional}.items()},
        },
        "required": ["type", "id", *required],
        "additionalProperties": False,
    }


def events_grammar(flavour: str) -> Any:
    """A schema edit: the live schema documents the intake body as any object (or array of
    objects); here the generator gets CONTRACT §1's event shapes in one flavour, so that what
    it sends reaches each field's validation and storage rather than stopping at `type`.
    Responses are still checked against the live schema."""

    def edit(raw: dict[str, Any]) -> None:
        event = {"anyOf": [_event_schema(etype, flavour) for etype in EVENT_FIELDS]}
        body = raw["paths"][EVENTS]["post"]["requestBody"]["content"]["application/json"]
        body["schema"] = {
            "anyOf": [event, {"type": "array", "items": event, "minItems": 1, "maxItems": 3}]
        }

    return edit


# ---------------------------------------------------------------------------------------------
# The pass
# ---------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _generation_from_the_seed_alone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Hypothesis also draws constants it finds in the project's modules loaded so far: a set
    that differs between this file alone and the whole suite under `pytest -n 2`. Without them
    (and without values taken from earlier responses, see schemathesis_pass) what is sent
    depends on SEED alone, wherever the test runs. (Hypothesis internals, pinned with it.)"""
    from hypothesis.internal.conjecture import providers
    from hypothesis.internal.constants_ast import Constants

    none = Constants()
    monkeypatch.setattr(providers, "_get_local_constants", lambda: none)
    providers.CONSTANTS_CACHE.cache.clear()
    yield
    providers.CONSTANTS_CACHE.cache.clear()


@dataclass
class Findings:
    """Distinct failures, each with a curl command that reproduces it: keyed by operation,
    check and status, and for a 5xx by the exception the server logged."""

    found: dict[tuple[str, str, int, str], str] = field(default_factory=dict)
    requests: int = 0

    def report(self) -> str:
        lines = [f"{len(self.found)} distinct failure(s) in {self.requests} requests:"]
        for (operation, title, status, exception), detail in sorted(self.found.items()):
            lines.append(f"\n--- {operation}: {title} [{status}] {exception}\n{detail}")
        return "\n".join(lines)


def schemathesis_pass(
    server: EstateServer,
    caller: Caller,
    *,
    include: str,
    max_examples: int,
    findings: Findings,
    mode: str = "all",
    coverage: bool = True,
    coverage_mode: str = "negative",
    schema_edit: Any = None,
) -> None:
    """Run schemathesis on the operations whose path matches `include`, as `caller`; add what
    fails to `findings`."""
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "cache": {"enabled": False},
            "generation": {"mode": mode, "max-examples": max_examples, "allow-x00": True},
            "phases": {
                # Values from earlier responses and feedback from errors would make what is
                # sent depend on what ran before; the seed alone decides.
                "examples": {"extra-data-sources": {"responses": False}},
                # Coverage: every parameter's boundary and invalid values, one at a time.
                "coverage": {
                    "enabled": coverage,
                    "generation": {"mode": coverage_mode},
                    "extra-data-sources": {"responses": False},
                },
                "fuzzing": {
                    "error-feedback": {"enabled": False},
                    "extra-data-sources": {"responses": False},
                },
                "stateful": {"enabled": False},
            },
        }
    )
    raw = requests.get(f"{server.url}/api/schema/?format=json", timeout=10).json()
    if schema_edit is not None:
        schema_edit(raw)
    schema = schemathesis.openapi.from_dict(raw, config=config).include(path_regex=include)

    def check(case: schemathesis.Case) -> None:
        response = case.call(
            base_url=server.url, headers=caller.headers, timeout=REQUEST_TIMEOUT_SECONDS
        )
        findings.requests += 1
        exceptions = server.new_exceptions() if response.status_code >= 500 else []
        try:
            case.validate_response(response, checks=CHECKS, headers=caller.headers)
        except (FailureGroup, Failure) as exc:
            failures = exc.exceptions if isinstance(exc, FailureGroup) else (exc,)
            for failure in failures:
                if failure.title == "Undocumented status code" and response.status_code >= 500:
                    continue  # the server error itself says it
                exception = exceptions[-1] if exceptions else ""
                key = (case.operation.label, failure.title, response.status_code, exception)
                findings.found.setdefault(
                    key,
                    f"{case.as_curl_command(headers=caller.headers)}\n"
                    f"{failure.message.strip()[:600]}\nbody: {response.text[:300]!r}",
                )

    settings = hypothesis.settings(
        deadline=None, database=None, suppress_health_check=list(hypothesis.HealthCheck)
    )
    tests = list(get_all_tests(schema=schema, test_func=check, settings=settings, given_kwargs={}))
    assert tests, f"no operation matches {include!r}"
    for result in tests:
        _, test = result.ok()
        test()


def assert_clean(findings: Findings) -> None:
    assert not findings.found, findings.report()


# ---------------------------------------------------------------------------------------------
# One pass per caller
# ---------------------------------------------------------------------------------------------

# Operations a caller may not use: a few examples each, for their 401/403 bodies.
FOREIGN = {"max_examples": 3, "coverage": False}


def test_schemathesis_read_token(estate_server: EstateServer) -> None:
    findings = Findings()
    caller = estate_server.callers["read"]
    schemathesis_pass(
        estate_server,
        caller,
        include=METRICS,
        max_examples=10,
        coverage_mode="all",
        findings=findings,
    )
    schemathesis_pass(
        estate_server, caller, include=f"^({EVENTS}|{GATE})$", findings=findings, **FOREIGN
    )
    assert_clean(findings)


def test_schemathesis_gate_token(estate_server: EstateServer) -> None:
    findings = Findings()
    caller = estate_server.callers["gate"]
    schemathesis_pass(
        estate_server, caller, include=f"^{GATE}$", max_examples=40, findings=findings
    )
    schemathesis_pass(
        estate_server, caller, include=f"^{EVENTS}$|{METRICS}", findings=findings, **FOREIGN
    )
    assert_clean(findings)


def test_schemathesis_ingest_token_elsewhere(estate_server: EstateServer) -> None:
    findings = Findings()
    caller = estate_server.callers["ingest"]
    schemathesis_pass(
        estate_server, caller, include=f"^{GATE}$|{METRICS}", findings=findings, **FOREIGN
    )
    assert_clean(findings)


# One pass per flavour of value: plain, over-long text, NUL, numbers past 32 bits, times past
# years 1..9999. Before intake validation refused them item by item (234d524), each answered 500.
def test_schemathesis_intake(estate_server: EstateServer) -> None:
    findings = Findings()
    caller = estate_server.callers["ingest"]
    for flavour in FLAVOURS:
        schemathesis_pass(
            estate_server,
            caller,
            include=f"^{EVENTS}$",
            max_examples=25,
            # Valid shapes holding the flavour's values; invalid ones stop at the first field.
            mode="positive",
            coverage=False,  # over six event shapes, a thousand requests
            findings=findings,
            schema_edit=events_grammar(flavour),
        )
    # And bodies of every other shape, valid JSON or not.
    schemathesis_pass(
        estate_server, caller, include=f"^{EVENTS}$", max_examples=25, findings=findings
    )
    assert_clean(findings)


def test_schemathesis_session(estate_server: EstateServer) -> None:
    findings = Findings()
    caller = estate_server.callers["session"]
    # Sessions read the metrics; unsafe methods need a CSRF token they do not send here (403).
    schemathesis_pass(
        estate_server, caller, include=METRICS, max_examples=10, coverage=False, findings=findings
    )
    schemathesis_pass(
        estate_server, caller, include=f"^({EVENTS}|{GATE})$", findings=findings, **FOREIGN
    )
    assert_clean(findings)


def test_schemathesis_anonymous(estate_server: EstateServer) -> None:
    findings = Findings()
    caller = estate_server.callers["anonymous"]
    schemathesis_pass(estate_server, caller, include="^/api/v1/", findings=findings, **FOREIGN)
    assert_clean(findings)
