"""A History as a real git repository on disk (the `ingest_git` path).

The scenario's shas are made up (sha1 of the seed and the commit's index), and git's are the
hash of each commit's content, so they cannot be the same. `git_repository_write` builds the
repository with one `git fast-import` run: every commit with its author, its author and committer
times (UTC), its message and its parents, and a tree of its own (one file per commit, a merge
holding both sides' files), the default branch at the mainline's tip and each pull request's head
branch at its last branch commit (so a squash or rebase merge's branch commits are in the
repository too, as in a clone that fetched them). It returns the history's sha of each real one;
`history_with_shas` rewrites every sha reference in a history (commits, parents, the mainline,
pull requests, pushes, deployments, runs) so the rest of the history can be rendered against the
repository's shas.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path

from tests.history.scenario import GitCommit, History


def _data(text: str) -> bytes:
    raw = text.encode()
    return b"data %d\n%s\n" % (len(raw), raw)


def _who(name: str, at) -> bytes:
    return f"{name} <{name}@example.com> {int(at.timestamp())} +0000".encode()


def _git(path: Path, *args: str, stdin: bytes | None = None) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(path)}
    done = subprocess.run(
        ["git", "-C", str(path), *args], input=stdin, env=env, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def git_repository_write(history: History, path: Path) -> dict[str, str]:
    """The history's commits as a git repository at `path`; {real sha: history sha}."""
    path.mkdir(parents=True)
    _git(path, "init", "-q", "-b", history.default_branch)
    mark = {c.sha: i + 1 for i, c in enumerate(history.commits)}
    files: dict[str, set[str]] = {}  # history sha -> the files of its tree
    stream = [b"reset refs/heads/%s\n" % history.default_branch.encode()]
    for i, c in enumerate(history.commits):
        own = f"history/{i:04d}.txt"
        tree = {own}.union(*(files[p] for p in c.parents))
        files[c.sha] = tree
        stream += [
            b"commit refs/heads/%s\n" % history.default_branch.encode(),
            b"mark :%d\n" % mark[c.sha],
            b"author " + _who(c.author, c.authored_at) + b"\n",
            b"committer " + _who(c.author, c.committed_at) + b"\n",
            _data(c.message + "\n"),
        ]
        if c.parents:
            stream.append(b"from :%d\n" % mark[c.parents[0]])
        stream += [b"merge :%d\n" % mark[p] for p in c.parents[1:]]
        # The tree whole: a merge holds both sides' files.
        stream.append(b"deleteall\n")
        for name in sorted(tree):
            stream += [b"M 100644 inline %s\n" % name.encode(), _data(name)]
        stream.append(b"\n")
    tips = {history.default_branch: history.mainline[-1]}
    tips.update({pr.head: pr.branch[-1].sha for pr in history.pulls})
    for branch, sha in tips.items():
        stream.append(b"reset refs/heads/%s\nfrom :%d\n\n" % (branch.encode(), mark[sha]))
    marks = path / ".git" / "history-marks"
    _git(path, "fast-import", "--quiet", f"--export-marks={marks}", stdin=b"".join(stream))
    lines = (line.split() for line in marks.read_text().splitlines())
    by_mark = {int(m.lstrip(":")): sha for m, sha in lines}
    _git(path, "checkout", "-q", "-f", history.default_branch)
    return {by_mark[mark[c.sha]]: c.sha for c in history.commits}


def history_with_shas(history: History, shas: dict[str, str]) -> History:
    """The history with every sha `s` replaced by `shas[s]` (a complete map of its commits)."""

    def commit(c: GitCommit) -> GitCommit:
        return replace(c, sha=shas[c.sha], parents=tuple(shas[p] for p in c.parents))

    return replace(
        history,
        commits=tuple(commit(c) for c in history.commits),
        mainline=tuple(shas[s] for s in history.mainline),
        pulls=tuple(
            replace(
                pr,
                branch=tuple(commit(c) for c in pr.branch),
                landed=tuple(commit(c) for c in pr.landed),
            )
            for pr in history.pulls
        ),
        pushes=tuple(
            replace(
                push,
                before=shas[push.before] if push.before else None,
                commits=tuple(commit(c) for c in push.commits),
            )
            for push in history.pushes
        ),
        deployments=tuple(replace(d, sha=shas[d.sha]) for d in history.deployments),
        runs=tuple(replace(r, sha=shas[r.sha]) for r in history.runs),
    )
