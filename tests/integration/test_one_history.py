"""One history, one set of facts, whichever path it takes (issue 14, point 7).

The same generated history (tests/history/scenario.py) goes through import_events (CONTRACT §1
events), the GitHub sync against the fake GitHub, replayed, signed GitHub webhooks, a real git
repository read by `manage.py ingest_git` (its shas mapped back to the history's), the GitLab
sync against the fake GitLab and GitLab's webhooks (their source `gitlab` read as the events
path's `github`: tests/history/paths.py outcome_with_sources), the infra runs as HCP Terraform
notifications filled from its replayed API, and the deployments as Argo CD notifications (its
ids and in-cluster staging target read back: tests/history/argocd.py) or as Flux events (its
ids read back, the flow-efficiency ratios left out: tests/history/flux.py); each other
path must give the facts (tests/facts.py) and the `manage.py metrics` JSON the events
path gives. One case per merge style, and a full history with every kind of event. The events
path itself is checked against the history first: its facts are what the history says.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest

from ingest.sources.git.reader import commits_read
from tests.history.git import git_repository_write, history_with_shas
from tests.history.infra_paths import INFRA_PATHS
from tests.history.paths import (
    PATHS,
    EventsPath,
    GitHubWebhooksPath,
    GitHubWebhooksShuffledPath,
    GitLabWebhooksPath,
    GitLabWebhooksShuffledPath,
    HistoryPath,
    Outcome,
    history_outcome,
    outcome_differences,
    outcome_with_shas,
)
from tests.history.scenario import CASES, History

pytestmark = pytest.mark.django_db
OTHER_PATHS = [p for p in (*PATHS, *INFRA_PATHS) if p.name != EventsPath.name]
_EXPECTED: dict[str, Outcome] = {}


def _events_outcome(case: str, history: History, workdir: Path) -> Outcome:
    """The events path's outcome of a case, computed once per test process (it is plain data:
    the state it came from was rolled back)."""
    if case not in _EXPECTED:
        _EXPECTED[case] = history_outcome(EventsPath(), history, workdir)
    return _EXPECTED[case]


def _production_rollouts(history: History) -> list[str]:
    """The production rollouts the history makes: each run of successful production
    deployments of one sha, after a different one was live."""
    shas: list[str] = []
    for d in history.deployments:
        if (
            d.environment == "production"
            and d.state == "success"
            and (not shas or shas[-1] != d.sha)
        ):
            shas.append(d.sha)
    return shas


@pytest.mark.parametrize("case", CASES)
def test_events_path_facts_are_the_history(case: str, tmp_path: Path) -> None:
    """Computed from the history alone: each pull request starts at its first commit's author
    time and arrives once in production, whatever its merge style (its landed shas are never
    direct pushes); each direct-pushed commit arrives once; one rollout per production release;
    a rollback is one, and fails the rollout it undid."""
    history = CASES[case]()
    facts = _events_outcome(case, history, tmp_path).facts

    starts = {number: started for _, number, started in facts["starts"]}
    assert starts == {pr.number: min(c.authored_at for c in pr.branch) for pr in history.pulls}

    # The app's rollouts (the infra stack's applies are its own rollouts, CONTRACT §1).
    app_production = [r for r in facts["rollouts"] if r[:2] == (history.service, "production")]
    production = sorted(app_production, key=lambda r: r[2])
    shas = _production_rollouts(history)
    assert [r[3] for r in production] == shas
    # Back to a sha live before: a rollback, and the rollout it undid failed because of it.
    rollbacks = [seq for seq, sha in enumerate(shas, start=1) if sha in shas[: seq - 1]]
    assert [r[2] for r in production if r[6] == "rollback"] == rollbacks
    rolled_back = [
        f[2]
        for f in facts["failures"]
        if f[:2] == (history.service, "production") and f[3] == "rollback"
    ]
    assert rolled_back == [seq - 1 for seq in rollbacks]

    arrivals = [a for a in facts["arrivals"] if a[1] == "production"]
    by_change = sorted(a[4] for a in arrivals if a[4] is not None)
    assert by_change == sorted(pr.number for pr in history.pulls)
    direct = sorted(a[5] for a in arrivals if a[4] is None and a[5])
    pushed = {c.sha for push in history.pushes for c in push.commits if push.branch == "main"}
    landed = {c.sha for pr in history.pulls for c in pr.landed}
    branch = {c.sha for pr in history.pulls for c in pr.branch}
    # The root commit among them: shipped by the first rollout (unattributed: none before it).
    assert direct == sorted(pushed - landed - branch), (
        f"landed shas of pull requests counted as direct pushes: {sorted(set(direct) & landed)}"
    )


def _direct_push_commits(history: History) -> int:
    """Commits pushed straight to the default branch after the first push (the root's): not
    one a pull request landed or brought in."""
    landed = {c.sha for pr in history.pulls for c in (*pr.landed, *pr.branch)}
    pushes = [p for p in history.pushes if p.branch == history.default_branch and p.before]
    return sum(1 for p in pushes for c in p.commits if c.sha not in landed)


def _webhooks_only(expected: Outcome, got: Outcome, history: History) -> tuple[Outcome, Outcome]:
    """A push payload (GitHub's, and GitLab's Push Hook alike) gives a commit's author time
    only, not its committer time, which is a direct push's merge time (METRICS §2): through
    webhooks alone merge_to_production counts the pull requests and not the direct pushes (the
    sync fills them). Checked here, then left
    out of the comparison when the history has direct pushes."""
    direct = _direct_push_commits(history)
    want, have = expected.metrics["merge_to_production"], got.metrics["merge_to_production"]
    assert have["n"] == want["n"] - direct, (want, have, direct)
    # The arrivals of pushed commits keep that merge time too (tests/facts.py: merged_at last,
    # no change repo): empty through webhooks, even for the first, unattributed rollout's.
    assert all(row[-1] is None for row in got.facts["arrivals"] if row[3] is None)
    pushes_unmerged = [
        (*row[:-1], None) if row[3] is None else row for row in expected.facts["arrivals"]
    ]
    expected = Outcome({**expected.facts, "arrivals": pushes_unmerged}, expected.metrics)
    if not direct:
        return expected, got

    def strip(outcome: Outcome) -> Outcome:
        return Outcome(
            outcome.facts, {k: v for k, v in outcome.metrics.items() if k != "merge_to_production"}
        )

    return strip(expected), strip(got)


# Each path with the cases it runs (`cases`, when a path carries only part of the history: the
# infra sources, whose runs only the full case has); every case otherwise.
PATH_CASES = [
    pytest.param(case, path, id=f"{case}-{path.name}")
    for path in OTHER_PATHS
    for case in CASES
    if case in getattr(path, "cases", CASES)
]


@pytest.mark.parametrize(("case", "path"), PATH_CASES)
def test_one_history_same_facts_whichever_path(
    case: str, path: HistoryPath, tmp_path: Path
) -> None:
    history = CASES[case]()
    expected = _events_outcome(case, history, tmp_path / "events")
    got = history_outcome(path, history, tmp_path / path.name)
    if path.name in (GitHubWebhooksPath.name, GitLabWebhooksPath.name):
        expected, got = _webhooks_only(expected, got, history)
    expected_read = getattr(path, "expected_read", None)
    if expected_read is not None:  # what the path cannot carry, left out of both sides
        expected = expected_read(expected, history)
    differences = outcome_differences(expected, got)
    assert not differences, f"{path.name} parts from the events path:\n" + "\n".join(differences)


@pytest.mark.parametrize("seed", (1, 2, 3))
@pytest.mark.parametrize("case", CASES)
def test_one_history_same_facts_whatever_the_webhooks_order(
    case: str, seed: int, tmp_path: Path
) -> None:
    """The webhook deliveries interleaved at random (each pull request's, deployment's, run's
    and issue's own deliveries in order): a merge push before or after its pull request, a
    deployment before the push of what it ships, still the events path's facts."""
    history = CASES[case]()
    expected = _events_outcome(case, history, tmp_path / "events")
    path = GitHubWebhooksShuffledPath(seed)
    got = history_outcome(path, history, tmp_path / path.name)
    expected, got = _webhooks_only(expected, got, history)
    differences = outcome_differences(expected, got)
    assert not differences, f"{path.name} parts from the events path:\n" + "\n".join(differences)


@pytest.mark.parametrize("seed", (1, 2, 3))
@pytest.mark.parametrize("case", CASES)
def test_one_history_same_facts_whatever_the_gitlab_hooks_order(
    case: str, seed: int, tmp_path: Path
) -> None:
    """GitLab's hooks interleaved at random the same way: a merge request's hooks (open, its
    comment, merge) before or after the pushes of its branch and of its merge, still the
    events path's facts."""
    history = CASES[case]()
    expected = _events_outcome(case, history, tmp_path / "events")
    path = GitLabWebhooksShuffledPath(seed)
    got = history_outcome(path, history, tmp_path / path.name)
    expected, got = _webhooks_only(expected, got, history)
    differences = outcome_differences(expected, got)
    assert not differences, f"{path.name} parts from the events path:\n" + "\n".join(differences)


def test_outcome_differences_name_the_fact_and_the_figure() -> None:
    expected = Outcome(
        {"starts": [("acme/shop", 101, "t0")]},
        {"lead_time": {"n": 2, "p50_seconds": 60.0}, "version_spread": []},
    )
    got = Outcome(
        {"starts": [("acme/shop", 101, "t1")]},
        {"lead_time": {"n": 2, "p50_seconds": 90.0}, "version_spread": []},
    )
    assert outcome_differences(expected, got) == [
        "facts.starts: 1 row(s) only expected, 1 only got",
        "  only expected: ('acme/shop', 101, 't0')",
        "  only got:      ('acme/shop', 101, 't1')",
        "metrics.lead_time.p50_seconds: expected 60.0, got 90.0",
    ]
    assert outcome_differences(expected, expected) == []


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")
def test_git_repository_holds_the_history(tmp_path: Path) -> None:
    """The full history written as a git repository reads back (git log over the default branch
    and the pull requests' head branches) as the history's commits in git's shas: one real sha
    per history commit, the same parents, author, times and message."""
    history = CASES["full"]()
    shas = git_repository_write(history, tmp_path / "repo")
    assert sorted(shas.values()) == sorted(c.sha for c in history.commits)
    real = history_with_shas(history, {mine: sha for sha, mine in shas.items()})
    read = {}
    for rev in (history.default_branch, *(pr.head for pr in history.pulls)):
        read.update({c.sha: c for c in commits_read(str(tmp_path / "repo"), rev=rev)})
    assert sorted(read) == sorted(c.sha for c in real.commits)
    for c in real.commits:
        got = read[c.sha]
        assert got.parents == c.parents
        assert got.author == c.author
        assert datetime.fromisoformat(got.authored_at) == c.authored_at
        assert datetime.fromisoformat(got.committed_at) == c.committed_at
        assert got.message == c.message


def test_outcome_with_shas_reads_the_history_shas_back() -> None:
    """Whole shas anywhere (a fact, a list, a figure) and abbreviated ones inside a text are
    mapped; other hex and other values are left alone."""
    real, mine = "a" * 40, "b" * 40
    outcome = Outcome(
        {"rollouts": [("shop", 1, real, [real]), ("shop", 2, "c" * 40, [])]},
        {"detail": f"rolled back by {real[:12]}", "deadbeef": "deadbeef", "n": 3},
    )
    assert outcome_with_shas(outcome, {real: mine}) == Outcome(
        {"rollouts": [("shop", 1, mine, [mine]), ("shop", 2, "c" * 40, [])]},
        {"detail": f"rolled back by {mine[:12]}", "deadbeef": "deadbeef", "n": 3},
    )
