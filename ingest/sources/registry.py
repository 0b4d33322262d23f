"""The providers ingest reads, by `kind`: as apply_config, the sync, webhooks and admin find them.

Each provider is one package, `ingest/sources/<kind>/`, whose `__init__.py` calls `register()`
with its `Provider`; the package is listed in `PROVIDER_PACKAGES` below, and that is the only
line outside the package a new provider needs (docs/SOURCES.md, "How to add a source").
Packages are imported on first use (`providers()`, `provider_for()`) and in
IngestConfig.ready, so importing this module imports no provider (and no Django model).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

    from dora.config import SourceSpec

# One line per provider package; each registers itself when imported.
PROVIDER_PACKAGES: tuple[str, ...] = (
    "ingest.sources.github",
    "ingest.sources.gitlab",
    "ingest.sources.git",
    "ingest.sources.pagerduty",
    "ingest.sources.opsgenie",
    "ingest.sources.terraform",
    "ingest.sources.atlantis",
    "ingest.sources.spacelift",
    "ingest.sources.env0",
    "ingest.sources.argocd",
    "ingest.sources.flux",
    "ingest.sources.cloudtrail",
)

Webhook = Callable[["HttpRequest", "str | None"], "HttpResponse"]
Sync = Callable[..., Any]  # (source, *, progress=, clock=, now=, client=) -> a SyncResult
ConfigCheck = Callable[["SourceSpec"], Sequence[str]]


@dataclass(frozen=True)
class Provider:
    """One provider: its mapper module and the callables the rest of ingest reaches it by.

    webhook(request, source_name or None): the view behind `POST /webhooks/<kind>[/<source>]`
    (None: the provider takes no webhooks). sync(source, **options): read a Source row into
    events, returning an object with `as_dict()` (None: nothing to poll). config_check(spec):
    the problems of one `sources:` entry of this kind beyond what the file reader checks
    (apply_config reports them and leaves that source as it was).
    """

    kind: str
    label: str
    mapper: ModuleType
    webhook: Webhook | None = None
    sync: Sync | None = None
    config_check: ConfigCheck | None = None


class UnknownProvider(LookupError):
    """No provider is registered for a kind; the message names the known ones."""

    def __init__(self, kind: str, known: Sequence[str]) -> None:
        self.kind = kind
        self.known = tuple(known)
        super().__init__(
            f"No source provider of kind {kind!r}; known kinds: {', '.join(known) or 'none'}."
        )


PROVIDERS: dict[str, Provider] = {}
_loaded = False


def register(provider: Provider) -> Provider:
    """Add a provider (called by its package's `__init__`); registering a kind twice with a
    different provider is a mistake and raises."""
    existing = PROVIDERS.get(provider.kind)
    if existing is not None and existing != provider:
        raise ValueError(f"A provider of kind {provider.kind!r} is already registered.")
    PROVIDERS[provider.kind] = provider
    return provider


def providers_load() -> None:
    """Import every package of PROVIDER_PACKAGES once (each registers itself)."""
    global _loaded
    if _loaded:
        return
    for package in PROVIDER_PACKAGES:
        importlib.import_module(package)
    _loaded = True


def providers() -> dict[str, Provider]:
    """Every registered provider by kind, sorted by kind."""
    providers_load()
    return dict(sorted(PROVIDERS.items()))


def provider_kinds() -> frozenset[str]:
    return frozenset(providers())


def provider_for(kind: str) -> Provider:
    """The provider of `kind`; UnknownProvider (naming the known kinds) when there is none."""
    known = providers()
    if kind not in known:
        raise UnknownProvider(kind, list(known))
    return known[kind]
