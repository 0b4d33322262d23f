"""The checks of CONTRACT §5: each takes the facts and its policy and returns (passed, detail)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from dora.gates.facts import AutomationInstance, OutOfBandChange, PromotionFacts
from dora.gates.policy import DEFAULT_SEVERITY, STACKS_ALL, CheckPolicy
from dora.gates.words import _duration, _listed, _when

# ---------------------------------------------------------------------------------------------
# The checks: each returns (passed, detail)
# ---------------------------------------------------------------------------------------------


def _version_in_source(facts: PromotionFacts) -> dict[str, datetime]:
    """Per source target, the first successful deployment of the version there."""
    first: dict[str, datetime] = {}
    for deployment in facts.source.deployments:
        if deployment.is_version(facts.version) and deployment.target not in first:
            first[deployment.target] = deployment.finished_at
    return first


def _targets_phrase(targets: Sequence[str], env: str) -> str:
    """Target names; a deployment naming no target is the environment as a whole."""
    return _listed([t or env for t in targets])


def check_version_verified_in_source(
    facts: PromotionFacts, setting: CheckPolicy
) -> tuple[bool, str]:
    """A successful rollout of the version reached every active target of `from`, not failed."""
    v, env = facts.version, facts.source.name
    first = _version_in_source(facts)
    if not first:
        return False, f"{v} was never deployed successfully to {env}"
    active = facts.source.active_targets(facts.now) or sorted(first)
    reached = [t for t in active if t in first]
    missing = [t for t in active if t not in first]
    if missing:
        return False, (
            f"{v} reached {len(reached)}/{len(active)} {env} targets; "
            f"missing {_targets_phrase(missing, env)}"
        )
    if facts.failures:
        marks = sorted({f.status for f in facts.failures})
        causes = sorted({c for f in facts.failures for c in f.causes})
        why = f" ({', '.join(causes)})" if causes else ""
        return False, f"{v}'s rollout in {env} was marked failed, {'/'.join(marks)}{why}"
    since = max(first[t] for t in active)
    return True, f"live in {env} on {len(active)}/{len(active)} targets since {_when(since)}"


def check_source_current(facts: PromotionFacts, setting: CheckPolicy) -> tuple[bool, str]:
    """`from` still runs the version: nothing else has been deployed there since."""
    v, env = facts.version, facts.source.name
    live = facts.source.latest()
    first = _version_in_source(facts)
    if not first:
        return False, f"{v} was never deployed successfully to {env}"
    active = facts.source.active_targets(facts.now) or sorted(live)
    moved = sorted(
        (live[t] for t in active if t in live and not live[t].is_version(v)),
        key=lambda d: (d.finished_at, d.target),
    )
    if moved:
        newest = moved[-1]
        others = sorted({d.label for d in moved})
        where = _targets_phrase([d.target for d in moved], env)
        return False, (
            f"{env} moved on from {v}: {', '.join(others)} deployed to {where} "
            f"(latest {_when(newest.finished_at)})"
        )
    running = [t for t in active if t in live]
    return True, f"{env} still runs {v} on {len(running)}/{len(active)} targets"


def _live_since(facts: PromotionFacts) -> tuple[dict[str, datetime], list[str]]:
    """Per source target currently on the version, when its current stretch on it began; and
    the active targets that are not on it."""
    v = facts.version
    since: dict[str, datetime] = {}
    for deployment in facts.source.deployments:  # oldest first
        if deployment.is_version(v):
            since.setdefault(deployment.target, deployment.finished_at)
        else:
            since.pop(deployment.target, None)
    active = facts.source.active_targets(facts.now) or sorted(since)
    return since, [t for t in active if t not in since]


def check_soak_time(facts: PromotionFacts, setting: CheckPolicy) -> tuple[bool, str]:
    """The version has been live in `from` (on every target that runs it) at least min_soak."""
    v, env = facts.version, facts.source.name
    since, _ = _live_since(facts)
    if not since:
        return False, f"{v} is not live in {env}"
    start = max(since.values())
    soaked = facts.now - start
    need = _duration(setting.min_soak)
    if soaked < setting.min_soak:
        return False, (
            f"{v} live in {env} for {_duration(soaked)} (since {_when(start)}); needs {need}"
        )
    return True, f"{v} live in {env} for {_duration(soaked)} (since {_when(start)}), min {need}"


def _own_instances(facts: PromotionFacts) -> list[AutomationInstance]:
    """The service's own automation instances in `from`: its runs' instances and its deploy
    pipeline on each active target of `from`, whose latest successful deployment resets the lag
    as a successful apply resets a stack's (METRICS §4.3); one instance per target."""
    env = facts.source.name
    own = {
        i.target: i for i in facts.automation if i.environment == env and i.service == facts.service
    }
    live = facts.source.latest()
    for target in facts.source.active_targets(facts.now):
        deployed, kept = live.get(target), own.get(target)
        if deployed is None:  # a configured target it never deployed to: no pipeline runs there
            continue
        if kept is None or (kept.last_success_at or deployed.finished_at) <= deployed.finished_at:
            own[target] = replace(
                kept or AutomationInstance(facts.service, env, target),
                last_success_at=deployed.finished_at,
                last_success_action="deployment",
            )
    return [own[target] for target in sorted(own)]


