"""The demo's git story: pull requests, commits onto trunk, CI pipelines."""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta
from typing import Any

from dora.demo_history.profiles import (
    _BUG_VERBS,
    _CHORES,
    _FEATURE_VERBS,
    _MEMBERS,
    _MONOREPO_FILES,
    _TOPICS,
)
from dora.demo_history.state import _branch_name, _PullRequest, _Repo, _Service


class _Git:
    """Pull requests, trunk commits and CI (a mixin of dora.demo._Simulation)."""

    def plan_repo(self, repo: _Repo) -> None:
        """The repository's first commit, the versions live as the window opens, and the queue."""
        self.trunk_root(repo)
        for service in repo.services:
            self.baseline(repo, service)
            self.plan_pull_requests(repo, service)
            profile = service.profile
            if profile.release_every is not None:
                t = self.working(
                    self.start + self.hours((0, profile.release_every[0])), service.team
                )
                while t < self.now:
                    self.at(t, "train", repo, service)
                    t = self.working(t + self.hours(profile.release_every), service.team)
            t = self.start + timedelta(days=self.rng.uniform(5, 30))
            while t < self.now:
                self.at(self.working(t, service.team), "config_change", repo, service)
                t += timedelta(days=self.rng.uniform(20, 45))

    def trunk_root(self, repo: _Repo) -> None:
        t = self.start - timedelta(days=3)
        sha = self.sha()
        subject = "Import history from the old build server"
        self.commit(repo, sha, t, t, [], "lena", subject, None)
        self.push_trunk(repo, sha, t, None, subject)
        repo.green[sha] = t

    def baseline(self, repo: _Repo, service: _Service) -> None:
        """The version every environment runs when the window opens."""
        sha, version = repo.shas[0], service.version()
        t = self.start - timedelta(days=2)
        for environment, targets in (("staging", ("",)), ("production", service.targets)):
            for target in targets:
                t += self.minutes(5, 20)
                self.deployment(
                    service, environment, target, sha, version, t, t + self.minutes(3, 8)
                )
                if environment == "production":
                    service.live[target] = (sha, version)
        service.staging = service.last_good = (sha, version)

    def plan_pull_requests(self, repo: _Repo, service: _Service) -> None:
        profile = service.profile
        day = self.start.replace(hour=0, minute=0, second=0)
        while day < self.now:
            rate = profile.prs_per_day * (1.0 if day.weekday() < 5 else 0.05)
            for _ in range(self.poisson(rate)):
                start = day + timedelta(hours=profile.work_start_utc) + self.minutes(0, 9 * 60)
                if start < self.start:
                    continue
                pr = self.new_pull_request(repo, service, start)
                if pr.merged_at is not None:
                    self.at(pr.merged_at, "merge", repo, pr)
                else:
                    self.at(pr.created_at, "abandon", repo, pr)
            if self.rng.random() < profile.direct_pushes_per_week / 5 and day.weekday() < 5:
                self.at(
                    self.working(day + self.minutes(0, 24 * 60), service.team),
                    "push",
                    repo,
                    service,
                )
            day += timedelta(days=1)

    def new_pull_request(
        self,
        repo: _Repo,
        service: _Service,
        start: datetime,
        *,
        labels: list[str] | None = None,
        title: str | None = None,
        urgent: bool = False,
    ) -> _PullRequest:
        profile, team = service.profile, service.team
        author = self.rng.choice(_MEMBERS[team])
        if labels is None:
            labels = ["bug"] if self.rng.random() < 0.3 else ["feature"]
        if title is None:
            topic = self.rng.choice(_TOPICS[team])
            verbs = _BUG_VERBS if "bug" in labels else _FEATURE_VERBS
            title = f"{self.rng.choice(verbs)} {topic}"
        if urgent:
            created = start + self.minutes(15, 90)
            ready = None
            first_review = created + self.minutes(5, 30)
            approved = first_review + self.minutes(5, 30)
            merged = approved + self.minutes(2, 20)
            count = 1
        else:
            count = self.rng.randint(*profile.commits)
            created = self.working(start + self.hours(profile.coding), team)
            ready = (
                self.working(created + self.hours(profile.draft), team)
                if self.rng.random() < 0.25
                else None
            )
            first_review = self.working((ready or created) + self.hours(profile.pickup), team)
            approved = self.working(first_review + self.hours(profile.review), team)
            merged = self.working(approved + self.hours(profile.merge), team)
        # Commits: spread between the branch start and the PR opening; a late fix-up after review.
        span = (created - start).total_seconds()
        times = sorted(
            start + timedelta(seconds=round(span * self.rng.random())) for _ in range(count)
        )
        times[0] = start
        if count > 1 and not urgent and self.rng.random() < 0.4 and approved > first_review:
            times[-1] = first_review + timedelta(
                seconds=(approved - first_review).total_seconds() // 2
            )
        merged_at: datetime | None = merged
        closed_at: datetime | None = merged
        if not urgent and self.rng.random() < 0.04:  # abandoned
            merged_at, closed_at = None, first_review + self.hours((2, 72))
        pr = _PullRequest(
            service=service,
            number=0,  # numbered when opened, so numbers follow creation order
            author=author,
            title=title,
            labels=labels,
            branch_start=start,
            commit_times=times,
            created_at=created,
            ready_at=ready,
            first_review_at=first_review,
            approved_at=approved,
            merged_at=merged_at,
            closed_at=closed_at,
            squash=self.rng.random() < profile.squash_share and not urgent,
        )
        self.at(created, "open", repo, pr)
        return pr

    def on_open(self, t: datetime, repo: _Repo, pr: _PullRequest) -> None:
        pr.number = repo.next_number
        repo.next_number += 1

    # -- git ------------------------------------------------------------------------------------

    def files_for(self, repo: _Repo, service: _Service, k: int | None = None) -> list[str] | None:
        if not repo.monorepo:
            return None
        pool = _MONOREPO_FILES[service.name]
        return sorted(self.rng.sample(pool, k or self.rng.randint(1, 3)))

    def commit(
        self,
        repo: _Repo,
        sha: str,
        authored: datetime,
        committed: datetime,
        parents: list[str],
        author: str,
        message: str,
        files: list[str] | None,
    ) -> None:
        event: dict[str, Any] = {
            "type": "commit",
            "id": f"{repo.name}@{sha}",
            "repo": repo.name,
            "sha": sha,
            "authored_at": authored,
            "committed_at": committed,
            "parents": parents,
            "author": author,
            "message": message,
        }
        if files is not None:
            event["files"] = files
        self.emit(event)

    def push_trunk(
        self, repo: _Repo, sha: str, t: datetime, service: str | None, subject: str
    ) -> int:
        repo.times.append(t)
        repo.shas.append(sha)
        repo.touches.append(service)
        repo.subjects[sha] = subject
        return len(repo.shas) - 1

    def head_at(self, repo: _Repo, t: datetime) -> str:
        return repo.shas[max(bisect_right(repo.times, t) - 1, 0)]

    def feature_commits(self, repo: _Repo, pr: _PullRequest) -> list[str]:
        base = self.head_at(repo, pr.branch_start)
        shas: list[str] = []
        for i, t in enumerate(pr.commit_times):
            sha = self.sha()
            if pr.revert_of is not None:
                reverted_sha, subject = pr.revert_of
                message = f'Revert "{subject}"\n\nThis reverts commit {reverted_sha}.'
                files = repo.files.get(reverted_sha)
            else:
                if i == 0:
                    message = pr.title
                elif t > (pr.first_review_at or t):
                    message = "Address review comments"
                else:
                    message = self.rng.choice(
                        ("Add tests", "Wire it up", "Handle edge cases", "WIP")
                    )
                files = self.files_for(repo, pr.service)
            self.commit(repo, sha, t, t, [shas[-1] if shas else base], pr.author, message, files)
            shas.append(sha)
            pr.files.update(files or ())
        return shas

    def on_abandon(self, t: datetime, repo: _Repo, pr: _PullRequest) -> None:
        self.open_pull_request(repo, pr)

    def open_pull_request(self, repo: _Repo, pr: _PullRequest) -> None:
        """A PR still open (or abandoned): its commits and the change without a merge."""
        shas = self.feature_commits(repo, pr)
        self.change(repo, pr, shas, None)

    def change(self, repo: _Repo, pr: _PullRequest, shas: list[str], merge_sha: str | None) -> None:
        event: dict[str, Any] = {
            "type": "change",
            "id": f"{repo.name}#{pr.number}",
            "repo": repo.name,
            "number": pr.number,
            "title": pr.title,
            "author": pr.author,
            "created_at": pr.created_at,
            "base": "main",
            "head": _branch_name(pr),
            "commits": shas,
            "labels": pr.labels,
            # acme's GitHub Enterprise, under a reserved name (RFC 2606): the explain lists link
            # each change to its pull request, as with a real GitHub source.
            "url": f"https://github.acme.example/{repo.name}/pull/{pr.number}",
        }
        for name in ("ready_at", "first_review_at", "approved_at"):
            if getattr(pr, name) is not None:
                event[name] = getattr(pr, name)
        if merge_sha is not None:
            event["merged_at"] = pr.merged_at
            event["merge_sha"] = merge_sha
            if pr.squash:
                event["squash_sha"] = merge_sha
        if pr.closed_at is not None:
            event["closed_at"] = pr.closed_at
        self.emit(event)

    def on_merge(self, t: datetime, repo: _Repo, pr: _PullRequest) -> None:
        merged = max(t, repo.times[-1] + timedelta(minutes=1))
        if merged > self.now:
            pr.merged_at = pr.closed_at = None
            if pr.created_at <= self.now:
                self.open_pull_request(repo, pr)
            return
        pr.merged_at = pr.closed_at = merged
        shas = self.feature_commits(repo, pr)
        files = sorted(pr.files) or None
        head = repo.shas[-1]
        sha = self.sha()
        if pr.squash:
            subject = f"{pr.title} (#{pr.number})"
            message, parents = subject, [head]
        else:
            subject = f"Merge pull request #{pr.number} from acme/{_branch_name(pr)}"
            message, parents = f"{subject}\n\n{pr.title}", [head, shas[-1]]
        self.commit(repo, sha, merged, merged, parents, pr.author, message, files)
        index = self.push_trunk(repo, sha, merged, pr.service.name, subject)
        repo.merged.append((index, pr))
        self.change(repo, pr, shas, sha)
        self.after_trunk_commit(repo, pr.service, sha, merged, files, pr)

    def on_push(self, t: datetime, repo: _Repo, service: _Service) -> None:
        t = max(t, repo.times[-1] + timedelta(minutes=1))
        sha = self.sha()
        subject = self.rng.choice(_CHORES)
        author = self.rng.choice(_MEMBERS[service.team])
        files = self.files_for(repo, service, 1)
        self.commit(repo, sha, t - self.minutes(1, 30), t, [repo.shas[-1]], author, subject, files)
        self.push_trunk(repo, sha, t, service.name, subject)
        self.after_trunk_commit(repo, service, sha, t, files, None)

    def after_trunk_commit(
        self,
        repo: _Repo,
        service: _Service,
        sha: str,
        t: datetime,
        files: list[str] | None,
        pr: _PullRequest | None,
    ) -> None:
        urgent = pr is not None and pr.expedite
        repo.files[sha] = files
        run = self.ci(repo, sha, t, never_fail=urgent)
        if run["status"] != "success":
            return
        if service.kind == "infra":
            self.at(run["finished_at"], "promote", repo, service, sha)
        elif urgent:
            assert pr is not None
            self.at(run["finished_at"], "expedite", repo, service, sha, pr)
        elif service.profile.release_every is None:
            self.at(run["finished_at"], "candidate", repo, service)

    def ci(self, repo: _Repo, sha: str, t: datetime, *, never_fail: bool = False) -> dict[str, Any]:
        """CI on a trunk commit: build then test."""
        slow = repo.services[0].team == "legacy-core"
        started = t + self.minutes(0.3, 3)
        build_end = started + (self.minutes(6, 18) if slow else self.minutes(2, 6))
        test_end = build_end + (self.minutes(15, 45) if slow else self.minutes(3, 10))
        failed = not never_fail and self.rng.random() < repo.services[0].profile.ci_failure
        status = "failure" if failed else "success"
        run = self.pipeline(
            repo,
            sha,
            "ci",
            "push",
            t,
            [("build", started, build_end, "success"), ("test", build_end, test_end, status)],
        )
        repo.pipelines[sha] = run
        if not failed:
            repo.green[sha] = test_end
        return run

    def pipeline(
        self,
        repo: _Repo,
        sha: str,
        name: str,
        trigger: str,
        created: datetime,
        jobs: list[tuple[str, datetime, datetime, str]],
    ) -> dict[str, Any]:
        number = repo.next_pipeline
        repo.next_pipeline += 1
        event = {
            "type": "pipeline_run",
            "id": f"{repo.name}/pipelines/{number}",
            "repo": repo.name,
            "sha": sha,
            "name": name,
            "branch": "main",
            "trigger": trigger,
            "created_at": created,
            "started_at": jobs[0][1],
            "finished_at": jobs[-1][2],
            "status": jobs[-1][3],
            "jobs": [
                {"name": n, "started_at": s, "finished_at": f, "status": st} for n, s, f, st in jobs
            ],
        }
        return self.emit(event)
