"""The validated configuration: the frozen specs `config_load` returns, and `ConfigError`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from dora.models import (
    DEFAULT_TARGET_WINDOW,
    TARGET_IDLE_AFTER,
    Service,
)

DEFAULT_STALE_AFTER = timedelta(days=7)


@dataclass(frozen=True)
class AlertChannelSpec:
    """One of a team's `alerts:` channels (dora.alerts): email recipients, a Slack incoming
    webhook whose URL is in the variable `url_env`, or a JSON webhook at `url` (or in
    `url_env`) signed with the key in `secret_env`."""

    kind: str  # email | slack | webhook
    addresses: tuple[str, ...] = ()
    url: str | None = None
    url_env: str | None = None
    secret_env: str | None = None
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class TeamSpec:
    name: str
    members: tuple[str, ...] = ()
    timezone: str = "UTC"
    industry: str | None = None  # None: the organisation's (METRICS §3.6)
    alerts: tuple[AlertChannelSpec, ...] | None = None  # None: channels left as they are

    digest_to: tuple[str, ...] = ()  # extra addresses of the weekly digest (docs/DIGESTS.md)
    digest_enabled: bool = True
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class OrganisationSpec:
    """`organisation:` settings of the whole organisation."""

    industry: str | None = None  # None: "all" (METRICS §3.6)
    digest_to: tuple[str, ...] = ()  # the leadership digest's addresses (docs/DIGESTS.md)


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    team: str | None = None
    kind: str = Service.Kind.APP.value
    repos: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    infer_failures: bool = True
    depends_on: tuple[str, ...] = ()  # infra stacks it runs on
    line: int = field(default=0, compare=False)
    team_line: int = field(default=0, compare=False)
    depends_on_line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class EnvironmentSpec:
    name: str
    tier: str | None = None  # None: inferred from the name
    order: int | None = None  # None: the tier's default position
    stale_after: timedelta = DEFAULT_STALE_AFTER
    targets: tuple[str, ...] = ()
    target_idle_after: timedelta = TARGET_IDLE_AFTER
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class DeploymentsSpec:
    """How a source's deployments are found (`from`), filtered and mapped to our environments."""

    from_: tuple[str, ...] = ()
    workflow_pattern: str | None = None
    tag_pattern: str | None = None
    environments: tuple[tuple[str, str], ...] = ()  # (source environment name, ours)

    @property
    def environment_map(self) -> dict[str, str]:
        return dict(self.environments)


@dataclass(frozen=True)
class IncidentsSpec:
    label: str | None = None


@dataclass(frozen=True)
class StackSpec:
    """One `stacks:` rule of an IaC or GitOps source (ingest.sources.stacks): fnmatch patterns
    on the provider's names, and our service, environment and target they map to."""

    match: str
    service: str
    environment: str
    workspace: str | None = None
    target: str | None = None
    destination: str | None = None  # argocd: a pattern on <cluster>/<namespace>
    as_: str | None = None  # flux: deployment (default) | automation_run


@dataclass(frozen=True)
class CloudTrailAccountSpec:
    """One `accounts:` entry of a cloudtrail source: an AWS account id (12 digits) and the
    environment and service its changes land in, with the target each region stands for."""

    account: str
    environment: str
    service: str
    regions: tuple[tuple[str, str], ...] = ()  # (region, target), ...


@dataclass(frozen=True)
class SourceSpec:
    """An ingest source. Fields left out are None: the adapter's defaults apply."""

    name: str
    kind: str
    base_url: str | None = None
    token_env: str | None = None
    # github: a GitHub App instead of token_env (its installation's tokens, minted and renewed)
    app_id: int | None = None
    installation_id: int | None = None  # default: the org's installation
    private_key_env: str | None = None  # the variable holding the App's PEM key
    private_key_file: str | None = None  # or a file holding it
    org: str | None = None
    repos: tuple[str, ...] = ()
    # github org discovery: globs on repository names; archived repositories and forks are
    # left out unless these are true
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    include_archived: bool | None = None
    include_forks: bool | None = None
    group: str | None = None  # gitlab: every project of it (subgroups included)
    projects: tuple[str, ...] = ()  # gitlab: group/project, ...
    services: tuple[tuple[str, str], ...] = ()  # pagerduty/opsgenie: (their service id, ours), ...
    urgency_severity: tuple[tuple[str, str], ...] = ()  # pagerduty: (high|low, severity), ...
    priority_severity: tuple[tuple[str, str], ...] = ()  # opsgenie: (P1..P5, severity), ...
    alerts_tag: str | None = None  # opsgenie: alerts with this tag are incidents too
    interval: timedelta | None = None
    backfill: timedelta | None = None
    deployments: DeploymentsSpec | None = None
    incidents: IncidentsSpec | None = None
    webhook_secret_env: str | None = None
    # kind git: where the repository is (a path the worker reads in place, or a clone URL), the
    # repository's name, the revisions read (default HEAD), and tags read as deployments.
    path: str | None = None
    url: str | None = None
    repo: str | None = None
    branches: tuple[str, ...] = ()
    tags: str | None = None  # a regular expression: matching tags deploy `service`
    service: str | None = None
    environment: str | None = None  # where tags deploy to (default production)
    stacks: tuple[StackSpec, ...] = ()  # _STACK_SOURCE_KINDS: first matching rule wins
    # kind cloudtrail: the pipeline's principals (fnmatch patterns over ARNs), the accounts it
    # places, and the event sources left out (None: the mapper's default, STS and sign-in)
    pipeline_roles: tuple[str, ...] = ()
    accounts: tuple[CloudTrailAccountSpec, ...] = ()
    ignored_sources: tuple[str, ...] | None = None
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class CheckSpec:
    """One gate check's setting in a rule. mode None keeps the check's default severity."""

    name: str
    mode: str | None = None  # block | warn | off
    min_soak: timedelta | None = None
    stale_after: timedelta | None = None
    severity: str | None = None  # incident severity threshold (no_open_incidents)
    max_spread: int | None = None  # versions allowed live in `to` (target_rollout_complete)
    stacks: str | None = None  # depends_on | all (source_fresh, infra_parity)


@dataclass(frozen=True)
class GateDefaults:
    min_soak: timedelta | None = None
    stale_after: timedelta | None = None
    severity: str | None = None
    max_spread: int | None = None


@dataclass(frozen=True)
class GateRule:
    """Check settings for promotions matching service/from/to (None matches all)."""

    service: str | None = None
    from_env: str | None = None
    to_env: str | None = None
    checks: tuple[CheckSpec, ...] = ()
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class GatesSpec:
    defaults: GateDefaults = GateDefaults()
    rules: tuple[GateRule, ...] = ()


@dataclass(frozen=True)
class FigureTargetSpec:
    """A goal for one figure of CONTRACT §4, for a team or a service, over a rolling window."""

    figure: str
    team: str | None = None
    service: str | None = None
    below: float | None = None
    above: float | None = None
    window: timedelta = DEFAULT_TARGET_WINDOW
    line: int = field(default=0, compare=False)
    team_line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Config:
    filename: str = "dora.yml"
    teams: tuple[TeamSpec, ...] = ()
    services: tuple[ServiceSpec, ...] = ()
    environments: tuple[EnvironmentSpec, ...] = ()
    sources: tuple[SourceSpec, ...] = ()
    gates: GatesSpec | None = None
    targets: tuple[FigureTargetSpec, ...] = ()
    organisation: OrganisationSpec | None = None


class ConfigError(Exception):
    """The file is invalid; `errors` holds every problem as `file:line: message`."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))
