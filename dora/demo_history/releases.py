"""The demo's releases and incidents: trains, rollouts region by region, remedies, incidents."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dora.demo_history.profiles import _INCIDENT_TITLES, _SCRIPTED_INCIDENTS, _TOPICS
from dora.demo_history.state import _PullRequest, _Repo, _Service


class _Releases:
    """Release candidates, rollouts and remedies (a mixin of dora.demo._Simulation)."""

    # -- releases -------------------------------------------------------------------------------

    def newest_green(self, repo: _Repo, service: _Service, t: datetime) -> int | None:
        """Trunk index of the newest commit touching the service, green by `t`, not yet shipped."""
        for index in range(len(repo.shas) - 1, service.released_index, -1):
            sha = repo.shas[index]
            touched = repo.touches[index]
            if (touched is None or touched == service.name) and repo.green.get(sha, self.now) <= t:
                return index
        return None

    def on_candidate(
        self, t: datetime, repo: _Repo, service: _Service, requeued: bool = False
    ) -> None:
        """Continuous delivery: ship the newest green commit unless a rollout is under way."""
        if requeued:
            service.deferred = False
        if t < service.hold_until:
            if not service.deferred:
                service.deferred = True
                self.at(service.hold_until, "candidate", repo, service, True)
            return
        index = self.newest_green(repo, service, t)
        if index is None:
            return
        run = repo.pipelines[repo.shas[index]]
        self.rollout(repo, service, index, t, run)

    def on_train(self, t: datetime, repo: _Repo, service: _Service) -> None:
        """A release train: the newest green commit leaves on schedule, unless one is under way."""
        if t < service.hold_until:
            return
        index = self.newest_green(repo, service, t)
        if index is None:
            return
        sha = repo.shas[index]
        build_end = t + self.minutes(4, 15)
        test_end = build_end + self.minutes(5, 25)
        run = self.pipeline(
            repo,
            sha,
            f"release-{service.name}",
            "schedule",
            t,
            [("build", t, build_end, "success"), ("test", build_end, test_end, "success")],
        )
        self.rollout(repo, service, index, test_end, run)

    def on_expedite(
        self, t: datetime, repo: _Repo, service: _Service, sha: str, pr: _PullRequest
    ) -> None:
        """A hotfix or revert ships on its own, straight away."""
        index = repo.shas.index(sha)
        self.rollout(repo, service, index, t, repo.pipelines[sha], pr=pr)

    def deploy_job(self, run: dict[str, Any], start: datetime, end: datetime, status: str) -> None:
        run["jobs"].append(
            {"name": "deploy", "started_at": start, "finished_at": end, "status": status}
        )
        run["finished_at"], run["status"] = end, status

    def deployment(
        self,
        service: _Service,
        environment: str,
        target: str,
        sha: str,
        version: str,
        started: datetime,
        finished: datetime,
        *,
        status: str = "success",
        run: dict[str, Any] | None = None,
        trigger: str = "automated",
        remediates: str | None = None,
    ) -> dict[str, Any]:
        service.deployments += 1
        event: dict[str, Any] = {
            "type": "deployment",
            "id": f"{service.name}/{environment}/{target or 'default'}/{service.deployments}",
            "service": service.name,
            "environment": environment,
            "sha": sha,
            "version": version,
            "repo": service.repo,
            "status": status,
            "started_at": started,
            "finished_at": finished,
            "trigger": trigger,
        }
        if target:
            event["target"] = target
        if service.kind == "app":
            event["config_version"] = f"cfg-{service.config_version}"
        if run is not None:
            event["pipeline_run"] = run["id"]
        if remediates:
            event["remediates"] = remediates
        return self.emit(event)

    def rollout(
        self,
        repo: _Repo,
        service: _Service,
        index: int,
        t: datetime,
        run: dict[str, Any],
        *,
        pr: _PullRequest | None = None,
    ) -> None:
        """Staging, a soak, then each production target in turn; some releases go bad."""
        profile = service.profile
        sha = repo.shas[index]
        urgent = pr is not None  # a hotfix or a revert, shipped on its own
        service.released_index = max(service.released_index, index)
        if pr is not None and "hotfix" in pr.labels:
            service.patch += 1
        else:
            service.minor, service.patch = service.minor + 1, 0
        version = service.version()
        # Staging; a failed deployment there is retried, or the release is dropped.
        end = t + self.minutes(2, 8)
        if not urgent and self.rng.random() < profile.deploy_failure * 0.6:
            self.deployment(service, "staging", "", sha, version, t, end, status="failure", run=run)
            if self.rng.random() < 0.5:
                self.deploy_job(run, t, end, "failure")
                service.hold_until = end + self.minutes(10, 40)
                return
            t = end + self.minutes(10, 40)
            end = t + self.minutes(2, 8)
        self.deployment(service, "staging", "", sha, version, t, end, run=run)
        self.deploy_job(run, t, end, "success")
        service.staging = (sha, version)

        forced = None
        if not urgent and service.forced and service.forced[0][0] <= t:
            forced = service.forced.pop(0)
        bad_share = profile.bad_release * (0.3 if urgent else 1.0)
        bad = forced is not None or self.rng.random() < bad_share
        remedy = forced[1] if forced else self.pick(profile.remedies) if bad else "none"
        halts = remedy in ("rollback", "hotfix", "revert")

        cursor = end + (self.minutes(10, 30) if urgent else self.hours(profile.soak))
        if not urgent and profile.release_every is not None:
            cursor = self.working(cursor, service.team)
        shipped: list[dict[str, Any]] = []
        detect_at: datetime | None = None
        for position, target in enumerate(service.targets):
            if position:
                cursor += self.minutes(3, 15) if urgent else self.hours(profile.region_lag)
            if halts and detect_at is not None and cursor > detect_at:
                break  # the rollout is stopped once the damage shows
            start, finish = cursor, cursor + self.minutes(3, 12)
            if self.rng.random() < profile.deploy_failure:  # never went live; retried
                self.deployment(
                    service, "production", target, sha, version, start, finish, status="failure"
                )
                start = finish + self.minutes(10, 45)
                finish = start + self.minutes(3, 12)
                if halts and detect_at is not None and start > detect_at:
                    break
            remediates = pr.remediates if pr is not None else None
            shipped.append(
                self.deployment(
                    service,
                    "production",
                    target,
                    sha,
                    version,
                    start,
                    finish,
                    run=run,
                    remediates=remediates,
                )  # fmt: skip
            )
            service.live[target] = (sha, version)
            cursor = finish
            if bad and detect_at is None:
                detect_at = finish + self.hours(profile.detect)
        service.hold_until = cursor + self.minutes(5, 20)
        if pr is not None and pr.incident is not None and "mitigated_at" not in pr.incident:
            self.close_incident(pr.incident, shipped[0]["finished_at"])
        if not bad or detect_at is None:
            service.last_good = (sha, version)
            return
        if forced is not None:
            link, severity, remediates_flag = forced[2], forced[3], forced[4]
        else:
            link = self.pick((("deployment", 0.35), ("version", 0.25), ("none", 0.4)))
            severity = self.pick((("sev1", 0.15), ("sev2", 0.45), ("sev3", 0.4)))
            remediates_flag = self.rng.random() < 0.5
        incident = None
        if link != "none" or remedy in ("none", "config") or self.rng.random() < 0.85:
            incident = self.release_incident(service, shipped, detect_at, link, severity)
        self.remediate(repo, service, index, shipped, detect_at, remedy, incident)
        if incident is not None and remediates_flag and service.pending_fix is not None:
            service.pending_fix.remediates = incident["id"]
        service.pending_fix = None

    def release_incident(
        self,
        service: _Service,
        shipped: list[dict[str, Any]],
        detect_at: datetime,
        link: str,
        severity: str,
    ) -> dict[str, Any]:
        """The incident a bad release causes; linked to it explicitly, or only by time."""
        first_live: datetime = shipped[0]["finished_at"]
        lead = (detect_at - first_live).total_seconds()
        incident = self.incident(
            service,
            detect_at + self.minutes(0, 10),
            severity,
            impact_started=first_live + timedelta(seconds=round(lead * self.rng.uniform(0, 0.5))),
        )
        if link == "deployment":
            incident["caused_by"] = {"deployment": shipped[0]["id"]}
            incident["cause"] = "change"
        elif link == "version":
            incident["caused_by"] = {"version": shipped[0]["version"]}
            incident["cause"] = "change"
        return incident

    def remediate(
        self,
        repo: _Repo,
        service: _Service,
        index: int,
        shipped: list[dict[str, Any]],
        detect_at: datetime,
        remedy: str,
        incident: dict[str, Any] | None,
    ) -> None:
        """Roll back, redeploy with a config change, or open a hotfix or revert PR."""
        mitigated: datetime | None = None
        # Remedies start once the deployments under way have finished.
        settled = max(d["finished_at"] for d in shipped) + self.minutes(2, 6)
        if remedy == "rollback":  # every target back to the last good release
            assert service.last_good is not None
            t = max(detect_at + self.minutes(10, 40), settled)
            for target in service.targets:
                if service.live[target] == service.last_good:
                    continue
                mitigated = t + self.minutes(3, 8)
                sha, version = service.last_good
                self.deployment(
                    service, "production", target, sha, version, t, mitigated, trigger="manual"
                )
                service.live[target] = service.last_good
                t = mitigated + self.minutes(1, 5)
            service.hold_until = t + self.hours((1, 24))
        elif remedy == "config":
            service.config_version += 1
            t = max(detect_at + self.minutes(15, 45), settled)
            for event in shipped:
                mitigated = t + self.minutes(2, 5)
                self.deployment(
                    service, "production", event.get("target", ""), event["sha"],
                    event["version"], t, mitigated,
                )  # fmt: skip
                t = mitigated + self.minutes(1, 4)
            service.hold_until = max(service.hold_until, t)
        elif remedy in ("hotfix", "revert"):
            pr = self.remedy_pull_request(repo, service, index, detect_at, remedy)
            if pr is None:  # only direct pushes shipped: nothing to revert, fix forward
                remedy = "none"
            else:
                assert pr.merged_at is not None
                pr.expedite, pr.incident = True, incident
                service.pending_fix = pr
                self.at(pr.merged_at, "merge", repo, pr)
                service.hold_until = pr.merged_at + timedelta(hours=2)
        if remedy in ("none", "config"):  # the release stays
            service.last_good = (shipped[0]["sha"], shipped[0]["version"])
        if remedy == "none":
            mitigated = detect_at + self.hours((1, 8))
        if incident is not None and mitigated is not None:
            self.close_incident(incident, mitigated)

    def remedy_pull_request(
        self, repo: _Repo, service: _Service, index: int, detect_at: datetime, remedy: str
    ) -> _PullRequest | None:
        start = detect_at + self.minutes(5, 45)
        if remedy == "hotfix":
            topic = self.rng.choice(_TOPICS[service.team])
            return self.new_pull_request(
                repo,
                service,
                start,
                labels=["bug", "hotfix"],
                title=f"Hotfix: {topic}",
                urgent=True,
            )
        # Revert the newest PR this release shipped for the service.
        for trunk_index, merged in reversed(repo.merged):
            if trunk_index <= index and merged.service is service and merged.revert_of is None:
                reverted_sha = repo.shas[trunk_index]
                subject = repo.subjects[reverted_sha]
                pr = self.new_pull_request(
                    repo,
                    service,
                    start,
                    labels=["bug"],
                    title=f'Revert "{merged.title}"',
                    urgent=True,
                )
                pr.revert_of = (reverted_sha, subject)
                return pr
        return None

    def on_config_change(self, t: datetime, repo: _Repo, service: _Service) -> None:
        """A configuration-only redeploy: same sha and version, a new config version."""
        mixed = len(set(service.live.values())) > 1
        if t < service.hold_until or service.staging is None or mixed:
            return
        service.config_version += 1
        sha, version = service.staging
        self.deployment(service, "staging", "", sha, version, t, t + self.minutes(2, 5))
        t += self.minutes(30, 90)
        for target in service.targets:
            sha, version = service.live[target]
            self.deployment(service, "production", target, sha, version, t, t + self.minutes(2, 5))
            t += self.minutes(5, 15)
        service.hold_until = t


class _Incidents:
    """Incidents, released or not (a mixin of dora.demo._Simulation)."""

    # -- incidents ------------------------------------------------------------------------------

    def incident(
        self,
        service: _Service,
        opened: datetime,
        severity: str,
        *,
        impact_started: datetime | None = None,
        title: str | None = None,
    ) -> dict[str, Any]:
        number = self.next_incident
        self.next_incident += 1
        event: dict[str, Any] = {
            "type": "incident",
            "id": f"INC-{number:04d}",
            "service": service.name,
            "environment": "production",
            "title": title or self.rng.choice(_INCIDENT_TITLES).format(service=service.name),
            "severity": severity,
            "opened_at": opened,
            "impact_started_at": impact_started or opened - self.minutes(2, 30),
        }
        return self.emit(event)

    def close_incident(self, incident: dict[str, Any], mitigated: datetime) -> None:
        incident["mitigated_at"] = max(mitigated, incident["opened_at"])
        incident["resolved_at"] = incident["mitigated_at"] + self.hours((0.5, 30))

    def plan_incidents(self) -> None:
        """Incidents unrelated to any release (some land near one anyway), and the scripted ones."""
        for service in self.services.values():
            weeks = (self.now - self.start).days / 7
            for _ in range(self.poisson(service.profile.incidents_per_week * weeks)):
                opened = self.start + (self.now - self.start) * self.rng.random()
                incident = self.incident(service, opened, self.pick((("sev2", 0.3), ("sev3", 0.7))))
                if self.rng.random() < 0.1:
                    incident["cause"] = "external"
                self.close_incident(incident, opened + self.hours((0.3, 6)))
        for name, hours_ago, cause, severity, title, resolved_after in _SCRIPTED_INCIDENTS:
            opened = self.now - timedelta(hours=hours_ago)
            incident = self.incident(self.services[name], opened, severity, title=title)
            if cause:
                incident["cause"] = cause
            if resolved_after is not None:
                incident["mitigated_at"] = opened + timedelta(hours=resolved_after * 0.6)
                incident["resolved_at"] = opened + timedelta(hours=resolved_after)
