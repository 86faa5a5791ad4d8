"""One Salesforce org: its metadata, records, connected app and REST API."""

from __future__ import annotations

import ssl
from functools import cached_property

import httpx
import requests

from sfsandbox.org.auth import Auth, ConnectedApp
from sfsandbox.org.ids import IdFactory
from sfsandbox.org.rest import API_VERSION, OrgApp
from sfsandbox.org.schema import Schema
from sfsandbox.org.store import Store
from sfsandbox.runtime.clock import SimulatedClock

INTEGRATION_USERNAME = "integration@sfsandbox.example"


class Org:
    """A Salesforce org in memory, served over HTTPS by its ``Sandbox``.

    ``instance_url`` and the HTTP clients exist once the sandbox has started the server.
    """

    api_version = API_VERSION

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
        self.auth = Auth(seed, clock, self.org_id)
        self.connected_app: ConnectedApp = self.auth.register_app(
            "Course Integration", self.user_id
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
