"""A week of infrastructure through the receivers, checked against values computed by hand.

The estate (ESTATE, through `manage.py apply_config`): the infra stack `network` in staging and
in production on two targets (`eu`, `us`), applied by HCP Terraform (workspaces
network-staging, network-prod-eu, network-prod-us); the app `shop` deployed by Argo CD
(Applications shop-staging, shop-prod-eu, shop-prod-us) and the app `checkout` by Flux
(Kustomizations apps/checkout-staging, -prod-eu, -prod-us); both apps depend on network.
Staging and production keep `stale_after: 30d` so that the gate's verdicts do not depend on the
weekday the test runs on.

The week: W is the Monday 00:00 UTC of last week (the real clock, as test_gate.py and
test_out_of_band.py do: the API decides at `now`), U = W + 7 days (this Monday 00:00), the
metrics window is [W, U) and the metrics are evaluated at U (`--until`). Every body is the
provider's documented payload (tests/fixtures/<provider>) with only ids, names, times, shas or
the state changed; each change is said where it is made.

    when (from W)   receiver    what                                        sha
    Mon 09:00-09:10 terraform   network-staging applied                     N1 (via API fill)
    Mon 12:00-12:00:30 argocd   shop-staging synced                         P1
    Mon 15:00       flux        checkout-staging reconciled                 F1
    Tue 10:00-10:12 terraform   network-prod-eu applied                     N1
    Tue 11:00-11:15 terraform   network-prod-us applied                     N1
    Tue 12:00-12:00:30 argocd   shop-prod-eu synced                         P1
    Tue 12:30-12:31 argocd      shop-prod-us synced                         P1
    Tue 15:00       flux        checkout-prod-eu reconciled                 F1
    Tue 15:05       flux        checkout-prod-us reconciled                 F1
    Wed 09:00-09:08 terraform   network-staging applied                     N2
    Wed 12:00-12:00:30 argocd   shop-staging synced                         P2
    Thu 10:00-10:05 terraform   network-prod-eu errored (run Canceled)      N2
    Thu 12:00-12:00:30 argocd   shop-prod-eu synced                         P2
    Thu 14:00-14:10 terraform   network-prod-eu applied                     N2
    Fri 06:00       terraform   network-prod-us health assessment: drifted
    Fri 09:00       flux        checkout-prod-us validation failed          F2
    Sat 15:00       cloudtrail  ec2:StopInstances by hand in us-east-2 (production/us)

Automation lag at U (METRICS §4.3: U - the last successful apply or deployment; plans,
failures and the drift assessment reset nothing), in seconds:

    network   staging     ''                      Wed 09:08     4d 14:52      399120
    network   production  eu                      Thu 14:10     3d 09:50      294600
    network   production  us                      Tue 11:15     5d 12:45      477900
    shop      staging     kubernetes.default.svc  Wed 12:00:30  4d 11:59:30  388770
    shop      production  eu                      Thu 12:00:30  3d 11:59:30  302370
    shop      production  us                      Tue 12:31     5d 11:29     473340
    checkout  staging     ''                      Mon 15:00     6d 09:00     550800
    checkout  production  eu                      Tue 15:00     5d 09:00     464400
    checkout  production  us                      Tue 15:05     5d 08:55     464100

(Argo CD's staging sync names no target: the cluster's host is its target; a Flux event without
cluster metadata names none.) p50 464100 (the 5th of 9), p90 492480 (rank 7.2: 477900 + 0.2 *
72900), max 550800, none stale (30 days allowed).

Drift: network/production/us's newest drift check (Fri 06:00) found drift; the CloudTrail
change (Sat 15:00, after every apply to us) is open and drifts network/production/us too.

Version spread at U (production, the figure's tier; live version per target, METRICS §2):

    network   eu N2, us N1   2 versions, 1 behind, half on the newest, oldest N1 Tue 10:12
    shop      eu P2, us P1   2 versions, 1 behind, half on the newest, oldest P1 Tue 12:00:30
    checkout  eu F1, us F1   1 version (F2 failed on us: never live), oldest F1 Tue 15:00

Oldest live age (U - the oldest live version's first production deployment): 481680, 475170,
464400 seconds.

Out-of-band changes: 1 in the window, production, week W: 1 (staging: none).

The gate, shop P2 staging -> production (defaults; every failing check here warns):

    version_verified_in_source  pass  P2 live on staging's one target (Wed 12:00:30)
    source_current              pass  staging still runs P2
    soak_time                   pass  live since Wed 12:00:30, far over 30m
    source_fresh                pass  staging: shop's pipeline (Wed) and network (Wed) < 30d
    no_open_incidents           pass  none
    target_rollout_complete     FAIL  production runs P2 on eu and P1 on us: spread 2 > 1
    infra_parity                FAIL  network staging N2, production N1/N2 (the filled commits)
    no_drift                    FAIL  network/production/us drifted (Fri) and changed by hand
    facts_derived               pass
    no_out_of_band_changes      FAIL  the StopInstances change on network in production
    allowed: yes (200), the failures only warn. With `no_out_of_band_changes: {mode: block}`
    the same request is refused (409).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from dora.models import ApiToken
from ingest.sources.terraform.versions import terraform_run_version_fill
from ingest.sources.terraform.webhook import terraform_signature
from tests.argocd_template import render, template_body

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
W = TODAY - timedelta(days=TODAY.weekday() + 7)  # last week's Monday, 00:00 UTC
U = W + timedelta(days=7)
API = "https://tfe.example.com/api/v2"
SECRETS = {
    "TFC_NOTIFICATION_TOKEN": "scenario-terraform-token",
    "TFC_TOKEN": "scenario-terraform-api-token",
    "ARGOCD_SECRET": "scenario-argocd-secret",
    "FLUX_SECRET": "scenario-flux-token",
    "DORA_CLOUDTRAIL_WEBHOOK_SECRET": "scenario-cloudtrail-secret",
}
N1, N2 = "1" * 40, "2" * 40  # network's commits
P1, P2 = "a" * 40, "b" * 40  # shop's
F1, F2 = "c" * 40, "d" * 40  # checkout's

ESTATE = """\
services:
  - {name: network, kind: infra}
  - {name: shop, kind: app, depends_on: [network]}
  - {name: checkout, kind: app, depends_on: [network]}
