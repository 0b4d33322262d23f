"""Figure targets newly missed, from dora.targets."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

from django.urls import reverse

from dora import targets
from dora.alerts.evaluate import AlertContext, Condition, alert_provider


@alert_provider("target")
def targets_missed(context: AlertContext) -> Iterator[Condition]:
    """Each team's and each of its services' targets whose status is `missed` at `now`
    (`no_data` is not a miss). Key: the target's id, so a changed threshold is the same alert."""
    for team in context.teams:
        seen: set[int] = set()
        for attained in targets.attainments(team=team, now=context.now):
            if attained.status != "missed" or attained.target_id in seen:
                continue
            seen.add(attained.target_id)
            page = "dashboard-service" if attained.subject == "service" else "dashboard-team"
            link = f"{reverse(page)}?{urlencode({attained.subject: attained.subject_name})}"
            yield Condition(
                key=f"target:{attained.target_id}",
                team=team,
                title=f"Target missed: {attained.subject_name} {attained.label}",
                detail=f"{attained.figure} is {attained.value_text} ({attained.label})",
                link=link,
            )
