"""The org's event bus: Platform Event definitions, publishing, retention and replay.

A Platform Event is an sObject whose name ends in ``__e``. Publishing one (REST
``POST /sobjects/<Event>__e/``, or ``EventBus.publish`` in Apex) puts an *event message*
on the bus; subscribers (CometD clients, Apex triggers) receive the messages in replay
order. What the bus keeps follows the platform (Platform Events Developer Guide, see
``shared/reference/salesforce-facts.md`` section 4):

- each message gets a replay ID that grows but is opaque and not contiguous (the sandbox
  leaves seeded gaps, so code that computes IDs breaks here as it would on the
  platform), and an ``EventUuid``, both deterministic from the sandbox's seed;
- messages are kept for 72 hours of simulated time (``sandbox.clock``), then dropped;
- publishing spends the hourly publish allocation (LIMIT_EXCEEDED past it, and the
  message is not queued); delivering to CometD subscribers spends the rolling 24-hour
  delivery allocation. Both are settable for a lab::

      org.events.hourly_publish_limit = 5
      org.events.daily_delivery_limit = 3

- an Apex trigger on an event (``org.events.on("Order_Closed__e", handler)``) runs
  after publish, in its own transaction and its own thread, with up to 2,000 messages
  per batch; ``org.events.wait_for_triggers()`` waits until it has caught up.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sfsandbox.org import errors
from sfsandbox.org.schema import Field, SObjectType
from sfsandbox.runtime.clock import format_datetime

if TYPE_CHECKING:
    from sfsandbox.org.org import Org

log = logging.getLogger(__name__)

PUBLISH_AFTER_COMMIT = "PublishAfterCommit"
PUBLISH_IMMEDIATELY = "PublishImmediately"
PUBLISH_BEHAVIORS = (PUBLISH_AFTER_COMMIT, PUBLISH_IMMEDIATELY)

# High-volume events are kept 72 hours (reference sheet, section 4, [39][40]).
RETENTION = timedelta(hours=72)
# "Maximum event message size: 1 MB" (Platform Events Developer Guide, allocations).
MAX_EVENT_BYTES = 1_048_576
PUBLISH_WINDOW = timedelta(hours=1)
DELIVERY_WINDOW = timedelta(hours=24)
# Developer Edition allocations (reference sheet, section 4, [48]).
DEVELOPER_EDITION_HOURLY_PUBLISH = 50_000
DEVELOPER_EDITION_DAILY_DELIVERY = 10_000
# Event triggers receive batches of up to 2,000 messages (reference sheet, [42]).
TRIGGER_BATCH_SIZE = 2000

# A Long Text Area field on an event holds at most 131,072 characters.
LONG_TEXT_LENGTH = 131_072


def _event_fields() -> list[Field]:
    """The standard fields of every Platform Event (Platform Events Developer Guide,
    "Platform Event Fields"): ReplayId, EventUuid, CreatedDate, CreatedById."""
    read_only = {"createable": False, "updateable": False, "defaulted_on_create": True}
    return [
        Field("ReplayId", "Replay ID", "string", length=255, **read_only),
        Field("EventUuid", "Event UUID", "string", length=36, **read_only),
        Field(
            "CreatedDate",
            "Created Date",
            "datetime",
            nillable=False,
            **read_only,
        ),
        Field(
            "CreatedById",
            "Created By ID",
            "reference",
            length=18,
            nillable=False,
            reference_to=("User",),
            relationship_name="CreatedBy",
            **read_only,
        ),
    ]


def event_sobject(
    name: str,
    label: str,
    label_plural: str,
    key_prefix: str,
    custom_fields: Iterable[Field],
) -> SObjectType:
    """An event's sObject type: the standard event fields, then ``custom_fields``.

    Custom fields must end in ``__c``; events allow text, long text, number, date,
    date/time and checkbox fields (no lookups).
    """
    if not name.endswith("__e"):
        raise ValueError(f"A Platform Event's API name ends in __e: {name!r}")
    customs = []
    for f in custom_fields:
        if not f.name.endswith("__c"):
            raise ValueError(f"A custom event field's name ends in __c: {f.name!r}")
        if f.type in {"reference", "id", "picklist", "currency"}:
            raise ValueError(f"Platform Events have no {f.type} fields: {f.name!r}")
        customs.append(f if f.custom else _as_custom(f))
    return SObjectType(
        name,
        label,
        label_plural,
        key_prefix,
        (*_event_fields(), *customs),
        custom=True,
    )


def _as_custom(f: Field) -> Field:
    return Field(**{**f.__dict__, "custom": True})


def order_closed_sobject() -> SObjectType:
    """``Order_Closed__e``: published when an Opportunity closes; the ERP listens."""
    return event_sobject(
        "Order_Closed__e",
        "Order Closed",
        "Orders Closed",
        # Custom events get key prefixes starting e00 (observed in publish results;
        # how the platform numbers them per org is UNVERIFIED).
        "e00",
        [
            Field("Opportunity_Id__c", "Opportunity Id", "string", length=18),
            Field("Account_Id__c", "Account Id", "string", length=18),
            Field("Order_Number__c", "Order Number", "string", length=40),
            Field("Amount__c", "Amount", "double", precision=16, scale=2),
            Field("Close_Date__c", "Close Date", "date"),
            Field("Line_Items__c", "Line Items", "textarea", length=LONG_TEXT_LENGTH),
        ],
    )


@dataclass
class PlatformEventType:
    """A Platform Event definition: its sObject shape and its publish behaviour.

    ``publish_behavior`` is ``"PublishAfterCommit"`` (the default: an Apex publish
    takes effect only if the transaction commits) or ``"PublishImmediately"``; a lab
    may change it.
    """

    sobject: SObjectType
    publish_behavior: str = PUBLISH_AFTER_COMMIT
    schema_id: str = ""

    def __setattr__(self, name: str, value: Any) -> None:
        # Checked on every assignment, not only at definition: a lab sets it.
        if name == "publish_behavior" and value not in PUBLISH_BEHAVIORS:
            raise ValueError(
                f"publish_behavior is {PUBLISH_AFTER_COMMIT!r} or "
                f"{PUBLISH_IMMEDIATELY!r} (in Setup: Publish After Commit, Publish "
                f"Immediately), not {value!r}."
            )
        super().__setattr__(name, value)

    @property
    def name(self) -> str:
        return self.sobject.name

    @property
    def channel(self) -> str:
        """The CometD channel: ``/event/<Name>__e``."""
        return f"/event/{self.name}"

    def describe_global(self, version: str) -> dict[str, Any]:
        """The event's entry in ``GET /sobjects/``: createable, not queryable."""
        entry = self.sobject.describe_global(version)
        entry.update(
            {
                "createable": True,
                "deletable": False,
                "layoutable": False,
                "mergeable": False,
                "mruEnabled": False,
                "queryable": False,
                "replicateable": False,
                "retrieveable": False,
                "searchable": False,
                "triggerable": True,
                "undeletable": False,
                "updateable": False,
            }
        )
        base = self.sobject.url(version)
        entry["urls"] = {
            "eventSchema": f"{base}/eventSchema",
            "rowTemplate": f"{base}/{{ID}}",
            "describe": f"{base}/describe",
            "sobject": base,
        }
        return entry

    def describe(self, version: str) -> dict[str, Any]:
        """``GET /sobjects/<Event>__e/describe``."""
        result = self.sobject.describe(version)
        result.update(self.describe_global(version))
        for f in result["fields"]:
            f["updateable"] = False
            f["filterable"] = False
            f["sortable"] = False
            f["groupable"] = False
        result["supportedScopes"] = []
        return result

    def event_schema(self) -> dict[str, Any]:
        """``GET /sobjects/<Event>__e/eventSchema``: the Avro schema of the payload.

        The field list follows the JSON payload CometD delivers (the platform's own
        Avro names and unions may differ in detail: UNVERIFIED).
        """
        avro = {
            "datetime": "long",
            "date": "int",
            "double": "double",
            "int": "int",
            "boolean": "boolean",
        }
        fields = []
        for f in self.sobject.fields:
            if f.name in {"ReplayId", "EventUuid"}:
                continue
            kind = avro.get(f.type, "string")
            fields.append({"name": f.name, "type": ["null", kind], "default": None})
        return {
            "name": self.name,
            "namespace": "com.sforce.eventbus",
            "type": "record",
            "fields": fields,
            "uuid": self.schema_id,
        }


