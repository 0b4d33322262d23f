"""A History's automation runs as Spacelift's run-state webhooks (the default payload).

Each run becomes one delivery of its final state: tests/fixtures/spacelift/
run_tracked_finished.json with the run id (the history's), the stack (`<stack>-<environment>`,
mapped by the source's `stacks:` rules), the commit's hash, the creation and state-change times
and the state (FINISHED, or FAILED for a failure) changed.

What Spacelift's body carries: the run id, the stack, the run's creation (`started_at`) and
state change (`finished_at`), its state and `run.commit.hash`, which is recorded as the run's
`version`. What it does not: the commit as a `sha` and the repository (the mapper reads the hash
as a version, CONTRACT §1: a stack's version need not be a commit), and what queued the run
(`trigger`). So the stack's deployments name a version and no sha: their rollouts have no sha
and no change set to look up, and the commits missing from it are not listed.
`spacelift_read_back` leaves exactly those out of both sides (the stack's rollouts' sha and
change-set columns, its missing commits); everything else is compared as it is.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.history.scenario import STACK, History

FIXTURE = (
    Path(__file__).resolve().parents[1] / "fixtures" / "spacelift" / "run_tracked_finished.json"
)
_STATE = {"success": "FINISHED", "failure": "FAILED"}
# facts_snapshot's rollout columns a version without a sha cannot fill: sha (3), unattributed,
# change_set_complete, missing_shas (12-14).
_ROLLOUT_SHA_COLUMNS = (3, 12, 13, 14)


def _unix(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def spacelift_bodies(history: History) -> list[bytes]:
    bodies = []
    for run in history.automation:
        assert run["action"] == "apply", run  # a TRACKED run
        body = json.loads(FIXTURE.read_text())
        body.update(
            state=_STATE[run["status"]], stateVersion=4, timestamp=_unix(run["finished_at"])
        )
        body["run"].update(id=run["id"], createdAt=_unix(run["started_at"]))
        body["run"]["commit"].update(
            hash=run["sha"], url=f"https://github.com/{run['repo']}/commit/{run['sha']}"
        )
        body["stack"].update(id=f"{run['service']}-{run['environment']}", name=run["service"])
        bodies.append(json.dumps(body).encode())
    return bodies


def spacelift_read_back(
    facts: dict[str, Any], metrics: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The facts without what a Spacelift run cannot carry (the module docstring): the stack's
    rollouts' sha and change-set columns and its missing commits. Applied to both sides."""
    facts = dict(facts)
    facts["rollouts"] = [
        tuple(
            None if row[0] == STACK and i in _ROLLOUT_SHA_COLUMNS else v for i, v in enumerate(row)
        )
        for row in facts["rollouts"]
    ]
    facts["missing"] = [row for row in facts["missing"] if row[0] != STACK]
    return facts, metrics
