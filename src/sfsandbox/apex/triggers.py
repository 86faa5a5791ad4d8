"""Apex-like triggers on sObjects: ``after insert`` and ``after update``.

A lab registers a trigger in Python, in the platform's terms::

    def close_won(trigger: Trigger) -> None:
        for opp in trigger.new:
            old = trigger.oldMap[opp["Id"]]
            if opp["StageName"] == "Closed Won" and old["StageName"] != "Closed Won":
                ...  # System.enqueueJob(...), EventBus.publish(...), a @future call

    org.apex.triggers.register(
        "Opportunity", ["after insert", "after update"], close_won, name="OppTrigger"
    )

A trigger fires for every save that creates or changes records, wherever it comes
from: Apex DML (``Database.insert``/``update``, ``tx.insert``/``update``) and the REST
API (sObject create and update, upsert by external ID, sObject Collections, composite
subrequests). Following the platform (Apex Developer Guide, "Triggers" and "Bulk
Triggers"):

- one invocation per chunk of up to 200 records of one object and one operation;
  the records of an upsert split into an insert chunk and an update chunk;
- it runs inside the transaction of the save that fired it: its DML and queries count
  against the same limits, and the jobs it enqueues run only if that transaction
  commits;
- an exception that escapes the trigger fails the save: the records of the save roll
  back, and the caller gets ``CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY`` with
  ``"<Trigger>: execution of AfterUpdate\\n\\ncaused by: <Type>: <message>"`` (a 400 in
  the REST API, a ``DmlException`` in Apex);
- a callout from a trigger raises ``CalloutException("Callout from triggers are
  currently not supported.")``: hand it to ``@future(callout=true)`` or a Queueable;
- triggers that fire triggers nest up to 16 deep ("maximum trigger depth exceeded").

``Trigger.new`` and ``Trigger.old`` hold the records as the REST API shows them (dicts
with ``attributes``). They are copies: in an after trigger, changes to them are not
saved (Apex: the records are read-only); update them with DML instead.

Other writers (a Bulk API ingest, a SOAP ``create``) fire triggers by wrapping their
writes in ``org.apex.triggers.saving()`` inside ``org.apex.api_transaction()``; see
``ApexTriggers.saving``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sfsandbox.apex.exceptions import ApexException
from sfsandbox.apex.transaction import current_transaction
from sfsandbox.org import errors

if TYPE_CHECKING:
    from sfsandbox.org.org import Org
    from sfsandbox.org.store import SavedRow

BATCH_SIZE = 200  # records per trigger invocation (Apex Developer Guide, "Triggers")
MAX_TRIGGER_DEPTH = 16  # Apex Developer Guide, "Execution Governors and Limits"
EVENTS = ("after insert", "after update")
UNEMULATED_EVENTS = (
    "before insert",
    "before update",
    "before delete",
    "after delete",
    "after undelete",
)
# (sobject, event, Trigger.new, Trigger.old) of a saved chunk: workflow-like automation.
Automation = Callable[
    [str, str, list[dict[str, Any]], list[dict[str, Any]] | None], None
]
_OPERATION = {"after insert": "AfterInsert", "after update": "AfterUpdate"}


@dataclasses.dataclass
class Trigger:
    """The context of one trigger invocation, named as Apex's ``Trigger`` class."""

    name: str
    sobject: str
    operationType: str  # noqa: N815 - Apex's name: "AFTER_INSERT" or "AFTER_UPDATE"
    new: list[dict[str, Any]]
    old: list[dict[str, Any]] | None

    @property
    def newMap(self) -> dict[str, dict[str, Any]]:  # noqa: N802
        return {record["Id"]: record for record in self.new}

    @property
    def oldMap(self) -> dict[str, dict[str, Any]] | None:  # noqa: N802
        return None if self.old is None else {r["Id"]: r for r in self.old}

    @property
    def isInsert(self) -> bool:  # noqa: N802
        return self.operationType == "AFTER_INSERT"

    @property
    def isUpdate(self) -> bool:  # noqa: N802
        return self.operationType == "AFTER_UPDATE"

    @property
    def isAfter(self) -> bool:  # noqa: N802
        return True

    @property
    def isBefore(self) -> bool:  # noqa: N802
        return False

    @property
    def isDelete(self) -> bool:  # noqa: N802
        return False

    @property
    def size(self) -> int:
        return len(self.new)


@dataclasses.dataclass(frozen=True)
class RegisteredTrigger:
    """A trigger as Setup lists it: its name, object, events and handler."""

    name: str
    sobject: str
    events: tuple[str, ...]
    handler: Callable[[Trigger], Any]