environments:
  - {name: staging, tier: staging, order: 1, stale_after: 30d}
  - {name: production, tier: production, order: 2, stale_after: 30d, targets: [eu, us]}
sources:
  - name: hcp-terraform
    kind: terraform
    webhook_secret_env: TFC_NOTIFICATION_TOKEN
    token_env: TFC_TOKEN
    base_url: https://tfe.example.com
    stacks:
      - {match: network-staging, service: network, environment: staging}
      - {match: network-prod-eu, service: network, environment: production, target: eu}
      - {match: network-prod-us, service: network, environment: production, target: us}
  - name: argocd
    kind: argocd
    webhook_secret_env: ARGOCD_SECRET
    stacks:
      - {match: shop-staging, service: shop, environment: staging}
      - {match: shop-prod-eu, service: shop, environment: production, target: eu}
      - {match: shop-prod-us, service: shop, environment: production, target: us}
  - name: flux
    kind: flux
    webhook_secret_env: FLUX_SECRET
    stacks:
      - {match: Kustomization/apps/checkout-staging, service: checkout, environment: staging}
      - {match: Kustomization/apps/checkout-prod-eu, service: checkout, environment: production,
         target: eu}
      - {match: Kustomization/apps/checkout-prod-us, service: checkout, environment: production,
         target: us}
  - name: cloudtrail
    kind: cloudtrail
    pipeline_roles: ["arn:aws:iam::123456789012:role/terraform-*"]
    accounts:
      "123456789012": {environment: production, service: network, regions: {us-east-2: us}}
