"""Do two revisions derive the same facts from the benchmark feed? A guard for speed work.

Checks out REV (default: HEAD) in a temporary git worktree, imports the same generated feed with
`manage.py import_events` into two fresh databases, one with REV's code and one with the working
tree's, and compares every derived fact (tests/facts.py: rollouts, change sets, arrivals, target
arrivals, failure links, deployment grouping, missing commits, change starts) without ids. A
field one revision's models lack (REV older than a kept fact) is left out of both sides, and
said so.
Prints the counts and the first differences, and says why each differing row differs where a
known definition change explains it (`REASONS`: a rebase-merged pull request, the idle-target rule,
...); exit status 1 if any row differs that no listed reason explains (`--strict`: if any differs).

    .venv/bin/python bench/facts_diff.py a01da7a                 # 25,000 events
    .venv/bin/python bench/facts_diff.py a01da7a --events 100000
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from generator import config_yaml, feed_write
from intake import ROOT, database_recreate, feed_path, manage

# The working tree's tests/facts.py, loaded by path, snapshots both revisions' tables (same
# models), so a fact family added to it is compared on both sides.
SNAPSHOT = """
import importlib.util, json
spec = importlib.util.spec_from_file_location("facts", {facts!r})
facts = importlib.util.module_from_spec(spec)
spec.loader.exec_module(facts)
missing = {{}}
snapshot = facts.facts_snapshot(missing)
with open({path!r}, "w") as out:
    json.dump({{"facts": {{k: [repr(x) for x in v] if isinstance(v, list) else repr(v)
                         for k, v in snapshot.items()}},
               "missing": missing}}, out)
