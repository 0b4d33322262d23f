"""GitHub credentials: a personal token from the environment, or a GitHub App's installation token.

A GitHub App signs a JWT with its private key (PyGithub's `github.Auth.AppAuth`) and trades it for
an installation access token (`GithubIntegration.get_access_token`, POST
/app/installations/{id}/access_tokens), valid one hour:
docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app/
authenticating-as-a-github-app-installation. The installation is the source's `installation_id`,
else the one of its `org` (GET /orgs/{org}/installation). The token is kept and reused by every
request until `RENEW_BEFORE` ahead of its `expires_at` on the injected clock (PyGithub's own
`AppInstallationAuth` renews 20 seconds ahead on the system clock, too late for a page loop that
may sleep through a rate-limit reset), and renewed at once when GitHub answers 401.

Minting goes through PyGithub (the JWT and the token exchange); the lists are read by
ingest.http's requests client, which sends `Authorization: token <installation token>`.
Installation tokens are cached per process, keyed by API root, app and installation, so the
sources and syncs of one installation share one token and one rate budget.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from github import Auth, GithubException, GithubIntegration

from ingest.http import Clock, SourceRejected, SourceUnavailable, StaticToken

if TYPE_CHECKING:
    from ingest.http import Credential
    from ingest.models import Source

RENEW_BEFORE = timedelta(minutes=5)
_INSTALLATIONS: dict[tuple[str, str, str], InstallationToken] = {}
_INSTALLATIONS_LOCK = threading.Lock()


class AppKeyProblem(Exception):
    """The App's private key cannot be read (variable unset, file unreadable, not a PEM key)."""


@dataclass(frozen=True)
class AppSettings:
    """A source's GitHub App settings (ingest.models.Source.app)."""

    app_id: int
    installation_id: int | None = None
    private_key_env: str = ""
    private_key_file: str = ""

    @classmethod
    def of(cls, app: dict[str, Any] | None) -> AppSettings | None:
        if not app or not app.get("app_id"):
            return None
        return cls(
            app_id=int(app["app_id"]),
            installation_id=int(app["installation_id"]) if app.get("installation_id") else None,
            private_key_env=app.get("private_key_env") or "",
            private_key_file=app.get("private_key_file") or "",
        )

    def private_key(self) -> str:
        """The PEM text, or AppKeyProblem saying what to fix."""
        if self.private_key_env:
            text = os.environ.get(self.private_key_env, "")
            if not text.strip():
                raise AppKeyProblem(
                    f"the environment variable {self.private_key_env} (private_key_env) is not "
                    "set: put the App's private key (PEM) in it"
                )
            text = text.replace("\\n", "\n")  # a PEM kept on one line with \n escapes
            where = f"the environment variable {self.private_key_env}"
        elif self.private_key_file:
            try:
                text = Path(self.private_key_file).read_text()
            except OSError as exc:
                raise AppKeyProblem(
                    f"private_key_file {self.private_key_file}: cannot be read "
                    f"({exc.strerror or exc}); give a readable PEM file"
                ) from exc
            where = f"private_key_file {self.private_key_file}"
        else:
            raise AppKeyProblem("give private_key_env (a variable holding the PEM) or a file")
        if "PRIVATE KEY-----" not in text:
            raise AppKeyProblem(f"{where} does not hold a PEM private key (-----BEGIN ...)")
        return text

    def app_auth(self) -> Auth.AppAuth:
        """PyGithub's App authentication; AppKeyProblem when the key cannot sign a JWT."""
        auth = Auth.AppAuth(self.app_id, self.private_key())
        try:
            auth.create_jwt()  # fails here, with a message, rather than on the first request
        except Exception as exc:  # noqa: BLE001 - PyJWT/cryptography raise several types
            raise AppKeyProblem(
                f"the App's private key cannot sign a JWT ({type(exc).__name__}: {exc})"
            ) from exc
        return auth