"""


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return W + timedelta(days=day, hours=hour, minutes=minute, seconds=second)


def iso(moment: datetime, *, millis: bool = False) -> str:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.000Z" if millis else f"{text}Z"


def fixture(provider: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / provider / name).read_text())


def posted(url: str, body: bytes, **headers: str) -> dict[str, Any]:
    response = Client().generic("POST", url, body, content_type="application/json", **headers)
    answer = response.json()
    assert response.status_code == 200, (url, response.status_code, answer)
    assert not answer["counts"].get("rejected") and not answer["counts"].get("skipped"), answer
    return answer


# ------------------------------------------------------------------------------------ Terraform


def terraform_post(body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    signature = terraform_signature(SECRETS["TFC_NOTIFICATION_TOKEN"].encode(), data)
    posted("/webhooks/terraform/hcp-terraform", data, HTTP_X_TFE_NOTIFICATION_SIGNATURE=signature)


def terraform_apply(
    n: int, workspace: str, start: datetime, end: datetime, sha: str, status: str = "applied"
) -> None:
    """notification-run-errored.json with its run id, workspace, times and final status
    changed (run:completed / applied, or as the fixture: run:errored / canceled), then the
    version fill against `responses` replaying api-run.json, api-configuration-version.json and
    api-ingress-attributes.json with the run id, configuration version id and commit changed."""
    run_id, cv = f"run-scenario{n:04d}", f"cv-scenario{n:04d}"
    body = fixture("terraform", "notification-run-errored.json")
    body.update(
        run_id=run_id,
        run_url=f"https://app.terraform.io/app/acme-org/{workspace}/runs/{run_id}",
        run_created_at=iso(start, millis=True),
        workspace_name=workspace,
    )
    trigger = "run:completed" if status == "applied" else "run:errored"
    body["notifications"][0].update(
        trigger=trigger, run_status=status, run_updated_at=iso(end, millis=True)
    )
    terraform_post(body)
    run = fixture("terraform", "api-run.json")
    run["data"]["id"] = run_id
    run["data"]["relationships"]["configuration-version"]["data"]["id"] = cv
    version = fixture("terraform", "api-configuration-version.json")
    version["data"]["id"] = cv
    ingress = fixture("terraform", "api-ingress-attributes.json")
    ingress["data"]["attributes"]["commit-sha"] = sha
    with responses.RequestsMock() as replay:
        replay.get(f"{API}/runs/{run_id}", json=run)
        replay.get(f"{API}/configuration-versions/{cv}", json=version)
        replay.get(f"{API}/configuration-versions/{cv}/ingress-attributes", json=ingress)
        assert terraform_run_version_fill("hcp-terraform", run_id).outcome == "filled"


def terraform_drift(workspace: str, moment: datetime) -> None:
    """notification-assessment-drifted.json with its result id, workspace and time changed."""
    body = fixture("terraform", "notification-assessment-drifted.json")
    result = body["details"]["new_assessment_result"]
    result.update(id="asmtres-scenario0001", created_at=iso(moment))
    body["details"]["workspace_name"] = workspace
    terraform_post(body)


# --------------------------------------------------------------------------------------- Argo CD


def argocd_sync(app: str, start: datetime, end: datetime, sha: str) -> None:
    """application-guestbook-synced.json renamed, its sync's times and revision changed,
    rendered through docs/argocd's template (tests/argocd_template.py)."""
    application = fixture("argocd", "application-guestbook-synced.json")
    application["metadata"]["name"] = app
    application["spec"]["destination"]["namespace"] = "shop"
    status = application["status"]
    status["sync"]["revision"] = sha
    state = status["operationState"]
    state["operation"]["sync"]["revision"] = sha
    state["syncResult"]["revision"] = sha
    state.update(startedAt=iso(start), finishedAt=iso(end))
    body = render(template_body(), {"app": application}).encode()
    posted("/webhooks/argocd", body, HTTP_AUTHORIZATION=f"Bearer {SECRETS['ARGOCD_SECRET']}")


# ------------------------------------------------------------------------------------------ Flux


def flux_event(name: str, kustomization: str, moment: datetime, sha: str) -> None:
    """A Flux kustomize-controller event (the succeeded or validation-failed fixture) with the
    Kustomization's name, namespace, revision and time changed, signed generic-hmac."""
    body = fixture("flux", name)
    body["involvedObject"].update(name=kustomization, namespace="apps")
    body["metadata"] = {"kustomize.toolkit.fluxcd.io/revision": f"main@sha1:{sha}"}
    body["timestamp"] = iso(moment)
    data = json.dumps(body).encode()
    mac = hmac.new(SECRETS["FLUX_SECRET"].encode(), data, hashlib.sha256).hexdigest()
    posted("/webhooks/flux", data, HTTP_X_SIGNATURE=f"sha256={mac}")


# ------------------------------------------------------------------------------------ CloudTrail


def cloudtrail_change(moment: datetime) -> None:
    """derived_assumed_role_stop_instances.json (StopInstances in us-east-2 by an assumed
    role that is not the pipeline's) with its eventID and eventTime changed, in its EventBridge
    envelope."""
    record = fixture("cloudtrail", "derived_assumed_role_stop_instances.json")
    record.update(eventID="scenario-0000-4000-8000-oob000000001", eventTime=iso(moment))
    envelope = {
        "version": "0",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": "123456789012",
        "region": "us-east-2",
        "detail": record,
    }
    token = SECRETS["DORA_CLOUDTRAIL_WEBHOOK_SECRET"]
    posted("/webhooks/cloudtrail", json.dumps(envelope).encode(), HTTP_X_DORA_WEBHOOK_TOKEN=token)


