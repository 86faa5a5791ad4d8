"""Named credentials, external credentials and remote site settings: Setup, in Python.

A callout's endpoint is either ``callout:<NamedCredential>/<path>`` or a URL that a
remote site setting allows (Apex Developer Guide, "Named Credentials as Callout
Endpoints" and "Adding Remote Site Settings"):

- ``NamedCredential``: a name, the service's URL, and optionally the
  ``ExternalCredential`` that authenticates it (the Winter '23 model: the named
  credential holds the URL, the external credential the protocol and the secrets). A
  callout through it needs no remote site setting, and the Apex code never sees the
  secret: the runtime adds the header to the request it sends, not to the
  ``HttpRequest`` the code holds.
- ``ExternalCredential.custom``: the "Custom" protocol. Its principal's authentication
  parameters hold the secrets; its custom headers are formulas that name them, as Setup
  shows them: ``{"X-Api-Key": "{!$Credential.CreditBureauAuth.ApiKey}"}``.
- ``ExternalCredential.oauth_client_credentials``: "OAuth 2.0" with the client
  credentials flow. The runtime gets a token from ``token_url`` when it has none or it
  has expired (by the sandbox clock), caches it, sends ``Authorization: Bearer <token>``
  (the named credential's "Generate Authorization Header"), and, when the service
  answers 401, gets a new token and tries once more, as the platform refreshes tokens.
- ``RemoteSiteSetting``: a URL whose scheme, host and port a plain-URL callout must
  match; "Disable Protocol Security" lets ``http`` and ``https`` match each other.

Names are API names (letters, digits, underscores, starting with a letter) and are
matched without regard to case. Not emulated: principals per user and the permission
sets that grant them (every user may use every principal), merge fields in headers or
bodies that the Apex code sets itself (they are sent as written), AWS Signature
Version 4, JWT and the other protocols, and client certificates.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Generic, TypeVar
from urllib.parse import urlsplit

API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
MERGE_FIELD = re.compile(r"\{!\$Credential\.([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)\}")
CUSTOM = "Custom"
OAUTH = "OAuth 2.0"
DEFAULT_PORTS = {"http": 80, "https": 443}


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not API_NAME.match(name):
        raise ValueError(
            f"{kind} name {name!r} must be an API name: letters, digits and "
            "underscores, starting with a letter"
        )


def _check_url(kind: str, url: str) -> None:
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"{kind} URL {url!r} must be an http:// or https:// URL")


def origin(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a URL, with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS[scheme]


@dataclasses.dataclass(frozen=True)
class ExternalCredential:
    """How callouts through a named credential authenticate, and with what secrets."""

    name: str
    protocol: str
    parameters: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)
    custom_headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    token_url: str = ""
    client_id: str = ""
    client_secret: str = dataclasses.field(default="", repr=False)
    scope: str = ""

    def __post_init__(self) -> None:
        _check_name("External credential", self.name)
        if self.protocol not in (CUSTOM, OAUTH):
            raise ValueError(f"protocol must be {CUSTOM!r} or {OAUTH!r}")
        for header, formula in self.custom_headers.items():
            for credential, parameter in MERGE_FIELD.findall(formula):
                if credential.lower() != self.name.lower():
                    raise ValueError(
                        f"Header {header}: {{!$Credential.{credential}...}} names "
                        f"another external credential than {self.name}"
                    )
                if parameter not in self.parameters:
                    raise ValueError(
                        f"Header {header}: {self.name} has no authentication "
                        f"parameter {parameter}"
                    )
        if self.protocol == OAUTH:
            _check_url("Token endpoint", self.token_url)

    @classmethod
    def custom(
        cls, name: str, *, parameters: Mapping[str, str], headers: Mapping[str, str]
    ) -> ExternalCredential:
        """The "Custom" protocol: secret parameters, and headers that merge them."""
        return cls(name, CUSTOM, dict(parameters), dict(headers))

    @classmethod
    def oauth_client_credentials(
        cls,
        name: str,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str = "",
    ) -> ExternalCredential:
        """The "OAuth 2.0" protocol, client credentials flow with a client secret."""
        return cls(
            name,
            OAUTH,
            token_url=token_url,
            client_id=client_id,
            client_secret=client_secret,
            scope=scope,
        )

    def resolved_headers(self) -> dict[str, str]:
        """The custom headers with their ``{!$Credential...}`` merge fields filled."""
        return {
            header: MERGE_FIELD.sub(lambda m: self.parameters[m.group(2)], formula)
            for header, formula in self.custom_headers.items()
        }


@dataclasses.dataclass(frozen=True)
class NamedCredential:
    """A callout endpoint's URL and, optionally, the external credential for it."""

    name: str
    url: str
    external_credential: str | None = None
    generate_authorization_header: bool = True

    def __post_init__(self) -> None:
        _check_name("Named credential", self.name)
        _check_url("Named credential", self.url)