@dataclass
class InstallationToken:
    """An installation access token: minted on first use, reused, renewed before it expires."""

    base_url: str
    settings: AppSettings
    org: str = ""
    clock: Clock | None = None
    renew_before: timedelta = RENEW_BEFORE
    token: str = field(default="", repr=False)
    expires_at: datetime | None = None
    minted: int = 0  # how many tokens this credential asked for
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _auth: Auth.AppAuth | None = field(default=None, repr=False)

    @property
    def installation_id(self) -> int:
        if self.settings.installation_id is None:
            self.settings = AppSettings(
                app_id=self.settings.app_id,
                installation_id=self._call(lambda gi: gi.get_org_installation(self.org).id),
                private_key_env=self.settings.private_key_env,
                private_key_file=self.settings.private_key_file,
            )
        return self.settings.installation_id  # type: ignore[return-value]

    @property
    def budget_key(self) -> str:
        return f"github-app:{self.base_url}:{self.settings.app_id}:{self.installation_id}"

    def authorization(self) -> str:
        with self._lock:
            if not self.token or self._expiring():
                self._mint()
            return f"token {self.token}"

    def renew(self) -> bool:
        with self._lock:
            self._mint()
        return True

    def _now(self) -> datetime:
        seconds = self.clock.time() if self.clock is not None else datetime.now(UTC).timestamp()
        return datetime.fromtimestamp(seconds, UTC)

    def _expiring(self) -> bool:
        return self.expires_at is None or self._now() >= self.expires_at - self.renew_before

    def _mint(self) -> None:
        installation = self.installation_id
        granted = self._call(lambda gi: gi.get_access_token(installation))
        self.token, self.expires_at = granted.token, granted.expires_at
        self.minted += 1

    def _call(self, ask: Any) -> Any:
        """One PyGithub call as the App, its failures as SourceRejected/SourceUnavailable."""
        try:
            if self._auth is None:
                self._auth = self.settings.app_auth()
            # No PyGithub retries or pacing sleeps: ingest.http's policy retries the sync.
            integration = GithubIntegration(
                auth=self._auth,
                base_url=self.base_url,
                retry=0,
                seconds_between_requests=None,
                seconds_between_writes=None,
            )
            return ask(integration)
        except AppKeyProblem as exc:
            raise SourceRejected(f"GitHub App {self.settings.app_id}: {exc}") from exc
        except GithubException as exc:
            message = (exc.data or {}).get("message", "") if isinstance(exc.data, dict) else ""
            if exc.status >= 500:
                raise SourceUnavailable(f"GitHub App token: HTTP {exc.status} {message}") from exc
            hint = {
                401: "the app_id or the private key is wrong (GitHub refused the App's JWT)",
                404: f"the App is not installed on {self.org or 'that installation'}"
                + (" (or installation_id is wrong)" if self.settings.installation_id else ""),
            }.get(exc.status, "the App lacks a permission")
            raise SourceRejected(
                f"GitHub App {self.settings.app_id}: HTTP {exc.status} {message} ({hint})"
            ) from exc
        except requests.RequestException as exc:
            raise SourceUnavailable(f"GitHub App token: {exc}") from exc


def installation_token(
    base_url: str, settings: AppSettings, *, org: str = "", clock: Clock | None = None
) -> InstallationToken:
    """The process's installation token for (API root, app, installation or org): shared."""
    key = (base_url, str(settings.app_id), str(settings.installation_id or f"org:{org}"))
    with _INSTALLATIONS_LOCK:
        credential = _INSTALLATIONS.get(key)
        key_source = (settings.private_key_env, settings.private_key_file)
        if credential is None or key_source != (
            credential.settings.private_key_env,
            credential.settings.private_key_file,
        ):
            credential = _INSTALLATIONS[key] = InstallationToken(
                base_url, settings, org=org, clock=clock
            )
        elif clock is not None:
            credential.clock = clock
        return credential


def installation_tokens_forget() -> None:
    """Drop the cached installation tokens (tests)."""
    with _INSTALLATIONS_LOCK:
        _INSTALLATIONS.clear()


def source_credential(source: Source, *, clock: Clock | None = None) -> Credential:
    """What signs a GitHub source's requests: its App installation, else its token_env."""
    settings = AppSettings.of(source.app)
    if settings is None:
        return StaticToken(os.environ.get(source.token_env) or None, source.base_url)
    return installation_token(source.base_url, settings, org=source.org, clock=clock)


def app_problems(settings: AppSettings) -> list[str]:
    """What stops the App's key from signing (empty when it can): for the config check."""
    try:
        settings.app_auth()
    except AppKeyProblem as exc:
        return [str(exc)]
    return []
