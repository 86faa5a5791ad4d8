"""One Salesforce org: its metadata, records, connected app and REST API."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from datetime import timedelta
from functools import cached_property
from typing import Any

import httpx
import requests

from sfsandbox.apex.credentials import (
    ExternalCredentials,
    NamedCredentials,
    RemoteSiteSettings,
)
from sfsandbox.apex.runtime import ApexRuntime
from sfsandbox.org.apexrest import ApexRest, ApexRestResource
from sfsandbox.org.auth import Auth, ConnectedApp, UserCredentials
from sfsandbox.org.bulk import BulkApi
from sfsandbox.org.cometd import CometdServer
from sfsandbox.org.events import EventBus
from sfsandbox.org.ids import IdFactory
from sfsandbox.org.limits import OrgLimits
from sfsandbox.org.outbound import OutboundMessages
from sfsandbox.org.rest import API_VERSION, OrgApp
from sfsandbox.org.schema import Schema
from sfsandbox.org.store import Store, quote
from sfsandbox.runtime.clock import SimulatedClock

INTEGRATION_USERNAME = "integration@sfsandbox.example"
ORGANIZATION_NAME = "sfsandbox"


class Org:
    """A Salesforce org in memory, served over HTTPS by its ``Sandbox``.

    ``instance_url`` and the HTTP clients exist once the sandbox has started the server.
    """

    api_version = API_VERSION
    name = ORGANIZATION_NAME
    is_sandbox = False  # LoginResult.sandbox: this emulates a production-type org

    def __init__(self, seed: int, clock: SimulatedClock) -> None:
        self.seed = seed
        self.clock = clock
        self.ids = IdFactory(seed)
        self.schema = Schema()
        self.org_id = self.ids.new("00D")
        self.store = Store(self.schema, self.ids, clock)
        self.user_id = self._create_integration_user()
        self.store.user_id = self.user_id
        self.seed_counts = self.store.load_seed()
        self.auth = Auth(seed, clock, self.org_id, find_user=self.find_user)
        self.connected_app: ConnectedApp = self.auth.register_app(
            "Course Integration", self.user_id
        )
        self.integration_user: UserCredentials = self.auth.set_credentials(
            self.user_id, INTEGRATION_USERNAME
        )
        # Every user has the one profile the sandbox knows (no profiles are emulated).
        self.profile_id = self.ids.new("00e")
        self.apex_rest = ApexRest(self)
        self.apex = ApexRuntime(self)  # transactions, callouts, their Setup
        self.limits = OrgLimits(clock)  # the API request allocation, settable
        self.events = EventBus(self)  # Platform Events: publish, replay, triggers
        self.limits.live_allocations = self.events.allocations
        self.cometd = CometdServer(self)  # the Streaming API at /cometd/<version>
        # Outbound Messages: workflow rules after triggers, deliveries on the clock.
        self.outbound = OutboundMessages(self)
        self.apex.triggers.add_automation(self.outbound.on_save)
        clock.add_listener(self.outbound)
        self.bulk = BulkApi(self)  # Bulk API 2.0 jobs and their worker
        self.limits.counted["DailyBulkV2QueryJobs"] = lambda: (
            self.bulk.daily_query_jobs,
            self.bulk.query_jobs_used(),
        )
        self.app = OrgApp(self)
        self.instance_url = ""
        self._ca_file = ""
        self._ssl_context: ssl.SSLContext | None = None

    def _create_integration_user(self) -> str:
        user = self.schema.get("User")
        assert user is not None
        with self.store.transaction():
            return self.store.write_new(
                user,
                {
                    "Username": INTEGRATION_USERNAME,
                    "FirstName": "Integration",
                    "LastName": "User",
                    "Email": INTEGRATION_USERNAME,
                    "IsActive": True,
                },
            )

    def bind(self, instance_url: str, ca_file: str, context: ssl.SSLContext) -> None:
        """Called by the sandbox once the server listens."""
        self.instance_url = instance_url
        self._ca_file = ca_file
        self._ssl_context = context
        self.apex.bind(context)

    @property
    def client_id(self) -> str:
        """The connected app's consumer key."""
        return self.connected_app.client_id

    @property
    def client_secret(self) -> str:
        """The connected app's consumer secret."""
        return self.connected_app.client_secret

    @property
    def token_url(self) -> str:
        return f"{self.instance_url}/services/oauth2/token"

    @property
    def soap_url(self) -> str:
        """The partner SOAP endpoint that ``login()`` is posted to."""
        return f"{self.instance_url}/services/Soap/u/{self.api_version}"

    @property
    def partner_wsdl_url(self) -> str:
        """Where the sandbox serves its partner WSDL (login only), for zeep and others.

        A real org offers the WSDL for download in Setup (API > Generate Partner WSDL),
        not at an API URL; this sandbox-only path stands in for that download.
        """
        return f"{self.instance_url}/sfsandbox/wsdl/partner.wsdl"

    @property
    def session_timeout(self) -> timedelta:
        """How long a session may be idle before it ends (default two hours).

        Setup > Session Settings offers 15 and 30 minutes and 1, 2, 4, 8, 12 and 24
        hours; the sandbox takes any positive ``timedelta``. The value applies to
        sessions already open, at their next use.
        """
        return self.auth.session_timeout

    @session_timeout.setter
    def session_timeout(self, value: timedelta) -> None:
        self.auth.session_timeout = value

    def connected_app_certificate(self) -> tuple[str, str]:
        """Make a key pair and certificate for the JWT bearer flow; register the cert.

        Returns ``(key_pem, cert_pem)``: sign assertions with the key. The key is new
        on each call, lives only in memory, and replaces any earlier certificate.
        """
        return self.auth.new_certificate(self.connected_app)

    def register_certificate(self, cert_pem: str | bytes) -> None:
        """Register your own PEM certificate (RSA) on the connected app."""
        self.auth.register_certificate(self.connected_app, cert_pem)

    def find_user(self, username: str) -> dict[str, Any] | None:
        """The User record with this username (not deleted), as the API shows it."""
        user = self.schema.get("User")
        assert user is not None
        with self.store.lock:
            cursor = self.store.conn.execute(
                f"SELECT * FROM {quote(user.name)} "
                "WHERE Username = ? AND IsDeleted = 0",
                (username,),
            )
            row = cursor.fetchone()
            names = [d[0] for d in cursor.description]
        if row is None:
            return None
        values = dict(zip(names, row, strict=True))
        return self.store.to_json(user, values)

    def rest_resource(self, url_mapping: str) -> Callable[[type], type]:
        """Register a class as ``@RestResource(urlMapping=url_mapping)`` Apex REST.

        Use it as a class decorator; see ``sfsandbox.org.apexrest`` for the handlers.
        """

        def register(cls: type) -> type:
            self.apex_rest.register(url_mapping, cls)
            return cls

        return register

    def unregister_rest_resource(self, target: str | type) -> None:
        """Remove an Apex REST class, by its urlMapping or the class itself."""
        self.apex_rest.unregister(target)

    @property
    def rest_resources(self) -> list[ApexRestResource]:
        """The registered Apex REST classes."""
        return self.apex_rest.resources

    @property
    def named_credentials(self) -> NamedCredentials:
        """Setup > Named Credentials: ``callout:<Name>`` endpoints."""
        return self.apex.named_credentials

    @property
    def external_credentials(self) -> ExternalCredentials:
        """Setup > Named Credentials > External Credentials: callout authentication."""
        return self.apex.external_credentials

    @property
    def remote_site_settings(self) -> RemoteSiteSettings:
        """Setup > Remote Site Settings: the plain URLs a callout may reach."""
        return self.apex.remote_site_settings

    @property
    def cometd_url(self) -> str:
        """The Streaming API's CometD endpoint for this org's API version."""
        return f"{self.instance_url}/cometd/{self.api_version}"

    @property
    def data_url(self) -> str:
        """The REST API's base path for this org's API version."""
        return f"/services/data/v{self.api_version}"

    @cached_property
    def http(self) -> httpx.Client:
        """An httpx client for the org: base URL set, the sandbox CA trusted.

        It ignores proxy and CA-bundle environment variables (``trust_env=False``), so
        it works the same on a laptop whose ``SSL_CERT_FILE`` names another bundle.
        """
        return httpx.Client(
            base_url=self.instance_url, verify=self._ssl_context, trust_env=False
        )

    def requests_session(self, access_token: str | None = None) -> requests.Session:
        """A requests session that trusts the sandbox CA, e.g. for simple-salesforce.

        requests lets ``REQUESTS_CA_BUNDLE`` override a session's ``verify`` unless the
        session ignores the environment, so this one does.
        """
        session = requests.Session()
        session.trust_env = False
        session.verify = self._ca_file
        if access_token:
            session.headers["Authorization"] = f"Bearer {access_token}"
        return session

    def access_token(self) -> str:
        """A fresh access token from the client-credentials flow, as a lab shortcut."""
        response = self.http.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            },
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def close(self) -> None:
        if "http" in self.__dict__:
            self.http.close()
        self.bulk.close()
        self.apex.close()
        self.events.close()