@dataclasses.dataclass(frozen=True)
class RemoteSiteSetting:
    """A remote site a plain-URL callout may reach."""

    name: str
    url: str
    active: bool = True
    disable_protocol_security: bool = False

    def __post_init__(self) -> None:
        _check_name("Remote site", self.name)
        _check_url("Remote site", self.url)

    def allows(self, url: str) -> bool:
        """Does this site allow a callout to ``url`` (scheme, host and port)?"""
        if not self.active:
            return False
        scheme, host, port = origin(url)
        site_scheme, site_host, site_port = origin(self.url)
        if host != site_host:
            return False
        if self.disable_protocol_security:
            return port == site_port or {port, site_port} <= set(DEFAULT_PORTS.values())
        return scheme == site_scheme and port == site_port


Item = TypeVar("Item", NamedCredential, ExternalCredential, RemoteSiteSetting)


class SetupList(Generic[Item]):
    """One Setup page's records, by API name (case-insensitive)."""

    def __init__(self, kind: type[Item]) -> None:
        self._kind = kind
        self._items: dict[str, Item] = {}
        self._lock = threading.Lock()

    def add(self, item: Item) -> Item:
        """Save ``item``; one of the same name is replaced, as an edit in Setup."""
        if not isinstance(item, self._kind):
            raise TypeError(f"expected a {self._kind.__name__}, got {item!r}")
        with self._lock:
            self._items[item.name.lower()] = item
        return item

    def get(self, name: str) -> Item | None:
        with self._lock:
            return self._items.get(name.lower()) if isinstance(name, str) else None

    def remove(self, name: str) -> None:
        with self._lock:
            if self._items.pop(name.lower(), None) is None:
                raise KeyError(f"no {self._kind.__name__} is called {name!r}")

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[Item]:
        with self._lock:
            return iter(list(self._items.values()))

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __repr__(self) -> str:
        return f"<{self._kind.__name__}s {sorted(i.name for i in self)}>"


class NamedCredentials(SetupList[NamedCredential]):
    def __init__(self) -> None:
        super().__init__(NamedCredential)

    def new(
        self,
        name: str,
        url: str,
        external_credential: str | None = None,
        *,
        generate_authorization_header: bool = True,
    ) -> NamedCredential:
        """Create and save a named credential in one call."""
        return self.add(
            NamedCredential(
                name, url, external_credential, generate_authorization_header
            )
        )


class ExternalCredentials(SetupList[ExternalCredential]):
    def __init__(self) -> None:
        super().__init__(ExternalCredential)


class RemoteSiteSettings(SetupList[RemoteSiteSetting]):
    def __init__(self) -> None:
        super().__init__(RemoteSiteSetting)

    def new(
        self, name: str, url: str, *, disable_protocol_security: bool = False
    ) -> RemoteSiteSetting:
        """Create and save an active remote site setting in one call."""
        return self.add(
            RemoteSiteSetting(
                name, url, disable_protocol_security=disable_protocol_security
            )
        )

    def allows(self, url: str) -> bool:
        return any(site.allows(url) for site in self)


@dataclasses.dataclass
class OAuthToken:
    """An access token the runtime holds for an OAuth external credential."""

    access_token: str = dataclasses.field(repr=False)
    expires_at: datetime | None
