"""Checks and helpers for Lab 2, "Fire and Forget"."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import ssl
import threading
import weakref
from collections.abc import Callable
from typing import Any

import aiocometd_ng

from sfsandbox.apex import Database, Limits
from sfsandbox.lab.checks import Check
from sfsandbox.runtime.cometd_client import OAuthHeader, ReplayExtension

log = logging.getLogger(__name__)

EVENT = "Order_Closed__e"
CHANNEL = f"/event/{EVENT}"
ORDER_TABLES = """
CREATE TABLE orders (
    order_number TEXT, opportunity_id TEXT, amount REAL, event_uuid TEXT
);
CREATE TABLE processed_events (event_uuid TEXT PRIMARY KEY);
"""


_OPEN: weakref.WeakKeyDictionary[Any, list[str]] = weakref.WeakKeyDictionary()


def fresh_opportunities(sandbox: Any, count: int) -> list[str]:
    """IDs of ``count`` Opportunities that were open when the sandbox started and
    that no earlier call handed out: the same ones on every run of one seed, as long
    as the notebook's cells run in the same order."""
    if sandbox not in _OPEN:
        org = sandbox.org
        with org.store.lock:
            rows = org.store.conn.execute(
                "SELECT Id FROM \"Opportunity\" WHERE StageName NOT LIKE 'Closed%' "
                "ORDER BY Id"
            ).fetchall()
        _OPEN[sandbox] = [row[0] for row in rows]
    pool = _OPEN[sandbox]
    taken, _OPEN[sandbox] = pool[:count], pool[count:]
    return taken


def collect_events(
    sandbox: Any, replay_id: int, count: int, timeout: float = 5.0
) -> list[dict[str, Any]]:
    """Subscribe to ``/event/Order_Closed__e`` from ``replay_id`` with a CometD client
    and return the first ``count`` messages received (fewer after ``timeout``
    wall-clock seconds without one).

    The client runs in a thread of its own with its own event loop, so it works the
    same inside a notebook (whose loop is already running) and outside one.
    """
    org = sandbox.org
    context = ssl.create_default_context(cafile=str(sandbox.ca_file))
    received: list[dict[str, Any]] = []

    async def subscribe() -> None:
        async with aiocometd_ng.Client(
            org.cometd_url,
            ssl=context,
            auth=OAuthHeader(org.access_token),
            extensions=[ReplayExtension({CHANNEL: replay_id})],
        ) as client:
            await client.subscribe(CHANNEL)
            while len(received) < count:
                try:
                    received.append(await asyncio.wait_for(client.receive(), timeout))
                except TimeoutError:
                    break

    def run() -> None:
        loop = asyncio.new_event_loop()
        # The client reports a cancelled long poll through the loop's exception
        # handler: keep it out of the notebook's cells.
        loop.set_exception_handler(lambda _, c: log.debug("%s", c.get("message")))
        try:
            loop.run_until_complete(subscribe())
        except Exception as error:  # a refused subscription: the caller looks at it
            received.append({"error": f"{type(error).__name__}: {error}"})
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    if count > 0:
        thread = threading.Thread(target=run, name="sfsandbox-lab2-cometd")
        thread.start()
        thread.join(timeout + 10)
    return received


def _close(org: Any, opportunity_ids: list[str], **extra: Any) -> None:
    """Close Opportunities as Closed Won in one Apex transaction (one save)."""
    with org.apex.transaction():
        Database.update(
            "Opportunity",
            [{"Id": i, "StageName": "Closed Won", **extra} for i in opportunity_ids],
        )