def _judged_stacks(
    facts: PromotionFacts, setting: CheckPolicy, env: str
) -> tuple[list[AutomationInstance], str]:
    """The infra stacks' instances in `env` a check judges, and a phrase naming which: those
    the service depends on (transitively), or every stack there with `stacks: all`."""
    stacks = [
        i
        for i in facts.automation
        if i.infra and i.environment == env and i.service != facts.service
    ]
    if setting.stacks == STACKS_ALL:
        names = sorted({i.service for i in stacks})
        return stacks, (
            f"every infra stack of {env} (stacks: all): {', '.join(names)}"
            if names
            else f"every infra stack of {env} (stacks: all): none ran there"
        )
    judged = [i for i in stacks if i.service in facts.stacks]
    if not facts.stacks:
        return judged, f"no infra stack ({facts.service} declares no depends_on)"
    ran = {i.service for i in judged}
    named = [name if name in ran else f"{name} (no runs in {env})" for name in sorted(facts.stacks)]
    return judged, f"infra stack{'s' if len(named) != 1 else ''} {', '.join(named)} (depends_on)"


def check_source_fresh(facts: PromotionFacts, setting: CheckPolicy) -> tuple[bool, str]:
    """Every automation instance of `from` the service rests on succeeded within stale_after:
    its own deploy pipeline (and runs) and the infra stacks it depends on, transitively, or
    every infra stack of `from` with `stacks: all`."""
    env = facts.source.name
    limit = _duration(setting.stale_after)
    own = _own_instances(facts)
    stacks, stacks_phrase = _judged_stacks(facts, setting, env)
    judged = (
        f"judged {facts.service}'s deploy pipeline in {env} "
        f"({len(own)} instance{'s' if len(own) != 1 else ''}) and {stacks_phrase}"
        if own
        else f"judged {stacks_phrase}; {facts.service} has no deploy pipeline runs in {env}"
    )
    instances = own + stacks
    if not instances:
        return True, f"no automation instance to judge in {env}: {judged}"
    stale = []
    for instance in instances:
        if instance.last_success_at is None:
            stale.append((timedelta.max, f"{instance.name}: never ran successfully"))
            continue
        age = facts.now - instance.last_success_at
        if age > setting.stale_after:
            action = instance.last_success_action or "run"
            stale.append(
                (
                    age,
                    f"{instance.name}: last successful {action} {_duration(age)} ago "
                    f"({_when(instance.last_success_at)})",
                )
            )
    if stale:
        stale.sort(key=lambda pair: pair[0], reverse=True)
        return False, f"stale after {limit}: {_listed([text for _, text in stale])}; {judged}"
    oldest = min(instances, key=lambda i: i.last_success_at or facts.now)
    age = facts.now - (oldest.last_success_at or facts.now)
    return True, (
        f"{len(instances)} automation instance{'s' if len(instances) != 1 else ''} in {env} "
        f"ran within {limit} (oldest {_duration(age)} ago: {oldest.name}); {judged}"
    )


