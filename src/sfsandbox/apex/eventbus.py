"""``EventBus.publish``: Platform Events from Apex, with the definition's publish
behaviour.

::

    from sfsandbox.apex import EventBus, PlatformEvent

    with org.apex.transaction():
        Database.update("Opportunity", {"Id": opp_id, "StageName": "Closed Won"})
        result = EventBus.publish(
            PlatformEvent("Order_Closed__e", Opportunity_Id__c=opp_id, Amount__c=5000)
        )
        result.isSuccess()          # True: queued, not yet delivered

The Apex it stands for::

    Order_Closed__e event = new Order_Closed__e(Opportunity_Id__c = opp.Id);
    Database.SaveResult result = EventBus.publish(event);

With *Publish After Commit* (the definition's default) the event reaches the bus only
if the transaction commits; a rollback discards it. With *Publish Immediately* it is on
the bus when ``publish`` returns, whatever the transaction does next (Platform Events
Developer Guide, "Define and Publish Platform Events"). Each ``publish`` call counts as
one DML statement, with one DML row per event (Platform Events Developer Guide,
"Apex DML Limits for Publishing Events").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, overload

from sfsandbox.apex.transaction import current_transaction
from sfsandbox.org import errors
from sfsandbox.org.events import PUBLISH_IMMEDIATELY


class PlatformEvent(dict):
    """An event sObject: ``PlatformEvent("Order_Closed__e", Amount__c=10.0)``.

    A plain dict with ``{"attributes": {"type": ...}}`` works as well.
    """

    def __init__(self, event_type: str, **values: Any) -> None:
        super().__init__(values)
        self.event_type = event_type


@dataclass(frozen=True)
class DatabaseError:
    """``Database.Error``: a status code, a message and the fields it is about."""

    status_code: str
    message: str
    fields: tuple[str, ...] = ()

    def getStatusCode(self) -> str:  # noqa: N802 - Apex names
        return self.status_code

    def getMessage(self) -> str:  # noqa: N802
        return self.message

    def getFields(self) -> list[str]:  # noqa: N802
        return list(self.fields)


@dataclass(frozen=True)
class SaveResult:
    """``Database.SaveResult`` of one published event.

    A success carries the ``OPERATION_ENQUEUED`` entry whose message is the event's
    ``EventUuid``, as the REST publish result does.
    """

    id: str | None
    success: bool
    errors: tuple[DatabaseError, ...] = field(default_factory=tuple)

    def isSuccess(self) -> bool:  # noqa: N802
        return self.success

    def getId(self) -> str | None:  # noqa: N802
        return self.id

    def getErrors(self) -> list[DatabaseError]:  # noqa: N802
        return list(self.errors)

    @property
    def event_uuid(self) -> str | None:
        """The EventUuid of a queued event (from its OPERATION_ENQUEUED entry)."""
        for error in self.errors:
            if error.status_code == "OPERATION_ENQUEUED":
                return error.message
        return None


class EventBus:
    """``System.EventBus``."""

    @overload
    @staticmethod
    def publish(events: Mapping[str, Any]) -> SaveResult: ...

    @overload
    @staticmethod
    def publish(events: Iterable[Mapping[str, Any]]) -> list[SaveResult]: ...

    @staticmethod
    def publish(events: Any) -> SaveResult | list[SaveResult]:
        """Publish one event (returns its SaveResult) or a list (returns a list).

        Each event is checked now; an event the bus refuses (unknown field, over
        1 MB, past the hourly allocation) gets a failed SaveResult and the others go
        ahead, as ``EventBus.publish`` does on the platform.
        """
        transaction = current_transaction("EventBus.publish()")
        single = isinstance(events, Mapping)
        items = [events] if single else list(events)
        transaction._count_dml(len(items))
        bus = transaction.org.events
        results = []
        for item in items:
            name = _event_type(item)
            values = {k: v for k, v in item.items() if k != "attributes"}
            try:
                event_type, checked = bus.check(name, values)
            except errors.NotFound:
                raise _type_error(name) from None
            except errors.SalesforceError as error:
                results.append(_failed(error))
                continue
            if event_type.publish_behavior == PUBLISH_IMMEDIATELY:
                try:
                    message = bus.enqueue(event_type, checked)
                except errors.SalesforceError as error:
                    results.append(_failed(error))
                    continue
                results.append(_queued(message.id, message.event_uuid))
            else:
                results.append(_after_commit(transaction, bus, event_type, checked))
        return results[0] if single else results


def _after_commit(transaction: Any, bus: Any, event_type: Any, checked: Any) -> Any:
    """Reserve the event's Id and EventUuid now; put it on the bus at commit."""
    pending = bus.reserve(event_type, checked)
    transaction.after_commit(lambda: bus.release(pending))
    return _queued(pending.id, pending.event_uuid)


def _event_type(item: Mapping[str, Any]) -> str:
    if isinstance(item, PlatformEvent):
        return item.event_type
    attributes = item.get("attributes")
    if isinstance(attributes, Mapping) and isinstance(attributes.get("type"), str):
        return attributes["type"]
    raise TypeError(
        "EventBus.publish takes PlatformEvent(...) objects, or dicts with "
        '{"attributes": {"type": "<Event>__e"}}'
    )


def _type_error(name: str) -> Exception:
    from sfsandbox.apex.exceptions import TypeException

    return TypeException(f"Invalid sObject type: {name}")


def _queued(event_id: str, event_uuid: str) -> SaveResult:
    return SaveResult(
        event_id, True, (DatabaseError("OPERATION_ENQUEUED", event_uuid),)
    )


def _failed(error: errors.SalesforceError) -> SaveResult:
    return SaveResult(
        None,
        False,
        (DatabaseError(error.error_code, error.message, tuple(error.fields or ())),),
    )
