"""A certificate authority made when the sandbox starts, and the server's certificate.

Keys live only in a temporary folder of this sandbox and are removed when it stops.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme

SERVER_NAMES = ("127.0.0.1", "localhost", "::1")


class SandboxCA:
    """The sandbox's own CA, with one certificate for every loopback name."""

    def __init__(self, folder: Path) -> None:
        self._ca = trustme.CA(
            organization_name="sfsandbox", organization_unit_name="CA"
        )
        server = self._ca.issue_cert(*SERVER_NAMES)
        self.ca_file = folder / "sfsandbox-ca.pem"
        self.cert_file = folder / "server.pem"
        self.key_file = folder / "server-key.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_file))
        server.cert_chain_pems[0].write_to_path(str(self.cert_file))
        for pem in server.cert_chain_pems[1:]:
            pem.write_to_path(str(self.cert_file), append=True)
        server.private_key_pem.write_to_path(str(self.key_file))
        self.key_file.chmod(0o600)

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts this CA and nothing else."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        return context