_SEVERITY_WORDS = {
    "critical": 1,
    "high": 2,
    "major": 2,
    "medium": 3,
    "moderate": 3,
    "minor": 4,
    "low": 4,
    "info": 5,
    "informational": 5,
}
_SEVERITY_NUMBER = re.compile(r"^(?:sev|s|p|priority|severity)?[\s_-]*([0-9])$")


def severity_rank(text: str) -> int | None:
    """1 for the most severe: sev1, SEV-1, S1, P1, 1, critical; None when unrecognised."""
    cleaned = text.strip().lower()
    if cleaned in _SEVERITY_WORDS:
        return _SEVERITY_WORDS[cleaned]
    match = _SEVERITY_NUMBER.match(cleaned)
    return int(match.group(1)) if match else None


def check_no_open_incidents(facts: PromotionFacts, setting: CheckPolicy) -> tuple[bool, str]:
    """No unresolved incident on the service in `from` or `to` at or above `severity`.

    An incident naming no environment may be in either, and one whose severity is not
    recognised counts as severe: the gate fails closed.
    """
    threshold = severity_rank(setting.severity)
    if threshold is None:
        threshold = severity_rank(DEFAULT_SEVERITY) or 2
    envs = {facts.source.name, facts.destination.name}
    relevant = [i for i in facts.incidents if not i.environment or i.environment in envs]
    blocking = []
    for incident in relevant:
        rank = severity_rank(incident.severity)
        if rank is None or rank <= threshold:
            blocking.append(incident)
    if blocking:
        blocking.sort(key=lambda i: (severity_rank(i.severity) or 0, i.id))
        described = [
            f"{i.id} ({i.severity or 'no severity'}, {i.environment or 'no environment'}"
            f"{', opened ' + _when(i.opened_at) if i.opened_at else ''})"
            for i in blocking
        ]
        return False, (
            f"open incident{'s' if len(blocking) > 1 else ''} at or above {setting.severity} "
            f"on {facts.service}: {_listed(described)}"
        )
    if relevant:
        return True, (
            f"{len(relevant)} open incident{'s' if len(relevant) != 1 else ''} on "
            f"{facts.service}, all below {setting.severity}"
        )
    where = f"{facts.source.name} or {facts.destination.name}"
    return True, f"no open incident on {facts.service} in {where}"


