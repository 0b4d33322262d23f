"""PyGithub's recorded GitHub API exchanges (its sdist's tests/ReplayData), fetched at test time.

PyGithub is LGPL, so its recordings are not copied into this repository: the session fixture
`pygithub_replay_dir` runs `pip download` for the PyGithub version we pin into
`.cache/pygithub-<version>/` (outside git) once, and extracts only `tests/ReplayData`. Offline,
the tests using it are skipped with a reason saying how to fetch it; with
DORA_REQUIRE_PYGITHUB_REPLAY=1 (set by `.ci/run`) they fail instead.

The format, as PyGithub's tests/Framework.py (ReplayingConnection) reads it: per exchange one
line each for protocol, verb, host, port, url (path and query), request headers (a Python dict
literal), request body, status, response headers (a Python list of (name, value) pairs), then
the response body on one line (a streamed download: base64 lines), then a blank line.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_ENV = "DORA_REQUIRE_PYGITHUB_REPLAY"
PIP_TIMEOUT_SECONDS = 300
# Set by the transport, not by the recorded API: replaying them would contradict the body.
_HOP_HEADERS = {"status", "content-length", "transfer-encoding", "content-encoding", "connection"}


def pygithub_version() -> str:
    return importlib.metadata.version("PyGithub")


def replay_cache(version: str) -> Path:
    return ROOT / ".cache" / f"pygithub-{version}"


def fetch_hint(version: str) -> str:
    cache = replay_cache(version).relative_to(ROOT)
    return (
        f"PyGithub {version}'s recorded exchanges are fetched from PyPI at test time; to fetch "
        f"them, run the tests once with network access, or: python -m pip download "
        f"PyGithub=={version} --no-binary :all: --no-deps -d {cache}"
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path`: xdist workers starting at once fetch only once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sdist_download(version: str, cache: Path) -> Path:
    sdist = cache / f"pygithub-{version}.tar.gz"
    if sdist.exists():
        return sdist
    command = [
        *(sys.executable, "-m", "pip", "download", f"PyGithub=={version}"),
        *("--no-binary", ":all:", "--no-deps", "--disable-pip-version-check"),
        *("--timeout", "30", "--retries", "2", "-d", str(cache)),
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"{' '.join(command)}: {exc}") from exc
    if done.returncode != 0 or not sdist.exists():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}:\n{tail}")
    return sdist


def _replay_extract(sdist: Path, target: Path) -> None:
    """Only `<top>/tests/ReplayData/<file>`; written to a temporary folder, then renamed."""
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    count = 0
    with tarfile.open(sdist) as archive:
        for member in archive:
            parts = member.name.split("/")
            if len(parts) == 4 and parts[1:3] == ["tests", "ReplayData"] and member.isfile():
                source = archive.extractfile(member)
                assert source is not None
                (partial / parts[3]).write_bytes(source.read())
                count += 1
    if not count:
        shutil.rmtree(partial)
        raise RuntimeError(f"{sdist} holds no tests/ReplayData")
    partial.rename(target)


def replay_dir_fetch(version: str) -> Path:
    """The ReplayData folder of PyGithub `version`, downloaded and extracted on first use."""
    cache = replay_cache(version)
    target = cache / "ReplayData"
    if target.is_dir():
        return target
    with _locked(cache.with_name(f"{cache.name}.lock")):
        if not target.is_dir():  # another worker may have finished while we waited
            _replay_extract(_sdist_download(version, cache), target)
    return target


@pytest.fixture(scope="session")
def pygithub_replay_dir() -> Path:
    """PyGithub's tests/ReplayData; skipped when it cannot be fetched (failed under CI)."""
    version = pygithub_version()
    try:
        return replay_dir_fetch(version)
    except RuntimeError as exc:
        message = f"{fetch_hint(version)}\n(fetch failed: {exc})"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 and {message}", pytrace=False)
        pytest.skip(message)


# ---------------------------------------------------------------------------------------------
# The format
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayExchange:
    """One recorded request and its response."""

    protocol: str
    verb: str
    host: str
    port: str
    url: str  # path and query, as sent
    request_headers: dict[str, str]
    request_body: str
    status: int
    response_headers: list[tuple[str, str]]
    body: str

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> list[tuple[str, str]]:
        return sorted(parse_qsl(urlsplit(self.url).query, keep_blank_values=True))

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.response_headers if k.lower() == name.lower()), None)

    def json(self) -> Any:
        return json.loads(self.body)


def replay_parse(text: str) -> list[ReplayExchange]:
    """A ReplayData file's text -> its exchanges, in order."""
    lines = text.split("\n")
    exchanges = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        head = [line.strip() for line in lines[i : i + 9]]
        if len(head) < 9:
            raise ValueError(f"line {i + 1}: a truncated exchange: {head!r}")
        protocol, verb, host, port, url, req_headers, req_body, status, resp_headers = head
        body = []
        i += 9
        while i < len(lines) and lines[i].strip():
            body.append(lines[i].strip())
            i += 1
        try:
            # Python literals, as PyGithub writes them (str() of a dict / a list of tuples).
            request_headers = ast.literal_eval(req_headers) or {}
            response_headers = [tuple(pair) for pair in ast.literal_eval(resp_headers)]
        except (SyntaxError, ValueError) as exc:
            raise ValueError(f"exchange {len(exchanges) + 1}: unreadable headers: {exc}") from exc
        exchanges.append(
            ReplayExchange(
                protocol=protocol,
                verb=verb,
                host=host,
                port=port,
                url=url,
                request_headers=request_headers,
                request_body=req_body,
                status=int(status),
                response_headers=response_headers,
                body="\n".join(body),
            )
        )
    return exchanges


def replay_load(replay_dir: Path, name: str) -> list[ReplayExchange]:
    """The exchanges of one recording, e.g. `Repository.testGetCommits`."""
    return replay_parse((replay_dir / f"{name}.txt").read_text(encoding="utf-8"))


def replay_serve(rsps: responses.RequestsMock, exchanges: list[ReplayExchange]) -> None:
    """Answer GETs with the recorded responses.

    A request matches the exchange with its path and query; failing that, the recorded
    exchange(s) with its path when they all answer the same (our query strings differ from
    PyGithub's: per_page, state ...).
    """

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        split = urlsplit(request.url or "")
        query = sorted(parse_qsl(split.query, keep_blank_values=True))
        recorded = [e for e in exchanges if e.verb == "GET" and e.path == split.path]
        exact = [e for e in recorded if e.query == query]
        if exact:
            found = exact[0]
        elif recorded and len({(e.status, e.body) for e in recorded}) == 1:
            found = recorded[0]
        else:
            raise AssertionError(f"no single recorded exchange answers {request.url}")
        headers = {k: v for k, v in found.response_headers if k.lower() not in _HOP_HEADERS}
        return found.status, headers, found.body

    hosts = {e.host for e in exchanges}
    for host in hosts:
        pattern = re.compile(f"https://{re.escape(host)}/.*")
        rsps.add_callback(responses.GET, pattern, callback=answer)
