"""Serve an ASGI app over HTTPS with uvicorn in a background thread of this process."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

log = logging.getLogger(__name__)


class SandboxStartError(RuntimeError):
    """The sandbox could not start; the message says why and what to try."""


class BackgroundServer:
    """One uvicorn server on 127.0.0.1 and a port the OS chose, in a daemon thread.

    With a certificate it serves HTTPS (every Salesforce endpoint); without one, plain
    HTTP, for a site that only loopback reaches.
    """

    def __init__(
        self,
        app: Any,
        name: str,
        cert_file: Path | None = None,
        key_file: Path | None = None,
    ) -> None:
        self.app = app
        self.name = name
        self._config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            ssl_certfile=str(cert_file) if cert_file else None,
            ssl_keyfile=str(key_file) if key_file else None,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            loop="asyncio",
            http="h11",
            ws="none",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(self._config)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.port = 0

    def start(self, timeout: float = 10.0, port: int = 0) -> int:
        """Listen, and return the port once the server answers connections.

        ``port`` 0 lets the OS choose; a given port is for listening again where a
        stopped server listened (a system brought back up after refusing connections).
        """
        try:
            # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say
            # they are TCP, and without it every reused connection waits ~40 ms on
            # Nagle's algorithm and delayed ACKs.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            if port:
                # The old server's closed connections may still be in TIME_WAIT.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
        except OSError as error:
            raise SandboxStartError(
                f"{self.name}: could not open a port on 127.0.0.1 ({error}). Is "
                "loopback networking available in this environment?"
            ) from error
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name=f"sfsandbox-{self.name}", daemon=True
        )
        self._thread.start()

        deadline = time.monotonic() + timeout
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                raise SandboxStartError(
                    f"{self.name}: the server stopped while starting: {self._error!r}"
                ) from self._error
            if time.monotonic() > deadline:
                self.stop()
                raise SandboxStartError(
                    f"{self.name}: the server did not start within {timeout:.0f} s."
                )
            time.sleep(0.002)
        return self.port

    def _run(self, sock: socket.socket) -> None:
        try:
            self._config.load()
            asyncio.run(self._server.serve(sockets=[sock]))
        except BaseException as error:  # reported to start() and to the log
            self._error = error
            log.exception("%s server failed", self.name)
        finally:
            sock.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and free the port."""
        # Idle keep-alive connections from clients the learner still holds would make a
        # graceful shutdown wait for them; the sandbox has nothing left to finish.
        self._server.should_exit = True
        self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
