"""The demo's infrastructure story: stacks planned and applied per environment and region."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dora.demo_history.profiles import PRODUCTION_REGIONS, STALE_ENVIRONMENT, STALE_FOR, STALE_STACK
from dora.demo_history.state import _Instance, _Repo, _Service, _version_key


class _Infrastructure:
    """Stack plans, applies and their gaps (a mixin of dora.demo._Simulation)."""

    # -- infrastructure -------------------------------------------------------------------------

    def plan_infra(self, repo: _Repo) -> None:
        """A stack: its instances, the versions applied as the window opens, and the queue."""
        stack = repo.services[0]
        self.trunk_root(repo)
        self.instances = {
            (environment, target): _Instance(stack, environment, target)
            for environment, targets in (
                ("development", ("",)),
                ("staging", ("",)),
                ("production", PRODUCTION_REGIONS),
            )
            for target in targets
        }
        self.broken_at = self.now - STALE_FOR if stack.name == STALE_STACK else None
        stack.promoted = (repo.shas[0], stack.version())
        for instance in self.instances.values():
            t = self.start - timedelta(days=2) + self.minutes(0, 120)
            if self.broken_at is not None and instance.environment == STALE_ENVIRONMENT:
                t = min(t, self.broken_at - timedelta(days=1))
            self.apply(instance, t, *stack.promoted, "change", forced_status="success")
        self.plan_pull_requests(repo, stack)
        # Nightly plans in staging and production; k8s-platform also reconciles every Sunday.
        day = self.start.replace(hour=2, minute=0, second=0)
        while day < self.now:
            for instance in self.instances.values():
                if instance.environment == "development":
                    continue
                self.at(day + self.minutes(0, 40), "plan", instance)
                if stack.name == "k8s-platform" and day.weekday() == 6:
                    self.at(day + timedelta(hours=1) + self.minutes(0, 30), "reconcile", instance)
            day += timedelta(days=1)
        if stack.name == "k8s-platform":  # the development cluster is applied by hand, now and then
            development = self.instances[("development", "")]
            t = self.start + timedelta(days=self.rng.uniform(0, 5))
            while t < self.now:
                self.at(self.working(t, stack.team), "manual_apply", development)
                t += timedelta(days=self.rng.choice((1, 2, 3, 5, 8, 12, 18, 26, 33, 40)))
        if self.broken_at is not None and self.broken_at > self.start:
            self.at(self.broken_at, "break", self.instances[(STALE_ENVIRONMENT, "")])

    def abandoned(self, instance: _Instance, t: datetime) -> bool:
        """The stale instance: nobody applies it once its pipeline broke."""
        return (
            self.broken_at is not None
            and instance.environment == STALE_ENVIRONMENT
            and t >= self.broken_at
        )

    def gap_failure(self, instance: _Instance, t: datetime) -> float:
        """Longer gaps since the last run fail more often (drift, expired credentials, churn)."""
        gap = t - instance.last_run if instance.last_run else timedelta(0)
        if gap <= timedelta(days=1):
            return 0.03
        if gap <= timedelta(days=7):
            return 0.08
        if gap <= timedelta(days=30):
            return 0.25
        return 0.5

    def automation_run(
        self,
        instance: _Instance,
        action: str,
        started: datetime,
        finished: datetime,
        status: str,
        trigger: str,
        version: str | None,
        drift: bool | None = None,
        sha: str | None = None,
    ) -> None:
        """A run of the stack's automation; an apply naming its sha is also the stack's
        deployment of that sha (dora.intake.records.apply_deployment): no deployment event is
        sent."""
        instance.runs += 1
        target = instance.target or "default"
        event: dict[str, Any] = {
            "type": "automation_run",
            "id": f"{instance.stack.name}/{instance.environment}/{target}/{instance.runs}",
            "service": instance.stack.name,
            "environment": instance.environment,
            "action": action,
            "status": status,
            "started_at": started,
            "finished_at": finished,
            "trigger": trigger,
        }
        if instance.target:
            event["target"] = instance.target
        if version:
            event["version"] = version
        if sha:
            event["sha"] = sha
            event["repo"] = instance.stack.repo
        if drift is not None:
            event["drift_detected"] = drift
        instance.last_run = finished
        self.emit(event)

    def apply(
        self,
        instance: _Instance,
        t: datetime,
        sha: str,
        version: str,
        trigger: str,
        *,
        forced_status: str | None = None,
        attempt: int = 1,
    ) -> None:
        """An apply of a new stack version: an automation run naming its sha, which is the
        stack's deployment of it."""
        failed = self.rng.random() < self.gap_failure(instance, t)
        status = forced_status or ("failure" if failed else "success")
        end = t + self.minutes(4, 25)
        self.automation_run(instance, "apply", t, end, status, trigger, version, sha=sha)
        if status == "success":
            instance.version = (sha, version)
        elif attempt < 3 and forced_status is None:
            self.at(end + self.minutes(30, 120), "retry", instance, sha, version, attempt + 1)

    def on_retry(
        self, t: datetime, instance: _Instance, sha: str, version: str, attempt: int
    ) -> None:
        """Someone re-runs a failed apply by hand, unless a newer version got there first."""
        if self.abandoned(instance, t) or self.superseded(instance, version):
            return
        self.apply(instance, t, sha, version, "manual", attempt=attempt)

    def on_promote(self, t: datetime, repo: _Repo, stack: _Service, sha: str) -> None:
        """A merged stack change: development at once, staging after a plan, production next day."""
        stack.minor += 1
        stack.promoted = (sha, stack.version())
        if stack.name != "k8s-platform":
            development = self.instances[("development", "")]
            self.at(
                t + self.minutes(3, 15), "apply_version", development, *stack.promoted, "change"
            )
        staging = self.instances[("staging", "")]
        staging_at = t + self.hours((1, 3))
        self.at(staging_at - self.minutes(10, 30), "plan", staging, "change")
        self.at(staging_at, "apply_version", staging, *stack.promoted, "change")
        if not stack.deferred:  # one production rollout at a time, of the newest version
            stack.deferred = True
            start = max(self.working(t + timedelta(hours=16), stack.team), stack.hold_until)
            self.at(start, "production", stack)

    def on_production(self, t: datetime, stack: _Service) -> None:
        """The next working morning: plan and apply the newest version region by region."""
        assert stack.promoted is not None
        stack.deferred = False
        # With staging broken, the team applies production by hand.
        trigger = "manual" if self.broken_at is not None and t >= self.broken_at else "change"
        cursor = t
        for region in PRODUCTION_REGIONS:
            instance = self.instances[("production", region)]
            self.at(cursor - self.minutes(5, 20), "plan", instance, trigger)
            self.at(cursor, "apply_version", instance, *stack.promoted, trigger)
            cursor += self.hours(stack.profile.region_lag)
        stack.hold_until = cursor + timedelta(hours=1)

    def on_apply_version(
        self, t: datetime, instance: _Instance, sha: str, version: str, trigger: str
    ) -> None:
        """A scheduled apply of a merged version, unless a newer one got there first."""
        if self.abandoned(instance, t) or self.superseded(instance, version):
            return
        self.apply(instance, t, sha, version, trigger)

    def superseded(self, instance: _Instance, version: str) -> bool:
        return instance.version is not None and _version_key(instance.version[1]) >= _version_key(
            version
        )

    def on_plan(self, t: datetime, instance: _Instance, trigger: str = "schedule") -> None:
        """A plan: changes nothing, but tells whether the stack drifted from its code."""
        failed = self.rng.random() < self.gap_failure(instance, t) / 3
        drift = None
        if not failed:
            drift = self.rng.random() < (0.7 if self.abandoned(instance, t) else 0.04)
        version = instance.version[1] if instance.version else None
        end = t + self.minutes(1, 6)
        status = "failure" if failed else "success"
        self.automation_run(instance, "plan", t, end, status, trigger, version, drift)

    def on_reconcile(self, t: datetime, instance: _Instance) -> None:
        """A scheduled apply of the version already there: undoes drift, ships nothing new."""
        if instance.version is None or self.abandoned(instance, t):
            return
        failed = self.rng.random() < self.gap_failure(instance, t)
        end = t + self.minutes(3, 15)
        status = "failure" if failed else "success"
        sha, version = instance.version
        self.automation_run(instance, "apply", t, end, status, "schedule", version, sha=sha)

    def on_manual_apply(self, t: datetime, instance: _Instance) -> None:
        """An apply by hand of the newest stack version (the k8s-platform development cluster)."""
        stack = instance.stack
        assert stack.promoted is not None
        if instance.version == stack.promoted:
            failed = self.rng.random() < self.gap_failure(instance, t)
            end = t + self.minutes(3, 20)
            status = "failure" if failed else "success"
            sha, version = stack.promoted
            self.automation_run(instance, "apply", t, end, status, "manual", version, sha=sha)
        else:
            self.apply(instance, t, *stack.promoted, "manual", attempt=3)

    def on_break(self, t: datetime, instance: _Instance) -> None:
        """network-stack's staging apply starts failing (a provider upgrade) and is given up on."""
        assert instance.stack.promoted is not None
        for delay, trigger in ((0, "change"), (2, "manual"), (26, "manual")):
            self.apply(
                instance,
                t + timedelta(hours=delay),
                *instance.stack.promoted,
                trigger,
                forced_status="failure",
            )