def check_opportunity_closed(
    opportunity_closed: Callable[[Any], Any], sandbox: Any
) -> None:
    """Exercise 1: the trigger publishes one event per Opportunity that has just
    closed, with its fields, in one ``EventBus.publish`` call per save."""
    check = Check("Exercise 1, publish when an Opportunity closes")
    org, bus = sandbox.org, sandbox.org.events
    closing, other, lost, bulk = (
        fresh_opportunities(sandbox, 1),
        fresh_opportunities(sandbox, 1),
        fresh_opportunities(sandbox, 1),
        fresh_opportunities(sandbox, 40),
    )
    # Only the learner's trigger may publish here: set aside the org's own
    # Opportunity triggers (a later cell registers the solution), then restore them.
    others = [t for t in org.apex.triggers.registered if t.sobject == "Opportunity"]
    for trigger in others:
        org.apex.triggers.unregister(trigger.name)
    org.apex.triggers.register(
        "Opportunity", ["after update"], opportunity_closed, name="Lab2Exercise1"
    )
    try:
        before = bus.latest_replay_id(EVENT)

        def save() -> None:
            with org.apex.transaction():
                Database.update(
                    "Opportunity",
                    [
                        {"Id": closing[0], "StageName": "Closed Won"},
                        {"Id": other[0], "Description": "Called the buyer"},
                        {"Id": lost[0], "StageName": "Closed Lost"},
                    ],
                )

        check.run("saving three Opportunities", save)
        published = bus.after(EVENT, before)
        check.expect(
            len(published) == 1,
            "one save that closes one Opportunity as won, one as lost, and edits a "
            "third publishes one event",
            f"that save published {len(published)} events: publish only for "
            "records whose StageName is now 'Closed Won' and was not before "
            "(compare with trigger.oldMap); a deal Closed Lost is no order."
            + (
                " If EventBus.publish refused the events, look at the SaveResults "
                "it returns: result.isSuccess() and result.getErrors()."
                if not published
                else ""
            ),
        )
        fields = published[0].fields if published else {}
        with org.store.lock:
            row = org.store.conn.execute(
                'SELECT AccountId, Amount, CloseDate FROM "Opportunity" WHERE Id = ?',
                closing,
            ).fetchone()
        wanted = {
            "Opportunity_Id__c": closing[0],
            "Account_Id__c": row[0],
            "Amount__c": row[1],
            "Close_Date__c": row[2],
            "Order_Number__c": "ORD-" + closing[0][:15],
        }
        wrong = {k: fields.get(k) for k, v in wanted.items() if fields.get(k) != v}
        check.expect(
            not wrong,
            "the event carries the Opportunity's Id, AccountId, Amount, CloseDate "
            "and its order number",
            f"these fields are not as the record says: {wrong}; they should be "
            f"{ {k: wanted[k] for k in wrong} }.",
        )

        before = bus.latest_replay_id(EVENT)
        check.run(
            "saving a closed Opportunity again",
            lambda: _close(org, closing, Description="Signed copy received"),
        )
        again = bus.after(EVENT, before)
        check.expect(
            not again,
            "saving an Opportunity that was already closed publishes nothing",
            f"editing an Opportunity that was already Closed Won published "
            f"{len(again)} event(s): the ERP would book a second order.",
        )

        before = bus.latest_replay_id(EVENT)
        statements: list[int] = []

        def bulk_save() -> None:
            with org.apex.transaction():
                Database.update(
                    "Opportunity", [{"Id": i, "StageName": "Closed Won"} for i in bulk]
                )
                statements.append(Limits.getDmlStatements())

        check.run("closing 40 Opportunities in one save", bulk_save)
        published = bus.after(EVENT, before)
        check.expect(
            len(published) == len(bulk),
            f"closing {len(bulk)} Opportunities in one save publishes {len(bulk)} "
            "events",
            f"closing {len(bulk)} Opportunities in one save published "
            f"{len(published)} events.",
        )
        check.expect(
            bool(statements) and statements[0] <= 2,
            "it publishes them in one EventBus.publish call (one DML statement)",
            f"the save used {statements[0] if statements else '?'} DML statements: "
            "collect the events in a list and call EventBus.publish once; each call "
            "counts against the 150 DML statements of the transaction.",
        )
    finally:
        org.apex.triggers.unregister("Lab2Exercise1")
        for trigger in others:
            org.apex.triggers.register(
                trigger.sobject, trigger.events, trigger.handler, name=trigger.name
            )
    check.report()


def check_publish_behavior(sandbox: Any) -> None:
    """Exercise 2: a rolled-back close publishes nothing; a committed one publishes."""
    check = Check("Exercise 2, no order for a rollback")
    org, bus = sandbox.org, sandbox.org.events
    behavior = bus[EVENT].publish_behavior
    opportunity = fresh_opportunities(sandbox, 1)

    class LaterStepFailed(Exception):
        pass

    before = bus.latest_replay_id(EVENT)
    with contextlib.suppress(LaterStepFailed), org.apex.transaction():
        Database.update(
            "Opportunity", {"Id": opportunity[0], "StageName": "Closed Won"}
        )
        raise LaterStepFailed
    leaked = bus.after(EVENT, before)
    check.expect(
        not leaked,
        f"with {behavior}, a close that rolls back publishes nothing",
        f"with {behavior}, a close that rolled back still published "
        f"{len(leaked)} event(s): the ERP would book an order for an Opportunity "
        "that never closed. Publish only after the commit.",
    )
    before = bus.latest_replay_id(EVENT)
    check.run("a close that commits", lambda: _close(org, opportunity))
    published = bus.after(EVENT, before)
    check.expect(
        len(published) == 1,
        "a close that commits still publishes its event",
        f"a committed close published {len(published)} events: is the "
        "OpportunityClosed trigger registered?",
    )
    check.report()


