"""The demo estate's constants: regions, team profiles, scripted stories, the events' words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

SOURCE = "demo"
PRODUCTION_REGIONS = ("eu-west-1", "us-east-1", "ap-south-1")
# Services that run in every production region; the others deploy to production as one target.
REGIONAL_SERVICES = frozenset({"checkout", "payments-api", "search", "web", "customer-portal"})
# network-stack's staging pipeline broke this long before `now` and nobody has applied it since:
# the promotion gate blocks the services that run on it (demo.yml's depends_on).
STALE_STACK, STALE_ENVIRONMENT, STALE_FOR = "network-stack", "staging", timedelta(days=35)

Hours = tuple[float, float]


@dataclass(frozen=True)
class TeamProfile:
    """How a team works. Durations are (low, high) hours, sampled with a long tail towards high."""

    prs_per_day: float  # merged pull requests per service per working day
    commits: tuple[int, int]  # feature commits per pull request
    coding: Hours  # first commit -> PR opened
    draft: Hours  # opened as draft -> ready for review (a quarter of PRs)
    pickup: Hours  # ready -> first review
    review: Hours  # first review -> approved
    merge: Hours  # approved -> merged
    squash_share: float
    release_every: Hours | None  # release trains; None: every green merge ships (continuous)
    soak: Hours  # staging live -> first production target
    region_lag: Hours  # between production regions
    detect: Hours  # first live -> a bad release is noticed
    ci_failure: float
    deploy_failure: float  # a target deployment fails and is retried
    bad_release: float  # share of production rollouts that need intervention
    remedies: tuple[tuple[str, float], ...]  # rollback / hotfix / revert / config / none
    incidents_per_week: float  # incidents per service unrelated to a release
    work_start_utc: int  # the team's 9-hour working day, in UTC
    direct_pushes_per_week: float  # commits pushed straight to main


TEAM_PROFILES: dict[str, TeamProfile] = {
    # Elite: trunk-based, every green merge ships in minutes, rolled region by region within hours.
    "payments": TeamProfile(
        prs_per_day=2.8,
        commits=(1, 3),
        coding=(0.5, 6),
        draft=(0.3, 3),
        pickup=(0.1, 1.5),
        review=(0.1, 1.5),
        merge=(0.02, 0.5),
        squash_share=0.7,
        release_every=None,
        soak=(0.3, 1.0),
        region_lag=(0.1, 1.5),
        detect=(0.1, 1.5),
        ci_failure=0.05,
        deploy_failure=0.02,
        bad_release=0.04,
        remedies=(("rollback", 0.55), ("hotfix", 0.2), ("revert", 0.15), ("config", 0.1)),
        incidents_per_week=0.08,
        work_start_utc=7,
        direct_pushes_per_week=0.2,
    ),
    # Average: reviews take a day or so, release trains every one to three days.
    "discovery": TeamProfile(
        prs_per_day=0.9,
        commits=(1, 4),
        coding=(3, 48),
        draft=(2, 24),
        pickup=(2, 30),
        review=(1, 30),
        merge=(0.1, 6),
        squash_share=0.4,
        release_every=(24, 72),
        soak=(2, 24),
        region_lag=(1, 6),
        detect=(0.5, 8),
        ci_failure=0.12,
        deploy_failure=0.06,
        bad_release=0.12,
        remedies=(
            ("rollback", 0.35),
            ("hotfix", 0.25),
            ("revert", 0.2),
            ("config", 0.1),
            ("none", 0.1),
        ),
        incidents_per_week=0.15,
        work_start_utc=13,
        direct_pushes_per_week=0.3,
    ),
    # Struggling: long-lived branches, slow reviews, a release train every week or two; it hurts.
    "legacy-core": TeamProfile(
        prs_per_day=0.45,
        commits=(2, 6),
        coding=(24, 240),
        draft=(4, 48),
        pickup=(24, 120),
        review=(12, 96),
        merge=(2, 48),
        squash_share=0.1,
        release_every=(168, 336),
        soak=(24, 96),
        region_lag=(4, 48),
        detect=(2, 12),
        ci_failure=0.22,
        deploy_failure=0.15,
        bad_release=0.32,
        remedies=(("rollback", 0.3), ("hotfix", 0.35), ("revert", 0.1), ("none", 0.25)),
        incidents_per_week=0.3,
        work_start_utc=4,
        direct_pushes_per_week=0.4,
    ),
    # Platform: infrastructure as code; merges are planned and applied environment by environment.
    "platform": TeamProfile(
        prs_per_day=0.35,
        commits=(1, 3),
        coding=(2, 24),
        draft=(0.5, 4),
        pickup=(0.5, 6),
        review=(0.5, 8),
        merge=(0.1, 2),
        squash_share=0.5,
        release_every=None,
        soak=(1, 3),
        region_lag=(0.5, 3),
        detect=(1, 4),
        ci_failure=0.08,
        deploy_failure=0.0,
        bad_release=0.0,
        remedies=(("none", 1.0),),
        incidents_per_week=0.0,
        work_start_utc=9,
        direct_pushes_per_week=0.1,
    ),
}

# Scripted stories, so that every demo (even a short one) shows each kind of failure and remedy: the
# first production rollout of the service starting at most `days` before now goes bad this way.
# (service, days before now, remedy, incident link, severity, the fix names the incident it fixes)
_SCRIPTED_FAILURES: tuple[tuple[str, float, str, str, str, bool], ...] = (
    ("checkout", 9, "rollback", "deployment", "sev2", False),
    ("web", 13, "hotfix", "version", "sev1", True),
    ("search", 16, "revert", "none", "sev3", False),
    ("payments-api", 6, "config", "deployment", "sev3", False),
    ("billing", 24, "rollback", "version", "sev2", False),
    ("customer-portal", 22, "hotfix", "deployment", "sev2", True),
)
# (service, hours before now, cause, severity, title, resolved after hours or None: still open)
_SCRIPTED_INCIDENTS: tuple[tuple[str, float, str, str, str, float | None], ...] = (
    ("checkout", 118, "external", "sev2", "Card payments failing: upstream PSP outage", 3.5),
    ("customer-portal", 5, "", "sev2", "Portal login intermittently returns 502", None),
)

_MEMBERS = {
    "payments": ("alice", "bob", "carol", "dmitri"),
    "discovery": ("erin", "farid", "grace", "hiro"),
    "legacy-core": ("ivan", "judy", "kemal"),
    "platform": ("lena", "mo", "nadia"),
}
_TOPICS = {
    "payments": (
        "refund idempotency keys",
        "3DS challenge flow",
        "settlement export",
        "currency rounding",
        "webhook retries",
        "ledger reconciliation",
        "card tokenisation",
        "payout batching",
        "fraud score threshold",
        "SEPA mandate handling",
    ),
    "discovery": (
        "typo tolerance",
        "ranking features",
        "embedding cache",
        "facet counts",
        "email digest",
        "push token refresh",
        "image lazy loading",
        "query suggestions",
        "recommendation carousel",
        "A/B bucket assignment",
    ),
    "legacy-core": (
        "invoice PDF layout",
        "SAP export",
        "VAT rules for 2026",
        "nightly batch job",
        "session timeout",
        "customer address form",
        "dunning letters",
        "credit note numbering",
        "EDI parser",
        "account merge",
    ),
    "platform": (
        "NAT gateway",
        "VPC peering",
        "node pool sizes",
        "ingress controller",
        "cert-manager",
        "CIDR ranges",
        "cluster autoscaler",
        "flow logs",
        "private DNS zones",
        "pod security admission",
    ),
}
_FEATURE_VERBS = ("Add", "Support", "Introduce", "Improve", "Speed up", "Refactor", "Migrate")
_BUG_VERBS = ("Fix", "Handle errors in", "Guard against timeouts in", "Correct")
_CHORES = ("Bump dependencies", "Update CODEOWNERS", "Fix typo in README", "Tidy CI cache keys")
_MONOREPO_FILES = {
    "search": (
        "services/search/api/handlers.py",
        "services/search/api/schema.py",
        "services/search/indexer/pipeline.py",
        "services/search/ranking/features.py",
        "services/search/ranking/model.py",
        "services/search/tests/test_ranking.py",
    ),
    "recs": (
        "services/recs/api/views.py",
        "services/recs/model/train.py",
        "services/recs/model/embeddings.py",
        "services/recs/jobs/refresh.py",
        "services/recs/tests/test_model.py",
    ),
}
_INCIDENT_TITLES = (
    "Elevated 5xx rate on {service}",
    "{service} p99 latency above SLO",
    "Errors in {service} after release",
    "{service} consumers lagging",
    "Customer reports: {service} unavailable",
)
_MAJOR = {
    "checkout": 3,
    "payments-api": 2,
    "ledger": 1,
    "search": 4,
    "recs": 0,
    "web": 5,
    "notifications": 1,
    "billing": 7,
    "erp-sync": 2,
    "customer-portal": 1,
    "network-stack": 0,
    "k8s-platform": 0,
}
