"""``org.apex``: the org's Apex runtime, its Setup for callouts, and its HTTP client.

A lab runs "Apex" in a transaction::

    with org.apex.transaction():
        res = Http().send(req)
        Database.insert("Task", {...})

or hands a function to ``org.apex.execute(fn, ...)``, which runs it in a transaction of
its own, as the platform runs one Apex entry point per transaction. Continuations go
through ``org.apex.invoke_continuation(action, ...)`` (``sfsandbox.apex.continuation``).
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx

from sfsandbox.apex.asynchronous import AsyncJobs
from sfsandbox.apex.callout import (
    DEFAULT_HEADERS,
    SIMULATED_LATENCY_HEADER,
    Exchange,
    HttpRequest,
    HttpResponse,
    Target,
    failure_of,
    is_loopback,
    latency_of,
)
from sfsandbox.apex.continuation import invoke
from sfsandbox.apex.credentials import (
    ExternalCredential,
    ExternalCredentials,
    NamedCredentials,
    OAuthToken,
    RemoteSiteSettings,
)
from sfsandbox.apex.exceptions import CalloutException
from sfsandbox.apex.transaction import ApexTransaction, api_call, running
from sfsandbox.apex.triggers import ApexTriggers

if TYPE_CHECKING:
    from sfsandbox.org.org import Org

# A token endpoint that sends no expires_in: the sandbox reuses its token for an hour.
DEFAULT_TOKEN_LIFETIME = timedelta(hours=1)
CHUNK = 64 * 1024


class ApexRuntime:
    """The Apex side of one org: transactions, and the Setup that callouts read."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.named_credentials = NamedCredentials()
        self.external_credentials = ExternalCredentials()
        self.remote_site_settings = RemoteSiteSettings()
        self.triggers = ApexTriggers(org)
        self.jobs = AsyncJobs(org)  # @future calls and Queueable jobs
        self._ssl_context: ssl.SSLContext | None = None
        self._client: httpx.Client | None = None
        self._tokens: dict[str, OAuthToken] = {}
        self._lock = threading.Lock()

    def bind(self, ssl_context: ssl.SSLContext) -> None:
        """Trust the sandbox CA (and nothing else) for callouts; called at start."""
        self._ssl_context = ssl_context

    # --- running Apex ----------------------------------------------------------------

    @contextmanager
    def transaction(self, *, asynchronous: bool = False) -> Iterator[ApexTransaction]:
        """One Apex transaction: commits at the end, rolls back on an exception."""
        with running(ApexTransaction(self.org, asynchronous=asynchronous)) as tx:
            yield tx

    @contextmanager
    def api_transaction(self) -> Iterator[ApexTransaction]:
        """The Apex transaction of one API call that writes records.

        It opens the store's transaction at once, so that everything the call and
        its triggers write commits (or rolls back) together, and runs the
        ``after_commit`` work (jobs, events) once it has committed. Inside a running
        Apex transaction it is that transaction. A Bulk API or SOAP writer wraps its
        writes in it and in ``triggers.saving()``.
        """
        with api_call(self.org) as tx:
            yield tx

    def execute(self, action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``action(*args, **kwargs)`` in a transaction of its own."""
        with self.transaction():
            return action(*args, **kwargs)

    def invoke_continuation(
        self, action: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        """Run an action that may return a ``Continuation``, its callouts and its
        callback (``@AuraEnabled(continuation=true)`` methods)."""
        return invoke(self, action, *args, **kwargs)

    # --- HTTP ------------------------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        """The callouts' HTTP client: no proxies from the environment, no redirects."""
        with self._lock:
            if self._client is None:
                verify: ssl.SSLContext | bool = self._ssl_context or True
                self._client = httpx.Client(
                    verify=verify, trust_env=False, follow_redirects=False
                )
            return self._client

    def exchange(
        self,
        method: str,
        target: Target,
        request: HttpRequest,
        timeout_ms: int,
        size_limit: int,
    ) -> Exchange:
        """Send ``request`` to ``target`` and read the answer, or say why not.

        An OAuth credential gets a token first; a 401 answer refreshes it and tries
        once more, adding both attempts' simulated latency.
        """
        if not is_loopback(target.url):
            return Exchange(None, failure="unreachable")
        exchange = self._attempt(method, target, request, timeout_ms, size_limit)
        if (
            target.bearer
            and exchange.response is not None
            and exchange.response.getStatusCode() == 401
            and target.credential is not None
        ):
            self._tokens.pop(target.credential.name.lower(), None)
            retry = self._attempt(method, target, request, timeout_ms, size_limit)
            return Exchange(
                retry.response, exchange.latency_ms + retry.latency_ms, retry.failure
            )
        return exchange

    def _attempt(
        self,
        method: str,
        target: Target,
        request: HttpRequest,
        timeout_ms: int,
        size_limit: int,
    ) -> Exchange:
        headers = {"User-Agent": f"SFDC-Callout/{self.org.api_version}"}
        headers.update(DEFAULT_HEADERS)
        headers.update(request.headers)
        if request.getCompressed():
            headers["Content-Encoding"] = "gzip"
        # The credential's headers win over any the code set: the code never decides
        # (or sees) the secret.
        headers.update(target.headers)
        if target.bearer and target.credential is not None:
            headers["Authorization"] = f"Bearer {self._token(target.credential)}"

        try:
            with self.client.stream(
                method,
                target.url,
                headers=headers,
                content=request.wire_body(),
                timeout=timeout_ms / 1000,
            ) as answer:
                latency = latency_of(answer)
                body = bytearray()
                for chunk in answer.iter_bytes(CHUNK):
                    body += chunk
                    if len(body) > size_limit:
                        return Exchange(None, latency, "size")
        except httpx.LocalProtocolError as error:
            raise CalloutException(f"Invalid request: {error}") from None
        except httpx.HTTPError as error:
            return Exchange(None, 0, failure_of(error))

        kept = {
            name: value
            for name, value in answer.headers.items()
            if name.lower() != SIMULATED_LATENCY_HEADER.lower()
        }
        response = HttpResponse(
            answer.status_code, answer.reason_phrase, kept, bytes(body)
        )
        return Exchange(response, latency)

    def _token(self, credential: ExternalCredential) -> str:
        """A current access token for an OAuth external credential."""
        key = credential.name.lower()
        now = self.org.clock.now()
        token = self._tokens.get(key)
        if token is not None and (token.expires_at is None or token.expires_at > now):
            return token.access_token
        if not is_loopback(credential.token_url):
            raise CalloutException(
                f"Unable to get an access token for {credential.name}: the token "
                "endpoint is not reachable"
            )
        form = {
            "grant_type": "client_credentials",
            "client_id": credential.client_id,
            "client_secret": credential.client_secret,
        }
        if credential.scope:
            form["scope"] = credential.scope
        try:
            answer = self.client.post(credential.token_url, data=form, timeout=10.0)
            value = answer.json() if answer.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            value = {}
        access_token = value.get("access_token") if isinstance(value, dict) else None
        if not isinstance(access_token, str) or not access_token:
            # UNVERIFIED wording: the platform's message for a failed token request.
            raise CalloutException(
                f"Unable to get an access token for {credential.name} from "
                f"{credential.token_url}"
            )
        lifetime = value.get("expires_in")
        expires = now + (
            timedelta(seconds=int(lifetime))
            if isinstance(lifetime, int | str) and str(lifetime).isdigit()
            else DEFAULT_TOKEN_LIFETIME
        )
        self._tokens[key] = OAuthToken(access_token, expires)
        return access_token

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