"""


def facts_of(
    tree: Path, url: str, feed: Path, config: Path
) -> tuple[dict[str, list[str]], dict[str, list[int]]]:
    """Import `feed` with the code in `tree` into a fresh database; return its facts and, per
    kind, the positions of the fields its models lack (an older revision's: the facts a later
    one added)."""
    database_recreate(url)
    for args in (
        ("migrate", "--no-input", "-v", "0"),
        ("apply_config", str(config)),
        ("import_events", str(feed), "--quiet"),
    ):
        manage(url, *args, cwd=tree)
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        script = SNAPSHOT.format(path=out.name, facts=str(ROOT / "tests" / "facts.py"))
        manage(url, "shell", "-c", script, cwd=tree)
        snapshot = json.loads(Path(out.name).read_text())
        return snapshot["facts"], {k: list(v) for k, v in snapshot["missing"].items()}


def fields_drop(facts: dict[str, list[str]], missing: dict[str, list[int]]) -> dict[str, list[str]]:
    """`facts` without the fields at the positions `missing` gives per kind (those the other
    revision lacks), so both sides are compared on the fields both have."""
    dropped = dict(facts)
    for kind, positions in missing.items():
        rows = []
        for row in facts.get(kind, []):
            parts = [p for i, p in enumerate(_fields(row)) if i not in positions]
            rows.append("(" + ", ".join(parts) + ")")
        dropped[kind] = sorted(rows)
    return dropped


# Identity fields per kind (the rest of a row is what the revisions may disagree on);
# kinds not listed compare whole rows.
IDENTITY = {"rollouts": 3, "arrivals": 6, "reached": 4, "deployments": 2, "starts": 2}
ROLLOUT_FIELDS = [
    *("service", "environment", "seq", "sha", "version", "config_version", "kind"),
    *("first_live_at", "last_live_at", "completed_at", "targets_live", "targets_active"),
    *("unattributed", "change_set_complete", "missing_shas", "remediation", "failure"),
    *("restored_at", "ship_seq", "estate_reached_at"),
]
# Where a kind's rows name a change: the positions of its repo and number.
CHANGE_AT = {"arrivals": (3, 4), "starts": (0, 1), "changes": (0, 1)}
# Kinds whose rows open with a rollout's service, environment and seq.
ROLLOUT_KEYED = ("rollouts", "arrivals", "reached", "failures", "commits")
SHA = re.compile(r"\b[0-9a-f]{40}\b")


def feed_index(feed: Path) -> dict[str, set[str]]:
    """What the feed holds that definition changes key on: rebase-merged PRs and their copies."""
    prs, copies = set(), set()
    with feed.open(encoding="utf-8") as handle:
        for line in handle:
            if '"landed_commits"' not in line:
                continue
            event = json.loads(line)
            if event.get("type") == "change" and len(event.get("landed_commits") or ()) > 0:
                prs.add(f"{event['repo']!r}#{event['number']}")
                copies.update(event["landed_commits"])
    return {"rebase_prs": prs, "rebase_copies": copies}


def rebase_rollouts(
    index: dict[str, set[str]], *snapshots: dict[str, list[str]]
) -> dict[str, set[str]]:
    """The rollouts carrying a rebase-merged PR, and those a rebase-carrying rollout failed or
    restored (a rebase-merged hotfix): rows about them move with the rebase mapping."""
    carrying: set[str] = set()
    for snapshot in snapshots:
        for row in snapshot.get("arrivals", []):
            parts = _fields(row)
            if f"{parts[3]}#{parts[4]}" in index["rebase_prs"]:
                carrying.add(", ".join(parts[:3]))
    touched = set(carrying)
    for snapshot in snapshots:
        for row in snapshot.get("failures", []):
            parts = _fields(row)  # service, environment, seq, cause, status, incident, by_seq
            if ", ".join([*parts[:2], parts[6]]) in carrying:
                touched.add(", ".join(parts[:3]))
    return {**index, "rebase_rollouts": carrying, "rebase_touched": touched}


def rows_split(rows: list[str], kind: str) -> dict[str, list[str]]:
    """Rows keyed by their identity fields (parsed back from the snapshot's repr)."""
    keep = IDENTITY.get(kind)
    keyed: dict[str, list[str]] = {}
    for row in rows:
        parts = _fields(row)
        key = ", ".join(parts[:keep]) if keep else row
        keyed.setdefault(key, []).append(row)
    return keyed


def _fields(row: str) -> list[str]:
    """Top-level comma-separated fields of a tuple's repr (nested brackets kept whole)."""
    inner, depth, field, out = row[1:-1], 0, "", []
    for char in inner:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == "," and depth == 0:
            out.append(field.strip())
            field = ""
        else:
            field += char
    out.append(field.strip())
    return out


def row_reason(kind: str, old: str | None, new: str | None, index: dict[str, set[str]]) -> str:
    """The definition change that explains why a row differs, or "unexplained"."""
    rows = [r for r in (old, new) if r]
    changes = set()
    if kind in CHANGE_AT:
        repo, number = CHANGE_AT[kind]
        changes = {f"{_fields(r)[repo]}#{_fields(r)[number]}" for r in rows}
    shas = {sha for r in rows for sha in SHA.findall(r)}
    rollouts = {", ".join(_fields(r)[:3]) for r in rows} if kind in ROLLOUT_KEYED else set()
    if (
        changes & index["rebase_prs"]
        or shas & index["rebase_copies"]
        or rollouts & index["rebase_touched"]
    ):
        return "rebase merge: landed copies map to their pull request (landed_commits)"
    if kind == "rollouts" and old and new:
        pairs = zip(ROLLOUT_FIELDS, _fields(old), _fields(new), strict=False)
        moved = {name for name, a, b in pairs if a != b}
        if moved <= {"targets_active", "completed_at", "estate_reached_at", "change_set_complete"}:
            return "active targets: target_idle_after (90 days) instead of 30"
        return "unexplained (rollout fields " + ", ".join(sorted(moved)) + ")"
    return "unexplained"


def differences(
    kind: str, old: list[str], new: list[str], index: dict[str, set[str]]
) -> dict[str, list[tuple[str | None, str | None]]]:
    """Differing rows of one kind, grouped by reason."""
    before, after = rows_split(old, kind), rows_split(new, kind)
    grouped: dict[str, list[tuple[str | None, str | None]]] = {}
    for key in sorted(before.keys() | after.keys()):
        a, b = sorted(before.get(key, [])), sorted(after.get(key, []))
        if a == b:
            continue
        for i in range(max(len(a), len(b))):
            pair = (a[i] if i < len(a) else None, b[i] if i < len(b) else None)
            if pair[0] == pair[1]:
                continue
            grouped.setdefault(row_reason(kind, *pair, index), []).append(pair)
    return grouped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rev", nargs="?", default="HEAD", help="git revision to compare with")
    parser.add_argument("--events", type=int, default=25_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/dora_facts")
    parser.add_argument(
        "--strict", action="store_true", help="fail on any difference, explained or not"
    )
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
            before, lacks_before = facts_of(other, args.database_url + "_rev", feed, config)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT)
        after, lacks_after = facts_of(ROOT, args.database_url + "_tree", feed, config)
    # A fact one revision does not keep is compared on the fields both have, and said so.
    for side, lacks in (("rev", lacks_before), ("tree", lacks_after)):
        for kind, positions in sorted(lacks.items()):
            print(
                f"  {kind}: {side} lacks {len(positions)} field(s) (positions {positions}); "
                "compared without them"
            )
    before, after = fields_drop(before, lacks_after), fields_drop(after, lacks_before)

    index = rebase_rollouts(feed_index(feed), before, after)
    print(
        f"{args.events:,} events ({len(index['rebase_prs']):,} rebase-merged pull requests), "
        f"{args.rev} vs the working tree"
    )
    same = explained = True
    for kind in sorted(before.keys() | after.keys()):
        old, new = before.get(kind, []), after.get(kind, [])
        verdict = "same" if old == new else "DIFFERENT"
        same &= old == new
        print(f"  {kind:12} {len(old):>9,} {len(new):>9,}  {verdict}")
        for reason, pairs in differences(kind, old, new, index).items():
            explained &= not reason.startswith("unexplained")
            print(f"      {len(pairs):>7,} rows: {reason}")
            for was, now in pairs[:2]:
                print(f"          rev:  {(was or '-')[:150]}")
                print(f"          tree: {(now or '-')[:150]}")
    if args.strict:
        return 0 if same else 1
    return 0 if explained else 1


if __name__ == "__main__":
    sys.exit(main())
