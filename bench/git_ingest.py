"""Git ingest benchmark: `manage.py ingest_git` on a synthetic repository of N commits.

Writes a linear history with `git fast-import` (every commit changes one file under
services/api/ or services/web/, a tag v<k> every 1,000 commits), then, against DATABASE_URL
(default postgres://postgres@127.0.0.1:5432/dora_bench; the database must exist), migrates,
optionally declares a monorepo service with path globs (so changed files are read too), and
times `manage.py ingest_git PATH --repo bench/synthetic --service api --tags ^v` in a
subprocess twice: the first run creates every event, the second finds them all unchanged.
Prints commits/s for each run with the machine and its load average.

    .venv/bin/python bench/git_ingest.py                    # N = 100,000
    .venv/bin/python bench/git_ingest.py --commits 20000 --monorepo
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/dora_bench"
START = 1_700_000_000  # commit times: one a minute from here (2023-11-14)
SUMMARY_RE = re.compile(r"(?P<commits>\d+) commits, (?P<tags>\d+) tag deployments: (?P<rest>.*)")


def fast_import_stream(commits: int, tag_every: int = 1000):
    """The fast-import commands for a linear history of `commits` commits, streamed."""
    for i in range(1, commits + 1):
        when = START + 60 * i
        service = "api" if i % 2 else "web"
        message = f"change {i} to {service}\n".encode()
        content = f"{i}\n".encode()
        lines = [
            b"commit refs/heads/main",
            f"mark :{i}".encode(),
            f"author Bench <bench@example.com> {when} +0000".encode(),
            f"committer Bench <bench@example.com> {when + 30} +0000".encode(),
            f"data {len(message)}".encode() + b"\n" + message,
        ]
        if i > 1:
            lines.append(f"from :{i - 1}".encode())
        lines.append(f"M 644 inline services/{service}/file{i % 50}.txt".encode())
        lines.append(f"data {len(content)}".encode() + b"\n" + content)
        yield b"\n".join(lines) + b"\n\n"
        if i % tag_every == 0:
            yield f"reset refs/tags/v{i // tag_every}\nfrom :{i}\n\n".encode()


def repository_make(path: Path, commits: int) -> float:
    started = time.monotonic()
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    process = subprocess.Popen(
        ["git", "-C", str(path), "fast-import", "--quiet"], stdin=subprocess.PIPE
    )
    assert process.stdin is not None
    for chunk in fast_import_stream(commits):
        process.stdin.write(chunk)
    process.stdin.close()
    if process.wait() != 0:
        sys.exit("git fast-import failed")
    return time.monotonic() - started


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"manage.py {args[0]} failed:\n{done.stderr}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=100_000)
    parser.add_argument("--monorepo", action="store_true", help="read changed files too")
    options = parser.parse_args()
    env = {
        **os.environ,
        "DATABASE_URL": os.environ.get("DATABASE_URL", DEFAULT_URL),
        "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "1"),
        "PYTHONPATH": str(ROOT),
    }
    manage(env, "migrate", "-v0")
    paths = '["services/api/**"]' if options.monorepo else "[]"
    manage(
        env,
        "shell",
        "-c",
        "from dora.models import Service; Service.objects.update_or_create(name='api', "
        f"defaults={{'repos': ['bench/synthetic'], 'paths': {paths}, 'configured': True}})",
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synthetic"
        made = repository_make(path, options.commits)
        print(f"repository: {options.commits:,} commits written by fast-import in {made:.1f}s")
        print(
            f"machine: {platform.platform()}, {os.cpu_count()} CPUs, "
            f"{platform.processor() or platform.machine()}, Python {platform.python_version()}"
        )
        for label in ("first run", "second run"):
            load = [round(x, 2) for x in os.getloadavg()]
            started = time.monotonic()
            out = manage(
                env,
                "ingest_git",
                str(path),
                "--repo",
                "bench/synthetic",
                "--service",
                "api",
                "--tags",
                "^v",
                "--quiet",
            )
            seconds = time.monotonic() - started
            match = SUMMARY_RE.search(out)
            summary = match.group(0) if match else out.strip()
            print(
                f"{label}: {options.commits / seconds:,.0f} commits/s ({seconds:.1f}s wall, "
                f"load average {load} before); {summary}"
            )
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak RSS of the largest child process: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
