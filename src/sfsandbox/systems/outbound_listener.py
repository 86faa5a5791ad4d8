"""The ERP's Outbound Message listener: a SOAP endpoint that acknowledges notifications.

Started with the sandbox at ``sandbox.outbound_listener.url`` (HTTPS, signed by the
sandbox CA). It reads each ``notifications`` message, records it, and answers as the
lab chooses:

- ``"ack"`` (the default): ``notificationsResponse`` with ``Ack`` true;
- ``"nack"``: ``Ack`` false (the org keeps the notifications and retries);
- ``"fault"``: a SOAP fault with HTTP 500;
- ``"junk"``: HTTP 200 with an HTML page instead of SOAP;
- ``down()``: the listener stops listening (connections are refused) until ``up()``.

Whatever it answers, a message that arrived is recorded: ``received`` lists the
messages in arrival order, ``notifications`` every notification in them, repeats
included. Processing each notification once (by its ``Id``) is the listener's own
job, and a lab exercise: the org may send the same notification again.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sfsandbox.runtime.clock import SimulatedClock
from sfsandbox.runtime.server import BackgroundServer

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MODES = ("ack", "nack", "fault", "junk")
XML_TYPE = "text/xml; charset=utf-8"
ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    "<soapenv:Body>"
    f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>{{ack}}</Ack>'
    "</notificationsResponse></soapenv:Body></soapenv:Envelope>"
)
FAULT = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    "<soapenv:Body><soapenv:Fault><faultcode>soapenv:Server</faultcode>"
    "<faultstring>{message}</faultstring></soapenv:Fault></soapenv:Body>"
    "</soapenv:Envelope>"
)
JUNK = "<html><body><h1>502 Bad Gateway</h1><p>The ERP is restarting.<br></body></html>"


@dataclasses.dataclass(frozen=True)
class ReceivedNotification:
    """One ``Notification`` as the listener read it."""

    Id: str
    sobject_type: str
    fields: dict[str, str]


@dataclasses.dataclass(frozen=True)
class ReceivedMessage:
    """One ``notifications`` message that reached the listener."""

    at: str  # the simulated time of arrival
    organization_id: str
    action_id: str
    session_id: str | None
    notifications: tuple[ReceivedNotification, ...]
    answered: str  # the mode the listener answered with


class OutboundListener:
    """The ERP-side SOAP listener for Outbound Messages (see the module's text)."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self.mode = "ack"
        self.fault_message = "ERP database is locked"
        self.url = ""
        self._down = False
        self._received: list[ReceivedMessage] = []
        self._rejected = 0
        self._lock = threading.Lock()
        self._server: BackgroundServer | None = None
        self._tls: tuple[Path, Path] | None = None
        self._port = 0
        self.app = Starlette(
            routes=[Route("/{path:path}", self._handle, methods=["POST"])]
        )

    # --- what a lab does -------------------------------------------------------------

    def answer(self, mode: str, fault_message: str | None = None) -> None:
        """Answer every message from now on with ``mode``: ack, nack, fault or junk."""
        if mode not in MODES:
            raise ValueError(f"mode is one of {', '.join(MODES)}, not {mode!r}.")
        with self._lock:
            self.mode = mode
            if fault_message is not None:
                self.fault_message = fault_message

    def down(self) -> None:
        """Stop listening: the org's deliveries find the connection refused."""
        with self._lock:
            self._down = True
        self._listen_as_needed()

    def up(self) -> None:
        """Listen again, at the same URL."""
        with self._lock:
            self._down = False
        self._listen_as_needed()

    @property
    def received(self) -> list[ReceivedMessage]:
        """Every message that arrived, in order, whatever the answer was."""
        with self._lock:
            return list(self._received)

    @property
    def notifications(self) -> list[ReceivedNotification]:
        """Every notification of every message, in arrival order, repeats included."""
        return [n for message in self.received for n in message.notifications]

    @property
    def rejected(self) -> int:
        """Requests that were not a readable ``notifications`` message."""
        with self._lock:
            return self._rejected

    def reset(self) -> None:
        """Forget what arrived; answer ``ack``; listen."""
        with self._lock:
            self._received.clear()
            self._rejected = 0
            self.mode = "ack"
            self._down = False
        self._listen_as_needed()

    # --- serving ---------------------------------------------------------------------

    def serve(self, cert_file: Path, key_file: Path) -> None:
        """Listen over HTTPS on a free port (called by the sandbox)."""
        self._tls = (cert_file, key_file)
        self._listen_as_needed()
        self.url = f"{self.base_url}/erp/outbound"

    @property
    def base_url(self) -> str:
        """The ERP server's origin, ``https://127.0.0.1:<port>``."""
        return f"https://127.0.0.1:{self._port}"

    def add_route(self, path: str, endpoint: Any, methods: list[str]) -> None:
        """Serve another of the ERP's endpoints on the same server (before the
        listener's own catch-all route), e.g. its order API."""
        self.app.router.routes.insert(0, Route(path, endpoint, methods=methods))

    def close(self) -> None:
        self._tls = None
        if self._server is not None:
            self._server.stop()
            self._server = None

    def _listen_as_needed(self) -> None:
        with self._lock:
            listen = self._tls is not None and not self._down
        if listen and self._server is None:
            assert self._tls is not None
            server = BackgroundServer(self.app, "outbound-listener", *self._tls)
            self._port = server.start(port=self._port)
            self._server = server
        elif not listen and self._server is not None:
            self._server.stop()
            self._server = None

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        message = _read(body, self.clock.now().isoformat())
        with self._lock:
            mode = self.mode
            if message is None:
                self._rejected += 1
            else:
                self._received.append(dataclasses.replace(message, answered=mode))
            fault_message = self.fault_message
        if message is None:
            text = FAULT.format(message="Not a notifications message")
            return Response(text, 500, media_type=XML_TYPE)
        if mode == "fault":
            return Response(
                FAULT.format(message=fault_message), 500, media_type=XML_TYPE
            )
        if mode == "junk":
            return Response(JUNK, 200, media_type="text/html")
        ack = "true" if mode == "ack" else "false"
        return Response(ACK.format(ack=ack), 200, media_type=XML_TYPE)


def _read(body: bytes, at: str) -> ReceivedMessage | None:
    try:
        root = fromstring(body)
    except (ParseError, DefusedXmlException, ValueError):
        return None
    found = root.find(f".//{{{OUTBOUND_NS}}}notifications")
    if found is None:
        return None

    def text(name: str) -> str:
        return (found.findtext(f"{{{OUTBOUND_NS}}}{name}") or "").strip()

    session = found.find(f"{{{OUTBOUND_NS}}}SessionId")
    nil = session is None or session.get(f"{{{XSI_NS}}}nil") == "true"
    notifications = tuple(
        _notification(item) for item in found.findall(f"{{{OUTBOUND_NS}}}Notification")
    )
    return ReceivedMessage(
        at,
        text("OrganizationId"),
        text("ActionId"),
        None if nil else (session.text or "") if session is not None else None,
        notifications,
        "",
    )


def _notification(item: Element) -> ReceivedNotification:
    sobject = item.find(f"{{{OUTBOUND_NS}}}sObject")
    fields: dict[str, Any] = {}
    kind = ""
    if sobject is not None:
        kind = (sobject.get(f"{{{XSI_NS}}}type") or "").split(":")[-1]
        for child in sobject:
            fields[child.tag.rsplit("}", 1)[-1]] = child.text or ""
    return ReceivedNotification(
        (item.findtext(f"{{{OUTBOUND_NS}}}Id") or "").strip(), kind, fields
    )