class ApexTriggers:
    """``org.apex.triggers``: the org's sObject triggers, and the hook that fires
    them."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self._triggers: list[RegisteredTrigger] = []
        self._automation: list[Automation] = []
        self._lock = threading.Lock()
        self.invocations = 0  # trigger invocations so far (each of up to 200 records)

    # --- Setup ---------------------------------------------------------------------

    def register(
        self,
        sobject: str,
        events: str | Iterable[str],
        handler: Callable[[Trigger], Any],
        name: str | None = None,
    ) -> RegisteredTrigger:
        """Add a trigger on ``sobject`` for ``events`` ("after insert", "after
        update"); ``handler(trigger)`` receives a ``Trigger``. ``name`` defaults to
        the handler's name; registering a name again replaces that trigger."""
        wanted = (events,) if isinstance(events, str) else tuple(events)
        normal = tuple(" ".join(e.lower().split()) for e in wanted)
        for event in normal:
            if event in UNEMULATED_EVENTS:
                raise errors.NotEmulated(f"A '{event}' Apex trigger")
            if event not in EVENTS:
                raise ValueError(f"Unknown trigger event {event!r}: use {EVENTS}")
        if not normal:
            raise ValueError("A trigger needs at least one event")
        described = self.org.schema.get(sobject)
        if described is None:
            raise ValueError(f"Unknown sObject type {sobject!r}")
        trigger = RegisteredTrigger(
            name or getattr(handler, "__name__", "Trigger"),
            described.name,
            normal,
            handler,
        )
        with self._lock:
            self._triggers = [t for t in self._triggers if t.name != trigger.name]
            self._triggers.append(trigger)
        return trigger

    def unregister(self, name: str) -> None:
        """Remove the trigger called ``name`` (deactivate it)."""
        with self._lock:
            self._triggers = [t for t in self._triggers if t.name != name]

    def clear(self) -> None:
        """Remove every trigger."""
        with self._lock:
            self._triggers = []

    def add_automation(self, automation: Automation) -> None:
        """Run ``automation(sobject, event, new, old)`` for every saved chunk, after
        the triggers and in the same transaction, as the platform runs workflow rules
        after triggers (the Outbound Message rules use it)."""
        with self._lock:
            self._automation.append(automation)

    @property
    def registered(self) -> list[RegisteredTrigger]:
        with self._lock:
            return list(self._triggers)

    # --- firing ----------------------------------------------------------------------

    @contextmanager
    def saving(self) -> Iterator[None]:
        """Fire the after triggers for the records saved inside this block.

        The single hook of every writer: wrap one DML operation's writes (the store's
        ``insert``/``update``/``upsert`` calls of one Apex statement or one API call)
        in it, inside the store transaction that the save commits or rolls back in,
        and inside an Apex transaction (``org.apex.api_transaction()`` for an API).
        When the block ends normally, the triggers run in chunks of 200; an
        exception from one raises ``errors.CannotInsertUpdateActivateEntity``, which
        the writer lets roll the save back. When the block raises, nothing fires.
        """
        with self.org.store.recording_saves() as saved:
            yield
        if saved and (self._triggers or self._automation):
            self.fire(saved)

    def fire(self, saved: list[SavedRow]) -> None:
        """Run the triggers for ``saved`` rows: per object and operation, in order of
        first appearance, in chunks of ``BATCH_SIZE``."""
        groups: dict[tuple[str, str], list[SavedRow]] = {}
        for row in saved:
            event = "after insert" if row.old is None else "after update"
            groups.setdefault((row.sobject.name, event), []).append(row)
        with self._lock:
            automation = list(self._automation)
        for (sobject, event), rows in groups.items():
            triggers = [
                t for t in self.registered if t.sobject == sobject and event in t.events
            ]
            if not triggers and not automation:
                continue
            for start in range(0, len(rows), BATCH_SIZE):
                chunk = rows[start : start + BATCH_SIZE]
                new, old = self._records(event, chunk)
                for trigger in triggers:
                    self._invoke(trigger, event, new, old)
                if triggers and automation:
                    new, old = self._records(event, chunk)  # as the triggers left it
                for automate in automation:
                    automate(sobject, event, new, old)

    def _records(
        self, event: str, rows: list[SavedRow]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
        """``Trigger.new`` and ``Trigger.old`` of a chunk, as stored now."""
        store = self.org.store
        sobject = rows[0].sobject
        new = []
        for row in rows:
            stored = store.find(sobject, row.record_id)
            if stored is not None:
                new.append(_record(store.to_json(sobject, stored), sobject.name))
        old = None
        if event == "after update":
            old = [
                _record(store.to_json(sobject, row.old), sobject.name)
                for row in rows
                if row.old is not None
            ]
        return new, old

    def _invoke(
        self,
        registered: RegisteredTrigger,
        event: str,
        new: list[dict[str, Any]],
        old: list[dict[str, Any]] | None,
    ) -> None:
        transaction = current_transaction(f"The trigger {registered.name}")
        context = Trigger(
            registered.name,
            registered.sobject,
            event.upper().replace(" ", "_"),
            [dict(record) for record in new],
            None if old is None else [dict(record) for record in old],
        )
        operation = _OPERATION[event]
        if transaction.trigger_depth >= MAX_TRIGGER_DEPTH:
            raise errors.CannotInsertUpdateActivateEntity(
                f"{registered.name}: maximum trigger depth exceeded"
            )
        transaction.trigger_depth += 1
        self.invocations += 1
        try:
            registered.handler(context)
        except errors.CannotInsertUpdateActivateEntity:
            raise  # a nested trigger's failure, already worded
        except Exception as error:
            type_name, message = _apex_type_and_message(error)
            raise errors.CannotInsertUpdateActivateEntity(
                f"{registered.name}: execution of {operation}\n\n"
                f"caused by: {type_name}: {message}"
            ) from error
        finally:
            transaction.trigger_depth -= 1


def _record(values: dict[str, Any], sobject: str) -> dict[str, Any]:
    return {"attributes": {"type": sobject}, **values}


def _apex_type_and_message(error: BaseException) -> tuple[str, str]:
    """How Apex names an exception: ``System.DmlException`` and its message; a
    Python exception shows as ``Python.<Name>``."""
    if isinstance(error, ApexException):
        return error.type_name, error.message
    if isinstance(error, errors.SalesforceError):
        return error.error_code, error.message
    if type(error).__module__ == "builtins":
        return f"Python.{type(error).__name__}", str(error)
    return type(error).__qualname__, str(error)