@dataclass(frozen=True)
class EventMessage:
    """One published event message, as the bus keeps it."""

    event_type: str
    id: str  # the publish result's ID: not delivered, not unique across time
    replay_id: int
    event_uuid: str
    created_date: datetime
    created_by_id: str
    fields: dict[str, Any] = field(default_factory=dict)  # custom fields, JSON form

    @property
    def channel(self) -> str:
        return f"/event/{self.event_type}"

    def payload(self) -> dict[str, Any]:
        """The CometD ``data.payload``: CreatedDate, CreatedById and custom fields."""
        created = self.created_date
        return {
            "CreatedDate": created.strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{created.microsecond // 1000:03d}Z",
            "CreatedById": self.created_by_id,
            **self.fields,
        }

    def cometd_data(self, schema_id: str) -> dict[str, Any]:
        """The ``data`` of the CometD message that delivers this event."""
        return {
            "schema": schema_id,
            "payload": self.payload(),
            "event": {"replayId": self.replay_id, "EventUuid": self.event_uuid},
        }

    def record(self) -> dict[str, Any]:
        """The event as an Apex trigger's ``Trigger.new`` holds it."""
        return {
            "attributes": {"type": self.event_type},
            "ReplayId": str(self.replay_id),
            "EventUuid": self.event_uuid,
            "CreatedDate": format_datetime(self.created_date),
            "CreatedById": self.created_by_id,
            **self.fields,
        }


@dataclass(frozen=True)
class PendingEvent:
    """An event published after commit: checked, its Id and EventUuid drawn, waiting
    for its transaction to commit."""

    event_type: PlatformEventType
    fields: dict[str, Any]
    id: str
    event_uuid: str


@dataclass
class EventTrigger:
    """An Apex ``after insert`` trigger on a Platform Event."""

    event_type: str
    handler: Callable[[list[dict[str, Any]]], Any]
    batch_size: int = TRIGGER_BATCH_SIZE
    batches: int = 0


@dataclass(frozen=True)
class TriggerError:
    """An exception that escaped an event trigger: the batch's transaction rolled
    back. Kept for the lab to show; never printed from the trigger's thread."""

    event_type: str
    replay_ids: tuple[int, ...]
    error: str


class EventBus:
    """The org's event bus (``org.events``): definitions, publishing, replay."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.clock = org.clock
        self.hourly_publish_limit = DEVELOPER_EDITION_HOURLY_PUBLISH
        self.daily_delivery_limit = DEVELOPER_EDITION_DAILY_DELIVERY
        self._rng = random.Random(f"sfsandbox-events-{org.seed}")
        self._next_replay_id = self._rng.randrange(10_000, 90_000)
        self._types: dict[str, PlatformEventType] = {}
        self._log: dict[str, deque[EventMessage]] = {}
        self._highest: dict[str, int] = {}
        self._published: deque[datetime] = deque()
        self._delivered: deque[tuple[datetime, int]] = deque()
        self._listeners: list[Callable[[EventMessage], None]] = []
        self._lock = threading.RLock()
        self._triggers: dict[str, list[EventTrigger]] = {}
        self._trigger_queue: deque[tuple[EventTrigger, EventMessage]] = deque()
        self._trigger_wakeup = threading.Condition(self._lock)
        self._trigger_thread: threading.Thread | None = None
        self._trigger_busy = False
        self._closed = False
        self.trigger_errors: list[TriggerError] = []
        self.dropped: list[tuple[PendingEvent, str]] = []
        self.define(order_closed_sobject())

    # --- definitions -----------------------------------------------------------------

    def define(
        self, sobject: SObjectType, publish_behavior: str = PUBLISH_AFTER_COMMIT
    ) -> PlatformEventType:
        """Add a Platform Event definition (see ``event_sobject``)."""
        if publish_behavior not in PUBLISH_BEHAVIORS:
            raise ValueError(f"publish_behavior is one of {PUBLISH_BEHAVIORS}")
        with self._lock:
            if self.get(sobject.name) is not None:
                raise ValueError(f"{sobject.name} is already defined")
            schema_id = "".join(
                self._rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
                for _ in range(22)
            )
            event_type = PlatformEventType(sobject, publish_behavior, schema_id)
            self._types[sobject.name] = event_type
            self._log[sobject.name] = deque()
        return event_type

    def get(self, name: str) -> PlatformEventType | None:
        """The event definition called ``name`` (without regard to case), or None."""
        lower = name.lower()
        for event_type in self._types.values():
            if event_type.name.lower() == lower:
                return event_type
        return None

    def __getitem__(self, name: str) -> PlatformEventType:
        event_type = self.get(name)
        if event_type is None:
            raise KeyError(name)
        return event_type

    @property
    def types(self) -> list[PlatformEventType]:
        """Every event definition, by name."""
        return sorted(self._types.values(), key=lambda t: t.name)

    def by_channel(self, channel: str) -> PlatformEventType | None:
        """The event definition behind ``/event/<Name>__e`` (exact case), or None."""
        if not channel.startswith("/event/"):
            return None
        event_type = self._types.get(channel[len("/event/") :])
        return event_type

    # --- publishing ------------------------------------------------------------------

    def check(
        self, name: str, values: Mapping[str, Any]
    ) -> tuple[PlatformEventType, dict[str, Any]]:
        """Validate one event's values as a publish would: the type, each field, the
        1 MB size. Returns the definition and the custom field values (JSON form)."""
        event_type = self.get(name)
        if event_type is None:
            raise errors.NotFound()
        checked = self.org.store.check_values(event_type.sobject, dict(values), True)
        fields = {
            f.name: _json_value(checked.get(f.name))
            for f in event_type.sobject.fields
            if f.custom
        }
        size = len(json.dumps(fields, ensure_ascii=False).encode())
        if size > MAX_EVENT_BYTES:
            # The code is the platform's for a refused publish; the wording is the
            # sandbox's (UNVERIFIED).
            raise errors.LimitExceeded(
                f"The event message is {size:,} bytes; the maximum event size is "
                f"1 MB ({MAX_EVENT_BYTES:,} bytes).",
                [],
            )
        return event_type, fields

    def publish(
        self, name: str, values: Mapping[str, Any], created_by_id: str | None = None
    ) -> EventMessage:
        """Check and publish one event now; the message as the bus keeps it.

        Raises the platform's error (``NotFound``, ``InvalidField``, ``LimitExceeded``
        ...) and stores nothing when the event is refused.
        """
        event_type, fields = self.check(name, values)
        return self.enqueue(event_type, fields, created_by_id)

    def enqueue(
        self,
        event_type: PlatformEventType,
        fields: dict[str, Any],
        created_by_id: str | None = None,
        reserved: PendingEvent | None = None,
    ) -> EventMessage:
        """Put an already checked event on the bus (spends the publish allocation)."""
        now = self.clock.now()
        with self._lock:
            self._prune(now)
            self._check_publish_allocation()
            self._published.append(now)
            replay_id = self._next_replay_id
            # Gaps of 1 to 6: replay IDs grow, but never by a predictable step.
            self._next_replay_id += self._rng.randint(1, 6)
            if reserved is None:
                reserved = self._reserve_ids(event_type, fields)
            message = EventMessage(
                event_type.name,
                reserved.id,
                replay_id,
                reserved.event_uuid,
                now,
                created_by_id or self.org.user_id,
                dict(fields),
            )
            self._log[event_type.name].append(message)
            self._highest[event_type.name] = replay_id
            for trigger in self._triggers.get(event_type.name, []):
                self._trigger_queue.append((trigger, message))
            if self._trigger_queue:
                self._trigger_wakeup.notify_all()
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(message)
            except Exception:  # a subscriber's fault is never the publisher's
                log.exception("event listener failed")
        return message

    def _check_publish_allocation(self) -> None:
        if len(self._published) >= self.hourly_publish_limit:
            # The code is documented (Platform Event Error Status Codes); the wording
            # is UNVERIFIED.
            raise errors.LimitExceeded(
                "The number of published platform event messages exceeded the "
                f"hourly publishing limit ({self.hourly_publish_limit:,}).",
                [],
            )

    def _reserve_ids(
        self, event_type: PlatformEventType, fields: dict[str, Any]
    ) -> PendingEvent:
        event_uuid = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        event_id = self.org.ids.new(event_type.sobject.key_prefix)
        return PendingEvent(event_type, dict(fields), event_id, event_uuid)

    def reserve(
        self, event_type: PlatformEventType, fields: dict[str, Any]
    ) -> PendingEvent:
        """An event to publish later (at commit): its Id and EventUuid drawn now.

        Refused with LIMIT_EXCEEDED if the hourly allocation is already spent.
        """
        with self._lock:
            self._prune(self.clock.now())
            self._check_publish_allocation()
            return self._reserve_ids(event_type, fields)

    def release(self, pending: PendingEvent) -> EventMessage | None:
        """Publish a reserved event (its transaction committed).

        If the allocation ran out in between, the event is not queued: it is kept in
        ``dropped`` for the lab to see (nothing is printed).
        """
        try:
            return self.enqueue(pending.event_type, pending.fields, reserved=pending)
        except errors.LimitExceeded as error:
            with self._lock:
                self.dropped.append((pending, error.message))
            return None

    # --- reading ---------------------------------------------------------------------

    def _prune(self, now: datetime) -> None:
        """Forget messages past retention and spent allocations past their window."""
        for messages in self._log.values():
            while messages and messages[0].created_date <= now - RETENTION:
                messages.popleft()
        while self._published and self._published[0] <= now - PUBLISH_WINDOW:
            self._published.popleft()
        while self._delivered and self._delivered[0][0] <= now - DELIVERY_WINDOW:
            self._delivered.popleft()

    def retained(self, name: str) -> list[EventMessage]:
        """The messages of event ``name`` still retained, in replay order."""
        event_type = self[name]
        with self._lock:
            self._prune(self.clock.now())
            return list(self._log[event_type.name])

    def after(
        self, name: str, replay_id: int, limit: int | None = None
    ) -> list[EventMessage]:
        """Retained messages of ``name`` with a replay ID above ``replay_id``."""
        messages = [m for m in self.retained(name) if m.replay_id > replay_id]
        return messages if limit is None else messages[:limit]

    def latest_replay_id(self, name: str) -> int:
        """The replay ID of the newest message ever published for ``name`` (0: none).

        Subscribing with -1 starts after it, even when it is past retention.
        """
        event_type = self[name]
        with self._lock:
            return self._highest.get(event_type.name, 0)

    def is_retained(self, name: str, replay_id: int) -> bool:
        """Is ``replay_id`` the ID of a message of ``name`` still retained?"""
        return any(m.replay_id == replay_id for m in self.retained(name))

    # --- allocations -----------------------------------------------------------------

    @property
    def published_last_hour(self) -> int:
        """Event messages published in the last hour of simulated time."""
        with self._lock:
            self._prune(self.clock.now())
            return len(self._published)

    @property
    def delivered_last_24_hours(self) -> int:
        """Event messages delivered to CometD subscribers in the last 24 hours."""
        with self._lock:
            self._prune(self.clock.now())
            return sum(count for _, count in self._delivered)

    def spend_deliveries(self, wanted: int) -> int:
        """Spend up to ``wanted`` deliveries; returns how many the allocation allows."""
        now = self.clock.now()
        with self._lock:
            self._prune(now)
            used = sum(count for _, count in self._delivered)
            allowed = max(0, min(wanted, self.daily_delivery_limit - used))
            if allowed:
                self._delivered.append((now, allowed))
            return allowed

    def allocations(self) -> dict[str, tuple[int, int]]:
        """``{name: (Max, Remaining)}`` for the org's ``/limits`` resource."""
        published = self.published_last_hour
        delivered = self.delivered_last_24_hours
        return {
            "HourlyPublishedPlatformEvents": (
                self.hourly_publish_limit,
                max(0, self.hourly_publish_limit - published),
            ),
            "DailyDeliveredPlatformEvents": (
                self.daily_delivery_limit,
                max(0, self.daily_delivery_limit - delivered),
            ),
        }

    # --- listeners (the CometD server) -----------------------------------------------

    def add_listener(self, listener: Callable[[EventMessage], None]) -> None:
        """Call ``listener(message)`` after each publish, in the publisher's thread.

        A listener must return at once (e.g. wake an event loop); it never raises
        into the publisher.
        """
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[EventMessage], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    # --- Apex triggers on events -----------------------------------------------------

    def on(
        self,
        name: str,
        handler: Callable[[list[dict[str, Any]]], Any],
        batch_size: int = TRIGGER_BATCH_SIZE,
    ) -> EventTrigger:
        """Register an Apex ``after insert`` trigger on event ``name``.

        ``handler(events)`` gets ``Trigger.new``: a list of up to ``batch_size``
        (at most 2,000) event records, in replay order. It runs after publish, in
        its own Apex transaction (``org.apex.transaction()``) on the bus's trigger
        thread, for messages published from now on. An exception rolls the batch's
        transaction back and is kept in ``trigger_errors``.

        The Apex it stands for::

            trigger OrderClosedTrigger on Order_Closed__e (after insert) {
                for (Order_Closed__e event : Trigger.new) { ... }
            }
        """
        event_type = self[name]
        if not 1 <= batch_size <= TRIGGER_BATCH_SIZE:
            raise ValueError(f"batch_size is 1 to {TRIGGER_BATCH_SIZE}")
        trigger = EventTrigger(event_type.name, handler, batch_size)
        with self._lock:
            self._triggers.setdefault(event_type.name, []).append(trigger)
            if self._trigger_thread is None:
                self._trigger_thread = threading.Thread(
                    target=self._run_triggers,
                    name="sfsandbox-event-triggers",
                    daemon=True,
                )
                self._trigger_thread.start()
        return trigger

    def remove_trigger(self, trigger: EventTrigger) -> None:
        """Unregister a trigger added with ``on``."""
        with self._lock:
            triggers = self._triggers.get(trigger.event_type, [])
            if trigger in triggers:
                triggers.remove(trigger)

    def wait_for_triggers(self, timeout: float = 10.0) -> bool:
        """Wait until every trigger has run for every message published so far.

        Returns False if ``timeout`` seconds (wall clock) passed first.
        """
        with self._trigger_wakeup:
            return self._trigger_wakeup.wait_for(
                lambda: not self._trigger_queue and not self._trigger_busy, timeout
            )

    def _run_triggers(self) -> None:
        while True:
            with self._trigger_wakeup:
                self._trigger_wakeup.wait_for(
                    lambda: self._trigger_queue or self._closed
                )
                if self._closed:
                    return
                trigger, first = self._trigger_queue.popleft()
                batch = [first]
                while (
                    self._trigger_queue
                    and self._trigger_queue[0][0] is trigger
                    and len(batch) < trigger.batch_size
                ):
                    batch.append(self._trigger_queue.popleft()[1])
                self._trigger_busy = True
            try:
                self._run_batch(trigger, batch)
            finally:
                with self._trigger_wakeup:
                    self._trigger_busy = False
                    self._trigger_wakeup.notify_all()

    def _run_batch(self, trigger: EventTrigger, batch: list[EventMessage]) -> None:
        trigger.batches += 1
        try:
            with self.org.apex.transaction(asynchronous=True):
                trigger.handler([message.record() for message in batch])
        except Exception as error:
            with self._lock:
                self.trigger_errors.append(
                    TriggerError(
                        trigger.event_type,
                        tuple(m.replay_id for m in batch),
                        f"{type(error).__name__}: {error}",
                    )
                )

    def close(self) -> None:
        """Stop the trigger thread."""
        with self._trigger_wakeup:
            self._closed = True
            self._trigger_wakeup.notify_all()
        if self._trigger_thread is not None:
            self._trigger_thread.join(5)
            self._trigger_thread = None


def _json_value(value: Any) -> Any:
    """A checked value as JSON carries it (dates as ISO text)."""
    if isinstance(value, datetime):
        return format_datetime(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