# ------------------------------------------------------------------------------------- The week


@pytest.fixture
def week(
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "dora.yml").write_text(ESTATE)
    call_command("apply_config", str(tmp_path / "dora.yml"), stdout=io.StringIO())
    # The webhook queues each run's version fill on commit; the test runs it itself (above).
    with django_capture_on_commit_callbacks(execute=False):
        terraform_apply(1, "network-staging", at(0, 9), at(0, 9, 10), N1)
        argocd_sync("shop-staging", at(0, 12), at(0, 12, 0, 30), P1)
        flux_event("event-kustomization-succeeded.json", "checkout-staging", at(0, 15), F1)
        terraform_apply(2, "network-prod-eu", at(1, 10), at(1, 10, 12), N1)
        terraform_apply(3, "network-prod-us", at(1, 11), at(1, 11, 15), N1)
        argocd_sync("shop-prod-eu", at(1, 12), at(1, 12, 0, 30), P1)
        argocd_sync("shop-prod-us", at(1, 12, 30), at(1, 12, 31), P1)
        flux_event("event-kustomization-succeeded.json", "checkout-prod-eu", at(1, 15), F1)
        flux_event("event-kustomization-succeeded.json", "checkout-prod-us", at(1, 15, 5), F1)
        terraform_apply(4, "network-staging", at(2, 9), at(2, 9, 8), N2)
        argocd_sync("shop-staging", at(2, 12), at(2, 12, 0, 30), P2)
        terraform_apply(5, "network-prod-eu", at(3, 10), at(3, 10, 5), N2, status="canceled")
        argocd_sync("shop-prod-eu", at(3, 12), at(3, 12, 0, 30), P2)
        terraform_apply(6, "network-prod-eu", at(3, 14), at(3, 14, 10), N2)
        terraform_drift("network-prod-us", at(4, 6))
        flux_event("event-kustomization-validation-failed.json", "checkout-prod-us", at(4, 9), F2)
        cloudtrail_change(at(5, 15))


def metrics() -> dict[str, Any]:
    out = io.StringIO()
    call_command("metrics", "--since", iso(W), "--until", iso(U), "--format", "json", stdout=out)
    return json.loads(out.getvalue())


def client(scope: str) -> APIClient:
    api = APIClient()
    _, raw = ApiToken.issue(name=f"scenario-{scope}", scope=scope)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


def lag(body: dict[str, Any]) -> dict[tuple[str, str, str], float]:
    return {
        (i["service"], i["environment"], i["target"]): i["lag_seconds"]
        for i in body["automation_lag"]["instances"]
    }


