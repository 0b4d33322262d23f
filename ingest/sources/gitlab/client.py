"""Read one GitLab project through python-gitlab and map what it holds to CONTRACT §1 events.

A one-shot collector: it reads everything updated since `since` (merge requests with their
commits, notes and approvals; the default branch's commits; pipelines with their jobs;
deployments; incident issues) and returns the events, oldest reads first. The sync
(ingest.sources.gitlab.sync) reads the same lists page by page with cursors; this module
gives it its client.
python-gitlab pages through every list (`iterator=True`) and retries 429/5xx itself
(`retry_transient_errors`). docs.gitlab.com/api/rest
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import gitlab
from gitlab.exceptions import GitlabGetError, GitlabListError

from ingest.sources.gitlab import mapper as gl

PER_PAGE = 100


def gitlab_client(base_url: str, token: str | None, *, timeout: float = 30.0) -> gitlab.Gitlab:
    """A python-gitlab client for the instance at `base_url` (https://gitlab.com, or a
    self-managed one's root)."""
    return gitlab.Gitlab(
        base_url,
        private_token=token or None,
        timeout=timeout,
        per_page=PER_PAGE,
        retry_transient_errors=True,
    )


def _since(since: datetime | None) -> dict[str, str]:
    return {"updated_after": since.isoformat()} if since else {}


def _all(manager_list: Any) -> Iterator[dict[str, Any]]:
    for obj in manager_list:
        yield dict(obj.attributes)


def project_events(
    client: gitlab.Gitlab,
    path: str,
    mapping: gl.GitLabMapping,
    *,
    since: datetime | None = None,
) -> list[dict[str, Any]]:
    """The events of project `path` (`group/project`) changed since `since` (all when None)."""
    project = client.projects.get(path, lazy=True)
    source = mapping.source
    events: list[dict[str, Any]] = []
    for commit in _all(
        project.commits.list(iterator=True, **({"since": since.isoformat()} if since else {}))
    ):
        events.append(gl.commit_event(path, commit, source=source))
    for mr in project.mergerequests.list(
        iterator=True, state="all", order_by="updated_at", sort="asc", **_since(since)
    ):
        commits = [dict(c.attributes) for c in mr.commits()]
        notes = list(_all(mr.notes.list(iterator=True, sort="asc")))
        try:
            approvals: dict[str, Any] | None = dict(mr.approvals.get().attributes)
        except (GitlabGetError, GitlabListError):  # approvals not offered by this instance
            approvals = None
        events.append(
            gl.change_event(
                path,
                mr.attributes,
                commits=commits,
                notes=notes,
                approvals=approvals,
                source=source,
            )
        )
    for listed in project.pipelines.list(
        iterator=True, order_by="updated_at", sort="asc", **_since(since)
    ):
        detail = project.pipelines.get(listed.id)
        jobs = list(_all(detail.jobs.list(iterator=True)))
        if event := gl.pipeline_run_event(path, detail.attributes, jobs=jobs, source=source):
            events.append(event)
    for deployment in _all(
        project.deployments.list(iterator=True, order_by="updated_at", sort="asc", **_since(since))
    ):
        events.extend(gl.deployment_events(path, deployment, mapping))
    for issue in _all(project.issues.list(iterator=True, state="all", **_since(since))):
        events.extend(gl.incident_events(path, issue, mapping))
    return events
