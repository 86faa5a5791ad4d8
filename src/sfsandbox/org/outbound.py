"""Outbound Messages (legacy): a workflow rule that sends records to a SOAP listener.

A lab defines an outbound message and the rule that sends it::

    rule = org.outbound.define(
        "OpportunityClosedWon",
        "Opportunity",
        fields=["Name", "Amount", "StageName", "AccountId"],
        endpoint_url=sandbox.outbound_listener.url,
        field="StageName",
        value="Closed Won",            # or when=lambda record: ...
    )
    org.outbound.wsdl_url("OpportunityClosedWon")   # the WSDL a listener is built from
    ...                                             # an Opportunity becomes Closed Won
    org.outbound.deliver_due()                      # send what is due now
    sandbox.clock.advance(minutes=5)                # due retries are sent on the way
    org.outbound.queue()                            # Setup's "Outbound Messages" view

What the sandbox follows, from the SOAP API Developer Guide:

- the rule is evaluated after the save's triggers, in the same transaction, and fires
  when a record is created meeting the criteria or is edited to meet them ("created,
  and every time it's edited to subsequently meet criteria"); a notification is queued
  only if the transaction commits;
- the SOAP message is the outbound WSDL's ``notifications`` element (namespace
  ``http://soap.sforce.com/2005/09/outbound``: ``OrganizationId``, ``ActionId``,
  ``SessionId`` (nil unless the definition sends it), ``EnterpriseUrl``,
  ``PartnerUrl`` and up to 100 ``Notification`` elements of ``Id`` and ``sObject``),
  with each record's data as it is when the message is sent; the listener answers
  ``notificationsResponse`` with ``Ack`` true, which acknowledges every notification
  in the message (https://developer.salesforce.com/docs/platform/api/guide/sforce-api-om-outboundmessaging-wsdl.html);
- when the listener is down or answers anything else (a fault, junk, ``Ack`` false),
  the notifications stay queued and are retried, with intervals growing
  exponentially up to two hours, until they are 24 hours old; then they are dropped.
  Retries do not keep queue order, so notifications may arrive out of order, and more
  than once (https://developer.salesforce.com/docs/atlas.en-us.246.0.api.meta/api/sforce_api_om_outboundmessaging_notifications.htm);
- listeners should check ``OrganizationId``; the session ID travels only over HTTPS
  (https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_security.htm).

The exact intervals are not documented. The sandbox's choice: the first retry 30
seconds after the first failed attempt, then each gap doubles (1, 2, 4 ... minutes)
up to 2 hours; a notification that reaches 24 hours of age undelivered is dropped
at that moment, without another attempt. Notifications due at the same moment travel
together, up to 100 per message, oldest first; a new notification does not wait for
older ones that are waiting for their retry, which is how newer data can overtake
older data. All of it runs on the simulated clock: ``deliver_due()`` sends what is
due now, and ``sandbox.clock.advance(...)`` stops at each due moment on its way.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import ParseError
from xml.sax.saxutils import escape, quoteattr

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from sfsandbox.apex.callout import is_loopback
from sfsandbox.apex.transaction import current_transaction
from sfsandbox.runtime.clock import format_datetime

if TYPE_CHECKING:
    from sfsandbox.org.org import Org
    from sfsandbox.org.schema import Field

logger = logging.getLogger(__name__)

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
ENTERPRISE_NS = "urn:enterprise.soap.sforce.com"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
MAX_NOTIFICATIONS = 100  # per SOAP message [50]
FIRST_RETRY = timedelta(seconds=30)  # the sandbox's choice (not documented)
MAX_RETRY_INTERVAL = timedelta(hours=2)  # [49]
MAX_AGE = timedelta(hours=24)  # [49]
SEND_TIMEOUT_S = 10.0
DEFINITION_PREFIX = "04k"  # an outbound message definition (ActionId)
NOTIFICATION_PREFIX = "04l"  # one queued notification
XSD_TYPES = {
    "id": "ent:ID",
    "reference": "ent:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}


@dataclasses.dataclass
class OutboundMessageRule:
    """An outbound message definition and the workflow rule that sends it."""

    name: str
    sobject: str
    fields: tuple[str, ...]  # Id first, then the chosen fields
    endpoint_url: str
    criteria: Callable[[dict[str, Any]], bool]
    action_id: str
    include_session_id: bool = False
    active: bool = True


@dataclasses.dataclass
class OutboundNotification:
    """One queued notification: a record to send for a rule, and its delivery."""

    Id: str
    rule: str
    record_id: str
    created: datetime
    next_attempt: datetime
    status: str = "Queued"  # "Queued", "Delivered" or "Dropped"
    attempts: int = 0
    last_error: str | None = None
    attempted_at: list[datetime] = dataclasses.field(default_factory=list)
    delivered_at: datetime | None = None

    def row(self) -> dict[str, Any]:
        """The notification as Setup's Outbound Messages queue shows it."""
        return {
            "Id": self.Id,
            "Rule": self.rule,
            "RecordId": self.record_id,
            "Status": self.status,
            "Attempts": self.attempts,
            "Created": format_datetime(self.created),
            "NextAttempt": (
                format_datetime(self.next_attempt) if self.status == "Queued" else None
            ),
            "LastError": self.last_error,
        }