def test_automation_lag_version_spread_and_out_of_band_changes_of_the_week(week: None) -> None:
    body = metrics()

    # The stack's instances (the docstring's table): the failed apply (Thu 10:05) and the drift
    # assessment (a plan) reset nothing.
    network = {k: v for k, v in lag(body).items() if k[0] == "network"}
    assert network == {
        ("network", "staging", ""): 399120.0,
        ("network", "production", "eu"): 294600.0,
        ("network", "production", "us"): 477900.0,
    }
    # The apps' deploy pipelines: U - each target's last successful deployment.
    apps = {k: v for k, v in lag(body).items() if k[0] != "network"}
    assert apps == {
        # Argo CD's staging sync names no target: the cluster's host is the target.
        ("shop", "staging", "kubernetes.default.svc"): 388770.0,  # Wed 12:00:30: 4d 11:59:30
        ("shop", "production", "eu"): 302370.0,  # Thu 12:00:30: 3d 11:59:30
        ("shop", "production", "us"): 473340.0,  # Tue 12:31: 5d 11:29
        # A Flux event without cluster metadata names no target.
        ("checkout", "staging", ""): 550800.0,  # Mon 15:00: 6d 09:00
        ("checkout", "production", "eu"): 464400.0,  # Tue 15:00: 5d 09:00
        ("checkout", "production", "us"): 464100.0,  # Tue 15:05 (Fri's failure resets nothing)
    }
    # Nine lags sorted: 294600 302370 388770 399120 464100 464400 473340 477900 550800;
    # median the 5th; p90 at rank 0.9 * 8 = 7.2: 477900 + 0.2 * (550800 - 477900).
    figure = body["automation_lag"]
    assert (figure["p50_seconds"], figure["p90_seconds"], figure["max_seconds"]) == (
        464100.0,
        492480.0,
        550800.0,
    )
    assert figure["stale"] == 0  # 30 days allowed, 6.4 days the oldest

    # Production's (the metrics' tier) spread at U, per service.
    spread = {row["service"]: row for row in body["version_spread"]}
    assert {s: (r["environment"], r["targets"], r["versions"]) for s, r in spread.items()} == {
        "network": ("production", 2, 2),  # eu N2 (Thu), us N1 (the applies' filled commits)
        "shop": ("production", 2, 2),  # eu P2, us P1
        "checkout": ("production", 2, 1),  # F1 on both: F2 failed on us, never live
    }
    assert {s: (r["versions_behind"], r["share_on_newest"]) for s, r in spread.items()} == {
        "network": (1, 0.5),
        "shop": (1, 0.5),
        "checkout": (0, 1.0),
    }
    # U - the oldest live version's first production deployment: network N1 eu Tue 10:12
    # (5d 13:48), shop P1 eu Tue 12:00:30 (5d 11:59:30), checkout F1 eu Tue 15:00 (5d 09:00).
    assert {s: r["oldest_live_age_seconds"] for s, r in spread.items()} == {
        "network": 481680.0,
        "shop": 475170.0,
        "checkout": 464400.0,
    }

    week_of = W.date().isoformat()
    assert body["out_of_band_changes"] == {
        "count": 1,
        "weeks": [week_of],
        "environments": [
            {"environment": "production", "count": 1, "weeks": [{"week": week_of, "count": 1}]}
        ],
        "tier": "all",
    }

    # The API answers the same figures.
    response = client(ApiToken.Scope.READ).get(
        "/api/v1/metrics", {"since": iso(W), "until": iso(U)}
    )
    assert response.status_code == 200, response.json()
    api = response.json()
    for name in ("automation_lag", "version_spread", "out_of_band_changes"):
        assert api[name] == body[name], name


def minute(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def ask(client_: APIClient) -> tuple[int, dict[str, Any]]:
    request = {"service": "shop", "version": P2, "from": "staging", "to": "production"}
    response = client_.generic(
        "POST", "/api/v1/gates/promotion", json.dumps(request), content_type="application/json"
    )
    return response.status_code, response.json()


def test_the_gate_on_the_week(week: None, tmp_path: Path) -> None:
    gate = client(ApiToken.Scope.GATE)
    status, body = ask(gate)

    assert status == 200, body  # every failing check warns
    assert body["allowed"] is True
    verdicts = {c["name"]: (c["passed"], c["severity"]) for c in body["checks"]}
    assert verdicts == {
        "version_verified_in_source": (True, "block"),
        "source_current": (True, "block"),
        "soak_time": (True, "block"),
        "source_fresh": (True, "block"),
        "no_open_incidents": (True, "block"),
        "target_rollout_complete": (False, "warn"),
        "infra_parity": (False, "warn"),
        "no_drift": (False, "warn"),
        "facts_derived": (True, "block"),
        "no_out_of_band_changes": (False, "warn"),
    }
    detail = {c["name"]: c["detail"] for c in body["checks"]}
    assert detail["target_rollout_complete"] == (
        f"production is mid-rollout: 2 versions across 2 targets ({P1[:12]} on us; {P2[:12]} on eu)"
    )  # a version is labelled by its sha's first 12
    assert detail["infra_parity"].startswith(
        f"infra versions differ: network staging {N2}, production {N1}/{N2}"
    )
    # Fri's assessment and Sat's console change, both on network's production/us instance.
    by_hand = (
        "ec2:StopInstances on network in production/us by "
        "arn:aws:sts::123456789012:assumed-role/RoleToBeAssumed/MySessionName "
        f"at {minute(at(5, 15))}"
    )
    assert detail["no_drift"] == (
        f"drift detected: infra stack network in production/us (checked {minute(at(4, 6))}), "
        f"{by_hand} (changed outside the pipeline)"
    )
    assert detail["no_out_of_band_changes"] == (
        "1 change made outside the pipeline in production since the last successful apply or "
        f"deployment: {by_hand}"
    )

    # Blocked by policy, the same change refuses the promotion.
    (tmp_path / "gates.yml").write_text(
        ESTATE
        + "gates:\n  rules:\n    - to: production\n"
        + "      checks: {no_out_of_band_changes: {mode: block}}\n"
    )
    call_command("apply_config", str(tmp_path / "gates.yml"), stdout=io.StringIO())
    status, body = ask(gate)
    assert status == 409, body
    assert body["allowed"] is False