def run_coroutine(
    function: Callable[..., Any], *args: Any, timeout: float = 10.0
) -> Any:
    """Run ``await function(*args)`` in a thread with its own event loop, and return
    its result (or raise its exception). A notebook's own loop is already running,
    so a check cannot await there."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(lambda _, c: log.debug("%s", c.get("message")))
        try:
            outcome["result"] = loop.run_until_complete(
                asyncio.wait_for(function(*args), timeout)
            )
        except BaseException as error:  # the learner's code: hand it back
            outcome["error"] = error
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=run, name="sfsandbox-lab2-coroutine")
    thread.start()
    thread.join(timeout + 10)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")


def check_resume(resume: Callable[[int], Any], sandbox: Any) -> None:
    """Exercise 3: a subscriber resumes after a stored replay ID, and gets exactly the
    events it missed, in order."""
    check = Check("Exercise 3, resume from a replay ID")
    org, bus = sandbox.org, sandbox.org.events
    stored = bus.latest_replay_id(EVENT)
    missed = fresh_opportunities(sandbox, 3)
    _close(org, missed)
    expected = [m.replay_id for m in bus.after(EVENT, stored)]

    try:
        if asyncio.iscoroutinefunction(resume):
            messages = run_coroutine(resume, stored)
        else:
            messages = resume(stored)
    except TimeoutError:
        check.expect(
            False,
            "",
            f"resume({stored}) received nothing in time: a subscription with -1 "
            "gets only events published after it subscribes, and these were "
            "published before. Send the stored replay ID in the replay extension.",
        )
        messages = []
    except Exception as error:
        check.expect(
            False, "", f"resume({stored}) raised {type(error).__name__}: {error}"
        )
        messages = []
    got = [
        m.get("data", {}).get("event", {}).get("replayId")
        for m in messages or []
        if isinstance(m, dict)
    ]
    shown = f"{got[:6]}" if len(got) <= 6 else f"{got[:6]} and {len(got) - 6} more"
    check.expect(
        got == expected,
        f"it received the {len(expected)} events published after the stored replay "
        "ID, in replay order",
        f"it received replay IDs {shown}, not {expected}: subscribe with the stored "
        "replay ID in the replay extension (-1 gives only new events, -2 everything "
        "retained).",
    )
    check.report()


def check_republish_missing(
    republish_missing: Callable[[Any], Any], since: Any, sandbox: Any
) -> None:
    """Exercise 5: after events expired, the ERP gets an order for every Opportunity
    closed since ``since`` that it lacked, and no second order for any."""
    check = Check("Exercise 5, repair the gap")
    org, erp = sandbox.org, sandbox.erp
    if not erp.is_up:
        erp.up()
    # One more deal closes now, with the ERP up: it gets its order the usual way,
    # and a repair that republishes it would book it twice.
    _close(org, fresh_opportunities(sandbox, 1))
    erp.wait_until_caught_up()
    if erp.processing_time:
        sandbox.clock.advance(erp.processing_time)
    erp.wait_until_caught_up()
    with org.apex.transaction():
        closed = Database.query(
            "SELECT Id FROM Opportunity WHERE StageName = 'Closed Won' "
            f"AND LastModifiedDate >= {since:%Y-%m-%dT%H:%M:%SZ}"
        )
    wanted = {row["Id"] for row in closed}
    before = erp.orders
    lacking = wanted - {o["opportunity_id"] for o in before}

    check.run("republish_missing(since)", republish_missing, since)
    erp.wait_until_caught_up()  # received; booked once its processing time passed
    if erp.processing_time:
        sandbox.clock.advance(erp.processing_time)
    erp.wait_until_caught_up()
    after = erp.orders
    new = [o["opportunity_id"] for o in after[len(before) :]]
    missing = sorted(lacking - set(new))
    check.expect(
        not missing,
        f"the ERP now holds an order for each of the {len(wanted)} Opportunities "
        "closed since the outage began",
        f"{len(missing)} Opportunities closed since {since:%Y-%m-%d %H:%M} still "
        f"have no order in the ERP, e.g. {missing[:2]}: publish an Order_Closed__e "
        "for each one the ERP does not hold.",
    )
    outside = sorted({i for i in new if i not in wanted})
    check.expect(
        not outside,
        "it republished nothing from before the outage",
        f"the ERP booked orders for {len(outside)} Opportunities that did not close "
        f"since {since:%Y-%m-%d %H:%M}, e.g. {outside[:2]}: keep the query's "
        "LastModifiedDate filter, so the repair touches only the outage.",
    )
    again = sorted({i for i in new if i not in lacking or new.count(i) > 1})
    check.expect(
        not again,
        "and it booked no second order for any of them",
        f"the ERP booked a second order for {len(again)} Opportunities, e.g. "
        f"{again[:2]}: a republished event has a new EventUuid, so the ERP cannot "
        "tell it from a new close. Republish only those the ERP does not hold.",
    )
    check.report()


class SimulatedCrash(Exception):
    """The handler's process dies here (Exercise 4's check)."""


class _CrashOnSecondInsert(sqlite3.Connection):
    """A connection that, once armed, fails at the second INSERT it executes: as if
    the subscriber's process died between a handler's two writes."""

    armed = False
    _inserts = 0

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        if self.armed and sql.lstrip().upper().startswith("INSERT"):
            self._inserts += 1
            if self._inserts == 2:
                raise SimulatedCrash("the process died between two writes")
        return super().execute(sql, *args)


def _orders(check: Check, db: sqlite3.Connection) -> list[tuple[Any, Any]]:
    """The (event_uuid, opportunity_id) rows the learner's handler wrote."""
    try:
        return db.execute("SELECT event_uuid, opportunity_id FROM orders").fetchall()
    except sqlite3.Error as error:
        check.expect(False, "", f"the orders table cannot be read any more: {error}")
        return []