@dataclasses.dataclass(frozen=True)
class DeliveryAttempt:
    """One SOAP message sent to a listener, and how it went."""

    at: datetime
    rule: str
    notification_ids: tuple[str, ...]
    delivered: bool
    error: str | None


def retry_interval(failures: int) -> timedelta:
    """The wait after the ``failures``-th failed attempt: 30 s, doubling, at most
    2 hours (the doubling and the 30 s are the sandbox's choice)."""
    return min(FIRST_RETRY * 2 ** (failures - 1), MAX_RETRY_INTERVAL)


class OutboundMessages:
    """``org.outbound``: the org's outbound message rules and their delivery queue.

    It is a listener of the simulated clock: advancing the clock past a due moment
    sends what is due then.
    """

    def __init__(self, org: Org) -> None:
        self.org = org
        self._rules: dict[str, OutboundMessageRule] = {}
        self._notifications: list[OutboundNotification] = []
        self.attempts: list[DeliveryAttempt] = []
        self._lock = threading.RLock()

    # --- Setup ------------------------------------------------------------------------

    def define(
        self,
        name: str,
        sobject: str,
        fields: Iterable[str],
        endpoint_url: str,
        *,
        when: Callable[[dict[str, Any]], bool] | None = None,
        field: str | None = None,
        value: Any = None,
        include_session_id: bool = False,
    ) -> OutboundMessageRule:
        """Define an outbound message and its rule: when a record of ``sobject``
        is created meeting the criteria, or edited to meet them, send ``fields``
        (and ``Id``) to ``endpoint_url``. The criteria are ``when(record)`` or
        "``field`` equals ``value``". Defining a name again replaces it."""
        described = self.org.schema.get(sobject)
        if described is None:
            raise ValueError(f"Unknown sObject type {sobject!r}")
        if not name.isidentifier():
            raise ValueError(f"An outbound message name is an API name, not {name!r}")
        chosen = ["Id"]
        for wanted in fields:
            f = described.field(wanted)
            if f is None:
                raise ValueError(f"{described.name} has no field {wanted!r}")
            if f.name not in chosen:
                chosen.append(f.name)
        if (when is None) == (field is None):
            raise ValueError("Give the criteria as when=... or as field=, value=")
        if when is None:
            criteria_field = described.field(field or "")
            if criteria_field is None:
                raise ValueError(f"{described.name} has no field {field!r}")

            def when(record: dict[str, Any], _name: str = criteria_field.name) -> bool:
                return record.get(_name) == value

        rule = OutboundMessageRule(
            name,
            described.name,
            tuple(chosen),
            endpoint_url,
            when,
            self.org.ids.new(DEFINITION_PREFIX),
            include_session_id,
        )
        with self._lock:
            self._rules[name] = rule
        return rule

    def rule(self, name: str) -> OutboundMessageRule:
        with self._lock:
            return self._rules[name]

    @property
    def rules(self) -> list[OutboundMessageRule]:
        with self._lock:
            return list(self._rules.values())

    def remove(self, name: str) -> None:
        """Delete a rule; its queued notifications are dropped."""
        with self._lock:
            self._rules.pop(name, None)
            for notification in self._notifications:
                if notification.rule == name and notification.status == "Queued":
                    notification.status = "Dropped"
                    notification.last_error = "The outbound message was deleted"

    def clear(self) -> None:
        """Forget every rule, notification and attempt."""
        with self._lock:
            self._rules.clear()
            self._notifications.clear()
            self.attempts.clear()

    # --- the workflow rule (runs after the save's triggers) ---------------------------

    def on_save(
        self,
        sobject: str,
        event: str,
        new: list[dict[str, Any]],
        old: list[dict[str, Any]] | None,
    ) -> None:
        """Evaluate the rules on a saved chunk; queue notifications after commit."""
        rules = [r for r in self.rules if r.active and r.sobject == sobject]
        if not rules:
            return
        before = {record["Id"]: record for record in old or []}
        matched: list[tuple[str, str]] = []
        for rule in rules:
            for record in new:
                previous = before.get(record["Id"])
                if rule.criteria(record) and (
                    previous is None or not rule.criteria(previous)
                ):
                    matched.append((rule.name, record["Id"]))
        if matched:
            transaction = current_transaction("An outbound message rule")
            transaction.after_commit(lambda: self._queue(matched))

    def _queue(self, matched: list[tuple[str, str]]) -> None:
        now = self.org.clock.now()
        with self._lock:
            for rule, record_id in matched:
                self._notifications.append(
                    OutboundNotification(
                        self.org.ids.new(NOTIFICATION_PREFIX), rule, record_id, now, now
                    )
                )

    # --- delivery ---------------------------------------------------------------------

    def next_due(self) -> datetime | None:
        """The earliest moment a queued notification is due (the clock asks)."""
        with self._lock:
            due = [n.next_attempt for n in self._notifications if n.status == "Queued"]
        return min(due, default=None)

    def on_due(self, now: datetime) -> None:
        self.deliver_due()

    def deliver_due(self) -> list[DeliveryAttempt]:
        """Send every notification due now, up to 100 per message per rule; drop
        those 24 hours old. Returns the messages sent."""
        now = self.org.clock.now()
        with self._lock:
            due = [
                n
                for n in self._notifications
                if n.status == "Queued" and n.next_attempt <= now
            ]
            for notification in due:
                if now - notification.created >= MAX_AGE:
                    notification.status = "Dropped"
            due = [n for n in due if n.status == "Queued"]
            by_rule: dict[str, list[OutboundNotification]] = {}
            for notification in sorted(due, key=lambda n: n.created):
                by_rule.setdefault(notification.rule, []).append(notification)
            rules = dict(self._rules)
        sent: list[DeliveryAttempt] = []
        for name, waiting in by_rule.items():
            rule = rules.get(name)
            if rule is None:
                continue
            for start in range(0, len(waiting), MAX_NOTIFICATIONS):
                batch = waiting[start : start + MAX_NOTIFICATIONS]
                sent.append(self._send(rule, batch, now))
        return sent

    def _send(
        self,
        rule: OutboundMessageRule,
        batch: list[OutboundNotification],
        now: datetime,
    ) -> DeliveryAttempt:
        envelope = self.message(rule, batch)
        error = self._post(rule.endpoint_url, envelope)
        with self._lock:
            for notification in batch:
                notification.attempts += 1
                notification.attempted_at.append(now)
                if error is None:
                    notification.status = "Delivered"
                    notification.delivered_at = now
                    notification.last_error = None
                    continue
                notification.last_error = error
                retry = now + retry_interval(notification.attempts)
                # At 24 hours of age it is dropped, at that moment (see deliver_due).
                notification.next_attempt = min(retry, notification.created + MAX_AGE)
        attempt = DeliveryAttempt(
            now, rule.name, tuple(n.Id for n in batch), error is None, error
        )
        with self._lock:
            self.attempts.append(attempt)
        return attempt

    def _post(self, url: str, envelope: str) -> str | None:
        """POST the message; None if the listener acknowledged it, else why not.

        The wording of these errors is the sandbox's (UNVERIFIED: Setup's exact
        "Delivery Failure Reason" texts).
        """
        if not is_loopback(url):
            return f"Unable to reach {url}: the sandbox delivers only to loopback"
        try:
            answer = self.org.apex.client.post(
                url,
                content=envelope.encode(),
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
                timeout=SEND_TIMEOUT_S,
            )
        except httpx.HTTPError as error:
            return f"Unable to connect to {url}: {type(error).__name__}"
        return _ack_error(answer)

    # --- what a lab reads -------------------------------------------------------------

    def queue(self) -> list[dict[str, Any]]:
        """The notifications still queued, as Setup's Outbound Messages view lists
        them: Id, Rule, RecordId, Attempts, NextAttempt, LastError."""
        with self._lock:
            return [n.row() for n in self._notifications if n.status == "Queued"]

    def notifications(self, status: str | None = None) -> list[OutboundNotification]:
        """Every notification so far (optionally of one status), oldest first."""
        with self._lock:
            return [n for n in self._notifications if status in (None, n.status)]

    # --- the SOAP message and the WSDL ------------------------------------------------

    def message(
        self, rule: OutboundMessageRule, batch: list[OutboundNotification]
    ) -> str:
        """The SOAP envelope for ``batch``, with each record's data as stored now."""
        sobject = self.org.schema.get(rule.sobject)
        assert sobject is not None
        org = self.org
        session = (
            f"<SessionId>{escape(org.access_token())}</SessionId>"
            if rule.include_session_id
            else '<SessionId xsi:nil="true"/>'
        )
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV_NS}" '
            'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
            "<soapenv:Body>",
            f'<notifications xmlns="{OUTBOUND_NS}">',
            f"<OrganizationId>{org.org_id}</OrganizationId>",
            f"<ActionId>{rule.action_id}</ActionId>",
            session,
            f"<EnterpriseUrl>{escape(self._soap_url('c'))}</EnterpriseUrl>",
            f"<PartnerUrl>{escape(self._soap_url('u'))}</PartnerUrl>",
        ]
        for notification in batch:
            row = org.store.find(sobject, notification.record_id)
            values = org.store.to_json(sobject, row) if row else {}
            values["Id"] = notification.record_id
            parts.append(f"<Notification><Id>{notification.Id}</Id>")
            parts.append(
                f'<sObject xsi:type="sf:{sobject.name}" xmlns:sf="{SOBJECT_NS}">'
            )
            for name in rule.fields:
                text = _xml_value(values.get(name))
                if text is not None:
                    parts.append(f"<sf:{name}>{escape(text)}</sf:{name}>")
            parts.append("</sObject></Notification>")
        parts.append("</notifications></soapenv:Body></soapenv:Envelope>")
        return "".join(parts)

    def _soap_url(self, kind: str) -> str:
        org = self.org
        path = f"/services/Soap/{kind}/{org.api_version}/{org.org_id[:15]}"
        return org.instance_url + path

    def wsdl_url(self, name: str) -> str:
        """Where the sandbox serves the rule's outbound WSDL."""
        self.rule(name)
        return f"{self.org.instance_url}/sfsandbox/wsdl/outbound/{name}.wsdl"

    def wsdl(self, name: str) -> str:
        """The outbound WSDL of a rule, in the shape Setup's "Click for WSDL" gives."""
        rule = self.rule(name)
        sobject = self.org.schema.get(rule.sobject)
        assert sobject is not None
        elements = []
        for field_name in rule.fields[1:]:
            f = sobject.field(field_name)
            assert f is not None
            elements.append(
                f'<element name="{f.name}" nillable="true" minOccurs="0" '
                f'type="{_xsd_type(f)}"/>'
            )
        kind = sobject.name
        return WSDL_TEMPLATE.format(
            sobject=kind,
            fields="\n            ".join(elements),
            location=quoteattr(rule.endpoint_url),
        )


