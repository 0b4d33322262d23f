"""ingest.sources.argocd.mapper: the template's body, Application objects and lists, field by
field; docs/argocd's ConfigMap: the catalog's triggers and a template that renders to JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingest.sources.argocd.mapper import (
    ArgoCdMapping,
    payload_events,
    repo_of,
    sync_from_app,
)
from ingest.sources.stacks import stack_rules
from tests.argocd_template import configmap, render, template_body

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "argocd"
GUESTBOOK_SHA = "53e28ff20cc530b9ada2173fbbd64d48338583ba"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def rules(*items: dict[str, str]) -> ArgoCdMapping:
    return ArgoCdMapping(rules=stack_rules(items))


def test_the_triggers_are_the_catalogs_sending_the_dora_template() -> None:
    catalog = yaml.safe_load((FIXTURES / "catalog-triggers.yaml").read_text())
    ours = configmap()
    for name in ("trigger.on-deployed", "trigger.on-sync-failed"):
        [theirs] = yaml.safe_load(catalog[name])
        [mine] = yaml.safe_load(ours[name])
        assert (mine["when"], mine["oncePer"]) == (theirs["when"], theirs["oncePer"])
        assert mine["send"] == ["dora-deployment"]


def test_the_webhook_service_sends_the_secret_as_a_bearer_token() -> None:
    service = yaml.safe_load(configmap()["service.webhook.dora"])
    headers = {h["name"]: h["value"] for h in service["headers"]}
    assert service["url"].endswith("/webhooks/argocd")
    assert headers["Authorization"] == "Bearer $dora-webhook-secret"
    assert "dora" in yaml.safe_load(configmap()["template.dora-deployment"])["webhook"]


def test_the_template_renders_to_a_contract_deployment() -> None:
    app = fixture("application-guestbook-synced.json")
    body = json.loads(render(template_body(), {"app": app}))

    assert body["type"] == "deployment"
    assert body["id"] == "argocd/guestbook@2024-03-05T10:00:37Z"
    assert body["service"] == "guestbook"
    assert body["environment"] == "guestbook"
    assert body["sha"] == GUESTBOOK_SHA
    assert body["status"] == "success"
    assert (body["started_at"], body["finished_at"]) == (
        "2024-03-05T10:00:37Z",
        "2024-03-05T10:00:40Z",
    )
    assert body["trigger"] == "automated"
    assert body["argocd"]["server"] == "https://kubernetes.default.svc"
    assert body["argocd"]["cluster"] == "<no value>"  # no destination.name: Go's missing key


def test_the_rendered_template_maps_like_the_application_itself() -> None:
    app = fixture("application-guestbook-synced.json")
    mapping = rules({"match": "guest*", "service": "guestbook-web", "environment": "staging"})
    from_template = payload_events(json.loads(render(template_body(), {"app": app})), mapping)
    from_app = payload_events({"app": app}, mapping)

    assert from_template.events == from_app.events
    assert from_template.events == (
        {
            "type": "deployment",
            "source": "argocd",
            "id": "argocd/guestbook@2024-03-05T10:00:37Z",
            "service": "guestbook-web",
            "environment": "staging",
            "target": "kubernetes.default.svc",
            "sha": GUESTBOOK_SHA,
            "repo": "argoproj/argocd-example-apps",
            "status": "success",
            "started_at": "2024-03-05T10:00:37Z",
            "finished_at": "2024-03-05T10:00:40Z",
            "trigger": "automated",
        },
    )


def test_a_failed_helm_sync_through_the_template_reads_no_value_as_absent() -> None:
    app = fixture("application-helm-sync-failed.json")
    rendered = json.loads(render(template_body(), {"app": app}))
    assert rendered["sha"] == "<no value>"  # no syncResult
    mapping = rules(
        {
            "match": "helm-guestbook-*",
            "destination": "prod-eu/*",
            "service": "guestbook",
            "environment": "production",
            "target": "eu-1",
        },
        {"match": "helm-guestbook-*", "service": "wrong", "environment": "wrong"},
    )

    [event] = payload_events(rendered, mapping).events

    assert event == {
        "type": "deployment",
        "source": "argocd",
        "id": "argocd/helm-guestbook-prod@2024-03-05T11:43:56Z",
        "service": "guestbook",
        "environment": "production",
        "target": "eu-1",
        "version": "0.1.0",  # the operation's revision: a chart version, not a sha
        "status": "failure",
        "started_at": "2024-03-05T11:43:56Z",
        "finished_at": "2024-03-05T11:49:06Z",
        "trigger": "manual",
    }
    # The repository URL is a Helm repository: no repo. The raw object agrees.
    assert payload_events(app, mapping).events == (event,)


def test_without_a_matching_rule_the_names_are_the_applications_and_the_destinations() -> None:
    app = fixture("application-helm-sync-failed.json")
    [event] = payload_events({"app": app}, ArgoCdMapping(source="argo-eu")).events
    assert (event["source"], event["service"], event["environment"], event["target"]) == (
        "argo-eu",
        "helm-guestbook-prod",
        "shop",  # the destination namespace
        "prod-eu",  # the destination's cluster name
    )


def test_a_list_mixes_variants_and_skips_what_it_cannot_read() -> None:
    synced = fixture("application-guestbook-synced.json")
    running = json.loads(json.dumps(synced))
    running["metadata"]["name"] = "web"
    running["status"]["operationState"].update(phase="Running", startedAt="2024-03-05T12:00:00Z")
    del running["status"]["operationState"]["finishedAt"]
    terminating = json.loads(json.dumps(synced))
    terminating["status"]["operationState"]["phase"] = "Terminating"

    mapped = payload_events(
        [synced, {"app": running}, terminating, {"type": "incident"}, 7], ArgoCdMapping()
    )

    assert [(e["service"], e["status"]) for e in mapped.events] == [
        ("guestbook", "success"),
        ("web", "running"),
    ]
    assert "finished_at" not in mapped.events[1]
    assert [s.reason for s in mapped.skipped] == [
        "operation phase 'Terminating' is not an outcome",
        "incident is not read: send the dora-deployment template's body, "
        '{"app": <Application>} or an Application',
        "an item that is not a JSON object",
    ]


def test_a_body_status_wins_and_a_list_of_events_is_read() -> None:
    event = {
        "type": "deployment",
        "service": "checkout",
        "environment": "production",
        "sha": GUESTBOOK_SHA.upper(),
        "status": "cancelled",
        "finished_at": "2024-03-05T10:00:40+01:00",
        "argocd": {"application": "checkout-prod", "namespace": "<no value>", "phase": "Failed"},
    }
    [mapped] = payload_events([event], ArgoCdMapping()).events
    assert mapped["status"] == "cancelled"
    assert mapped["service"] == "checkout"  # no pattern: the body's own
    assert mapped["sha"] == GUESTBOOK_SHA  # lower case
    assert mapped["finished_at"] == "2024-03-05T09:00:40Z"  # in UTC
    assert mapped["id"] == f"checkout-prod@{GUESTBOOK_SHA.upper()}@2024-03-05T10:00:40+01:00"


@pytest.mark.parametrize(
    ("problem", "reason"),
    [
        ({"finished_at": "<no value>"}, "a failure sync without finishedAt"),
        ({"finished_at": "2024-03-05T10:00:40"}, "a time without a zone or unreadable"),
        ({"sha": "", "argocd": {"application": "a"}}, "no revision (syncResult.revision)"),
        ({"environment": None, "argocd": {"application": "a"}}, "no environment"),
    ],
)
def test_what_cannot_be_a_deployment_is_skipped_with_its_reason(
    problem: dict[str, Any], reason: str
) -> None:
    event = {
        "type": "deployment",
        "service": "a",
        "environment": "production",
        "sha": GUESTBOOK_SHA,
        "status": "failure",
        "finished_at": "2024-03-05T10:00:40Z",
        **problem,
    }
    mapped = payload_events(event, ArgoCdMapping())
    assert mapped.events == ()
    assert mapped.skipped[0].reason.startswith(reason)


def test_repository_urls_become_owner_and_name() -> None:
    assert repo_of("https://github.com/acme/shop.git") == "acme/shop"
    assert repo_of("git@gitlab.com:acme/sub/api.git") == "acme/sub/api"
    assert repo_of("ssh://git@github.com/acme/shop") == "acme/shop"
    assert repo_of(None) is None


def test_multi_source_results_take_the_first_revision() -> None:
    app = fixture("application-guestbook-synced.json")
    result = app["status"]["operationState"]["syncResult"]
    del result["revision"]
    result["revisions"] = ["<no value>", "1.0.0", GUESTBOOK_SHA]
    assert sync_from_app(app).revision == "1.0.0"


def test_destination_patterns_match_the_cluster_name_then_the_server() -> None:
    app = fixture("application-helm-sync-failed.json")
    app["spec"]["destination"]["server"] = "https://10.0.0.1:6443"
    by_server = rules(
        {
            "match": "*",
            "destination": "https://10.0.0.1:6443/*",
            "service": "s",
            "environment": "production",
            "target": "eu",
        },
    )
    [event] = payload_events(app, by_server).events
    assert (event["environment"], event["target"]) == ("production", "eu")
    # One rule's destination may match either key; the first rule matching wins.
    name_first = rules(
        {"match": "*", "destination": "nowhere/*", "service": "s", "environment": "none"},
        {"match": "*", "destination": "prod-eu/*", "service": "s", "environment": "by-name"},
        {"match": "*", "destination": "https://*", "service": "s", "environment": "by-server"},
    )
    assert payload_events(app, name_first).events[0]["environment"] == "by-name"
    # A rule without target leaves it to the destination's cluster name.
    assert payload_events(app, name_first).events[0]["target"] == "prod-eu"
