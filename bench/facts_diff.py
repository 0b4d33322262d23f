"""Do two revisions derive the same facts from the benchmark feed? A guard for speed work.

Checks out REV (default: HEAD) in a temporary git worktree, imports the same generated feed with
`manage.py import_events` into two fresh databases, one with REV's code and one with the working
tree's, and compares every derived fact (tests/facts.py: rollouts, change sets, arrivals, target
arrivals, failure links, deployment grouping, missing commits, change starts) without ids.
Prints the counts and the first differences; exit status 1 if anything differs.

    .venv/bin/python bench/facts_diff.py a01da7a                 # 25,000 events
    .venv/bin/python bench/facts_diff.py a01da7a --events 100000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from generator import config_yaml, feed_write
from intake import ROOT, database_recreate, feed_path, manage

SNAPSHOT = """
import json
from tests.facts import facts_snapshot
snapshot = facts_snapshot()
with open({path!r}, "w") as out:
    json.dump({{k: [repr(x) for x in v] if isinstance(v, list) else repr(v)
               for k, v in snapshot.items()}}, out)
"""


def facts_of(tree: Path, url: str, feed: Path, config: Path) -> dict[str, list[str]]:
    """Import `feed` with the code in `tree` into a fresh database; return its facts."""
    database_recreate(url)
    for args in (
        ("migrate", "--no-input", "-v", "0"),
        ("apply_config", str(config)),
        ("import_events", str(feed), "--quiet"),
    ):
        manage(url, *args, cwd=tree)
    # tests/facts.py from the working tree reads either revision's tables (same models).
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        manage(url, "shell", "-c", SNAPSHOT.format(path=out.name), cwd=tree, pythonpath=ROOT)
        return json.loads(Path(out.name).read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rev", nargs="?", default="HEAD", help="git revision to compare with")
    parser.add_argument("--events", type=int, default=25_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/dora_facts")
    args = parser.parse_args()

    feed = feed_path(args.events, args.seed, True)
    if not feed.exists():
        feed.parent.mkdir(parents=True, exist_ok=True)
        feed_write(feed, events=args.events, seed=args.seed)
    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch) / "dora.yml"
        config.write_text(config_yaml())
        other = Path(scratch) / "rev"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(other), args.rev],
            cwd=ROOT,
            check=True,
        )
        try:
            before = facts_of(other, args.database_url + "_rev", feed, config)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT)
        after = facts_of(ROOT, args.database_url + "_tree", feed, config)

    same = True
    print(f"{args.events:,} events, {args.rev} vs the working tree")
    for kind in sorted(before.keys() | after.keys()):
        old, new = before.get(kind, []), after.get(kind, [])
        verdict = "same" if old == new else "DIFFERENT"
        same &= old == new
        print(f"  {kind:12} {len(old):>9,} {len(new):>9,}  {verdict}")
        if old != new:
            only_old, only_new = set(old) - set(new), set(new) - set(old)
            for label, rows in (("only in rev", only_old), ("only in tree", only_new)):
                for row in sorted(rows)[:3]:
                    print(f"      {label}: {row[:160]}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