def _xsd_type(f: Field) -> str:
    return XSD_TYPES.get(f.type, "xsd:string")


def _xml_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _ack_error(answer: httpx.Response) -> str | None:
    """None when the answer is ``notificationsResponse`` with ``Ack`` true."""
    status = f"({answer.status_code}) {answer.reason_phrase}"
    try:
        root = fromstring(answer.content)
    except (ParseError, DefusedXmlException, ValueError):
        return f"{status}: the response is not XML"
    fault = root.find(f".//{{{SOAP_ENV_NS}}}Fault")
    if fault is not None:
        text = fault.findtext("faultstring") or ""
        return f"{status}: SOAP fault: {text}".rstrip()
    ack = root.find(f".//{{{OUTBOUND_NS}}}notificationsResponse/{{{OUTBOUND_NS}}}Ack")
    if answer.status_code != 200:
        return status
    if ack is None:
        return f"{status}: no notificationsResponse/Ack in the response"
    if (ack.text or "").strip().lower() not in ("true", "1"):
        return f"{status}: Ack is {ack.text!r}"
    return None


WSDL_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<!-- The outbound WSDL of one outbound message, as sfsandbox serves it. -->
<definitions targetNamespace="http://soap.sforce.com/2005/09/outbound"
    xmlns="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:ent="urn:enterprise.soap.sforce.com"
    xmlns:ens="urn:sobject.enterprise.soap.sforce.com"
    xmlns:tns="http://soap.sforce.com/2005/09/outbound">
  <types>
    <schema elementFormDefault="qualified" xmlns="http://www.w3.org/2001/XMLSchema"
        targetNamespace="urn:enterprise.soap.sforce.com">
      <simpleType name="ID">
        <restriction base="xsd:string">
          <length value="18"/>
          <pattern value="[a-zA-Z0-9]{{18}}"/>
        </restriction>
      </simpleType>
    </schema>
    <schema elementFormDefault="qualified" xmlns="http://www.w3.org/2001/XMLSchema"
        targetNamespace="urn:sobject.enterprise.soap.sforce.com">
      <import namespace="urn:enterprise.soap.sforce.com"/>
      <complexType name="sObject">
        <sequence>
          <element name="fieldsToNull" type="xsd:string" nillable="true"
              minOccurs="0" maxOccurs="unbounded"/>
          <element name="Id" type="ent:ID" nillable="true"/>
        </sequence>
      </complexType>
      <complexType name="{sobject}">
        <complexContent>
          <extension base="ens:sObject">
            <sequence>
            {fields}
            </sequence>
          </extension>
        </complexContent>
      </complexType>
    </schema>
    <schema elementFormDefault="qualified" xmlns="http://www.w3.org/2001/XMLSchema"
        targetNamespace="http://soap.sforce.com/2005/09/outbound">
      <import namespace="urn:enterprise.soap.sforce.com"/>
      <import namespace="urn:sobject.enterprise.soap.sforce.com"/>
      <element name="notifications">
        <complexType>
          <sequence>
            <element name="OrganizationId" type="ent:ID"/>
            <element name="ActionId" type="ent:ID"/>
            <element name="SessionId" type="xsd:string" nillable="true"/>
            <element name="EnterpriseUrl" type="xsd:string"/>
            <element name="PartnerUrl" type="xsd:string"/>
            <element name="Notification" maxOccurs="100"
                type="tns:{sobject}Notification"/>
          </sequence>
        </complexType>
      </element>
      <complexType name="{sobject}Notification">
        <sequence>
          <element name="Id" type="ent:ID"/>
          <element name="sObject" type="ens:{sobject}"/>
        </sequence>
      </complexType>
      <element name="notificationsResponse">
        <complexType>
          <sequence>
            <element name="Ack" type="xsd:boolean"/>
          </sequence>
        </complexType>
      </element>
    </schema>
  </types>
  <message name="notificationsRequest">
    <part element="tns:notifications" name="request"/>
  </message>
  <message name="notificationsResponse">
    <part element="tns:notificationsResponse" name="response"/>
  </message>
  <portType name="NotificationPort">
    <operation name="notifications">
      <documentation>Process a number of notifications.</documentation>
      <input message="tns:notificationsRequest"/>
      <output message="tns:notificationsResponse"/>
    </operation>
  </portType>
  <binding name="NotificationBinding" type="tns:NotificationPort">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <operation name="notifications">
      <soap:operation soapAction=""/>
      <input>
        <soap:body use="literal"/>
      </input>
      <output>
        <soap:body use="literal"/>
      </output>
    </operation>
  </binding>
  <service name="NotificationService">
    <documentation>Notification Service Implementation</documentation>
    <port binding="tns:NotificationBinding" name="Notification">
      <soap:address location={location}/>
    </port>
  </service>
</definitions>
"""
