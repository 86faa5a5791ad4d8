"""The sandbox: a Salesforce org (and, in later chapters, the systems around it) running
on loopback inside this Python process."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from sfsandbox.org.org import Org
from sfsandbox.runtime.clock import SimulatedClock
from sfsandbox.runtime.server import BackgroundServer, SandboxStartError
from sfsandbox.runtime.tls import SandboxCA
from sfsandbox.systems.credit_bureau import CreditBureau
from sfsandbox.systems.erp import ERP
from sfsandbox.systems.nightly import NightlySync
from sfsandbox.systems.outbound_listener import OutboundListener
from sfsandbox.systems.warehouse import Warehouse
from sfsandbox.systems.webform import WebForm

__all__ = ["Sandbox", "SandboxStartError"]


class Sandbox:
    """Every system of one sandbox, started together and stopped together.

    >>> sandbox = Sandbox.start(seed=0)      # doctest: +SKIP
    >>> sandbox.org.instance_url             # doctest: +SKIP
    'https://127.0.0.1:50123'
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.clock = SimulatedClock()
        self.org = Org(seed, self.clock)
        self.webform = WebForm(self.org)
        self.credit_bureau = CreditBureau(seed, self.clock)
        self.outbound_listener = OutboundListener(self.clock)  # the ERP's SOAP listener
        self._folder = Path(tempfile.mkdtemp(prefix="sfsandbox-"))
        # The data warehouse (DuckDB, a file in this folder) and its nightly sync,
        # which runs only once started: nightly_sync.start().
        self.warehouse = Warehouse(self._folder, self.clock)
        self.nightly_sync = NightlySync(self.warehouse, self.clock)
        # The ERP's order intake, a CometD subscriber: down until erp.up().
        self.erp = ERP(self.org, self.clock, self._folder)
        self.outbound_listener.add_route(
            "/erp/orders", self.erp.order_request, methods=["POST"]
        )
        self._servers: list[BackgroundServer] = []
        self.running = False

    @classmethod
    def start(cls, seed: int = 0) -> Sandbox:
        """Start a sandbox; it is ready to answer when this returns."""
        sandbox = cls(seed)
        try:
            sandbox._start()
        except BaseException:
            sandbox.stop()
            raise
        return sandbox

    def _start(self) -> None:
        try:
            self._ca = SandboxCA(self._folder)
        except OSError as error:
            raise SandboxStartError(
                f"Could not write the sandbox's certificates to {self._folder}: {error}"
            ) from error
        server = BackgroundServer(
            self.org.app, "org", self._ca.cert_file, self._ca.key_file
        )
        self._servers.append(server)
        port = server.start()
        self.org.bind(
            f"https://127.0.0.1:{port}", self.ca_file, self._ca.client_context()
        )
        site = BackgroundServer(self.webform.app, "webform")
        self._servers.append(site)
        self.webform.bind(f"http://127.0.0.1:{site.start()}", self.ca_file)
        # The bureau runs its own server: down(mode="refuse") stops and restarts it.
        self.credit_bureau.serve(self._ca.cert_file, self._ca.key_file, self.ca_file)
        self.outbound_listener.serve(self._ca.cert_file, self._ca.key_file)
        self.warehouse.bind(self.org)
        self.erp.bind(self._ca.client_context(), self.outbound_listener.base_url)
        self.running = True

    @property
    def ca_file(self) -> str:
        """The PEM file of the CA that signed every sandbox server's certificate."""
        return str(self._ca.ca_file)

    def stop(self) -> None:
        """Stop every server, free the ports and remove the keys."""
        self.erp.down()
        for server in self._servers:
            server.stop()
        self._servers.clear()
        self.org.close()
        self.webform.close()
        self.credit_bureau.close()
        self.outbound_listener.close()
        self.nightly_sync.stop()
        self.warehouse.close()
        self.erp.close()
        shutil.rmtree(self._folder, ignore_errors=True)
        self.running = False

    def __enter__(self) -> Sandbox:
        if not self.running:
            self._start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.org.instance_url if self.running else "stopped"
        return f"<Sandbox seed={self.seed} {state}>"
