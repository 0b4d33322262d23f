"""Why a rollout counts as failed, as a sentence: "Incident INC-78 opened 3 h after it went live
(inferred)", from its failure links (dora.models.FailureLink, read by
selectors.failure_links_frame)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from dora.units import duration_human


def _present(value: Any) -> bool:
    return value is not None and not (not isinstance(value, str) and pd.isna(value))


def _name(value: Any) -> str:
    """A version or sha as text; "" when missing or blank."""
    return str(value).strip() if _present(value) else ""


def _after(later: Any, live_at: Any) -> str | None:
    """ "3 h" between the rollout going live and `later`; None when either is unknown."""
    if not (_present(later) and _present(live_at)):
        return None
    seconds = (pd.Timestamp(later) - pd.Timestamp(live_at)).total_seconds()
    return duration_human(max(seconds, 0.0))


def incident_name(external_id: Any) -> str:
    """incident:INC-78 -> INC-78 (the id its source gave it, without our namespace)."""
    return str(external_id).removeprefix("incident:")


def failure_reason(link: Mapping[str, Any], live_at: Any) -> str:
    """One failure link as a sentence ending in its status, "(confirmed)" or "(inferred)".

    link: a failure_links_frame row: cause, status, detail, incident, incident_opened_at,
      by_version, by_sha, by_live_at (the last five may be missing; the remedy is named by its
      version, else its sha's first 12 characters).
    live_at: when the failed rollout went live.
    """
    cause, status = str(link.get("cause") or ""), str(link.get("status") or "")
    incident = link.get("incident")
    by_version = _name(link.get("by_version")) or _name(link.get("by_sha"))[:12] or None
    opened = _after(link.get("incident_opened_at"), live_at)
    followed = _after(link.get("by_live_at"), live_at)
    text = None
    if cause in ("incident", "inferred") and _present(incident) and opened:
        names = " names it as the cause and" if cause == "incident" else ""
        text = f"Incident {incident_name(incident)}{names} opened {opened} after it went live"
    elif cause == "rollback" and followed:
        text = (
            f"Rolled back{f' by {by_version}' if by_version else ''} {followed} after it went live"
        )
    elif cause == "revert" and followed:
        text = f"Reverted{f' in {by_version}' if by_version else ''} {followed} after it went live"
    elif cause == "hotfix" and followed:
        text = f"Hotfix{f' {by_version}' if by_version else ''} went live {followed} after it"
    if text is None:  # what derive wrote, as a sentence
        detail = str(link.get("detail") or "") if _present(link.get("detail")) else ""
        detail = detail.replace("incident:", "")
        text = (detail[:1].upper() + detail[1:]) if detail else (cause.capitalize() or "Failed")
    return f"{text} ({status})" if status else text


def failure_reasons(links: pd.DataFrame, live_at: Mapping[int, Any]) -> dict[int, str]:
    """Per failed rollout id, its reasons as sentences joined by "; " in the links' order.

    links: failure_links_frame rows; live_at: rollout id -> when it went live."""
    reasons: dict[int, list[str]] = {}
    for link in links.to_dict("records"):
        key = int(link["rollout_id"])
        reasons.setdefault(key, []).append(failure_reason(link, live_at.get(key)))
    return {key: "; ".join(texts) for key, texts in reasons.items()}