def check_target_rollout_complete(facts: PromotionFacts, setting: CheckPolicy) -> tuple[bool, str]:
    """`to` is not mid-rollout: the service's version spread there is at most max_spread."""
    env = facts.destination.name
    live = facts.destination.latest()
    active = [t for t in facts.destination.active_targets(facts.now) if t in live]
    if not active:
        return True, f"{facts.service} has no live version in {env} yet"
    by_version: dict[str, list[str]] = {}
    for target in active:
        by_version.setdefault(live[target].label, []).append(target)
    spread = len(by_version)
    if spread > setting.max_spread:
        parts = [
            f"{label} on {_targets_phrase(targets, env)}"
            for label, targets in sorted(by_version.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        ]
        return False, (
            f"{env} is mid-rollout: {spread} versions across {len(active)} targets "
            f"({'; '.join(parts)})"
        )
    versions = ", ".join(sorted(by_version))
    return True, f"{env} runs {versions} on {len(active)}/{len(active)} targets"


def _stack_versions(instances: Iterable[AutomationInstance]) -> dict[str, set[str]]:
    versions: dict[str, set[str]] = {}
    for instance in instances:
        if instance.version:
            versions.setdefault(instance.service, set()).add(instance.version)
    return versions


def check_infra_parity(facts: PromotionFacts, setting: CheckPolicy) -> tuple[bool, str]:
    """The infra stacks the service depends on (every stack with `stacks: all`) run the same
    versions in `from` as in `to`."""
    source_stacks, phrase = _judged_stacks(facts, setting, facts.source.name)
    destination_stacks, _ = _judged_stacks(facts, setting, facts.destination.name)
    source = _stack_versions(source_stacks)
    destination = _stack_versions(destination_stacks)
    shared = sorted(set(source) & set(destination))
    if not shared:
        return True, (
            f"no infra stack with a known version in both {facts.source.name} "
            f"and {facts.destination.name}; judged {phrase}"
        )
    differ = [s for s in shared if source[s] != destination[s]]
    if differ:
        described = [
            f"{s} {facts.source.name} {'/'.join(sorted(source[s]))}, "
            f"{facts.destination.name} {'/'.join(sorted(destination[s]))}"
            for s in differ
        ]
        return False, f"infra versions differ: {_listed(described)}; judged {phrase}"
    return True, (
        f"{len(shared)} infra stack{'s' if len(shared) != 1 else ''} on the same versions in "
        f"{facts.source.name} and {facts.destination.name}; judged {phrase}"
    )


def check_no_drift(facts: PromotionFacts, setting: CheckPolicy) -> tuple[bool, str]:
    """The newest drift check of each automation instance of `to` found no drift."""
    env = facts.destination.name
    checked = [
        i
        for i in facts.automation
        if i.environment == env
        and i.drift_checked_at is not None
        and (i.infra or i.service == facts.service)
    ]
    # A change made by hand drifts the instances it touched until the pipeline applies again.
    by_hand = _out_of_band_in(facts, env)
    drifted = sorted((i for i in checked if i.drift_detected), key=lambda i: i.name)
    if drifted or by_hand:
        described = [f"{i.name} (checked {_when(i.drift_checked_at)})" for i in drifted]
        described += [f"{c.described} (changed outside the pipeline)" for c in by_hand]
        return False, f"drift detected: {_listed(described)}"
    if not checked:
        return True, f"no drift check recorded in {env}"
    newest = max(i.drift_checked_at for i in checked if i.drift_checked_at is not None)
    return True, (
        f"no drift in {len(checked)} instance{'s' if len(checked) != 1 else ''} of {env} "
        f"(newest check {_when(newest)})"
    )


def check_facts_derived(facts: PromotionFacts, setting: CheckPolicy) -> tuple[bool, str]:
    """Every other check reads derived facts (rollouts, failure links): when deriving the
    service's events in `from` or `to` failed, they may be missing what should block (an
    incident marking the version's rollout failed), so the promotion is not allowed on them."""
    if not facts.underived:
        return True, f"facts derived from every stored event in {_both(facts)}"
    parts = [
        f"{u.environment} (failed {_when(u.failed_at)}: {u.error[:200]})" for u in facts.underived
    ]
    return False, (
        f"the facts of {facts.service} could not be derived in {_listed(parts)}; fix or delete "
        "the event the error names, then run `manage.py derive --retry-failed`"
    )


def check_no_out_of_band_changes(facts: PromotionFacts, setting: CheckPolicy) -> tuple[bool, str]:
    """Nothing was changed outside the pipeline in `to` (on the service or an infra stack)
    since the last successful apply or deployment there: each open change is named."""
    env = facts.destination.name
    changes = _out_of_band_in(facts, env)
    if changes:
        count = len(changes)
        return False, (
            f"{count} change{'s' if count != 1 else ''} made outside the pipeline in {env} "
            f"since the last successful apply or deployment: "
            f"{'; '.join(c.described for c in changes)}"
        )
    return True, f"no change made outside the pipeline in {env} since its last apply or deployment"


def _out_of_band_in(facts: PromotionFacts, env: str) -> list[OutOfBandChange]:
    """The open out-of-band changes of `env` the service rests on (its own, infra stacks')."""
    return [
        c
        for c in facts.out_of_band
        if c.environment == env and (c.infra or c.service == facts.service)
    ]


def _both(facts: PromotionFacts) -> str:
    return f"{facts.source.name} and {facts.destination.name}"


_CHECK_FUNCTIONS = {
    "version_verified_in_source": check_version_verified_in_source,
    "source_current": check_source_current,
    "soak_time": check_soak_time,
    "source_fresh": check_source_fresh,
    "no_open_incidents": check_no_open_incidents,
    "target_rollout_complete": check_target_rollout_complete,
    "infra_parity": check_infra_parity,
    "no_drift": check_no_drift,
    "facts_derived": check_facts_derived,
    "no_out_of_band_changes": check_no_out_of_band_changes,
}