def check_book_order(
    book_order: Callable[[dict[str, Any], sqlite3.Connection], Any], sandbox: Any
) -> None:
    """Exercise 4: a handler that books each event once, however often it comes."""
    check = Check("Exercise 4, an idempotent handler")
    bus = sandbox.org.events
    retained = bus.retained(EVENT)
    sample = retained[-4:]
    if len(retained) < 5:
        check.expect(
            False,
            "",
            f"the bus holds {len(retained)} events, and the check replays 5: events "
            "expire after 72 hours of simulated time. Close five Opportunities (or "
            "run the lab again from the top), then run this check.",
        )
        check.report()
        return
    # Resume after the event before the sample: replay IDs are stored, never computed.
    messages = collect_events(sandbox, retained[-5].replay_id, len(sample))
    messages = [m for m in messages if "data" in m]
    check.expect(
        len(messages) == len(sample),
        f"a CometD subscriber received {len(sample)} events to replay",
        f"the CometD subscriber received {len(messages)} of {len(sample)} events.",
    )
    if check.failed:
        check.report()
        return
    uuids = [m["data"]["event"]["EventUuid"] for m in messages]
    expected = {
        m["data"]["event"]["EventUuid"]: m["data"]["payload"].get("Opportunity_Id__c")
        for m in messages
    }

    db = sqlite3.connect(":memory:")
    db.executescript(ORDER_TABLES)

    def deliver_twice() -> None:
        for message in messages + messages[::-1]:  # every event again, in reverse
            book_order(message, db)

    check.run("book_order(message, db)", deliver_twice)
    rows = _orders(check, db)
    booked = [row[0] for row in rows]
    check.expect(
        len(rows) >= len(uuids),
        "each event booked an order",
        f"after {len(uuids)} events the orders table holds {len(rows)} rows: insert "
        "one row per new event.",
    )
    check.expect(
        set(booked) >= set(uuids),
        "each order carries its EventUuid",
        f"the orders' event_uuid column holds {booked[:2]}..., not the events' "
        f"EventUuid ({uuids[:2]}...): take it from message['data']['event'].",
    )
    check.expect(
        len(rows) == len(uuids),
        f"each of the {len(uuids)} events, delivered twice, booked one order",
        f"{len(uuids)} events delivered twice booked {len(rows)} orders: before "
        "booking, look the EventUuid up in processed_events, and insert it there "
        "in the same transaction as the order.",
    )
    check.expect(
        all(expected.get(uuid) == opp for uuid, opp in rows),
        "each order carries its Opportunity's Id",
        "an order's opportunity_id does not match its event's Opportunity_Id__c.",
    )

    # A crash between the handler's two writes, then the same event again.
    crashing = sqlite3.connect(":memory:", factory=_CrashOnSecondInsert)
    crashing.executescript(ORDER_TABLES)
    first = messages[0]

    def crash_then_redeliver() -> None:
        crashing.armed = True
        with contextlib.suppress(SimulatedCrash):
            book_order(first, crashing)
        crashing.armed = False
        book_order(first, crashing)

    if not check.failed:
        check.run("book_order after a crash", crash_then_redeliver)
        count = len(_orders(check, crashing))
        check.expect(
            count == 1,
            "a crash between its two writes, then the same event again, books one "
            "order",
            f"the handler crashed between its two INSERTs, the event came again, and "
            f"the orders table holds {count} orders for it: one write was committed "
            "without the other. Make both writes in one transaction (one "
            "'with db:' block), so that a crash undoes both.",
        )
    check.report()
