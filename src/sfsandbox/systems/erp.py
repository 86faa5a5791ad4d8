"""The ERP: a subscriber to ``/event/Order_Closed__e`` that books one order per closed
Opportunity.

It runs in a thread of its own, with its own event loop and a real CometD client
(``aiocometd_ng``), and keeps its state in its own SQLite database: the orders it
booked, the ``EventUuid`` of every event it processed, and its **checkpoint**, the
replay ID of the last event it processed. The checkpoint is its acknowledgment: the bus
does not wait for subscribers, so a subscriber that comes back after an outage resumes
from the replay ID it stored (Streaming API Developer Guide, "Message Durability").

- ``up()`` subscribes: from the checkpoint, or with ``-2`` (all retained events) the
  first time. A checkpoint the bus no longer retains is refused with the platform's
  ``400::The replayId {...} you provided was invalid`` error; the ERP records the
  refusal in ``log`` and subscribes again with ``-2``, taking every event the bus still
  retains (it skips those it processed): the events that expired in between never
  reach it.
- ``down()`` stops it at once, as a crash or a deployment would: events received and
  not yet processed are not checkpointed, and come again after ``up()``.
- Each event is processed once: an ``EventUuid`` already processed is skipped and
  counted in ``duplicates``, so a repeated delivery books no second order.
- ``processing_time`` (simulated, zero by default) is how long booking takes: an event
  published at ``t`` is booked when the sandbox clock reaches ``t + processing_time``
  (or, for an event published while the ERP was down, that long after ``up()``), so a
  lab can show the save returning before the order exists, on every run alike.

The ERP also takes orders by a callout, as ``@future`` and Queueable jobs send them:
``POST {url}/orders`` on the ERP's server (the one that listens for Outbound Messages),
idempotent by its ``Idempotency-Key`` header. When that server is down
(``sandbox.outbound_listener.down()``), callouts find the connection refused.

What the ERP did is read from ``orders``, ``log`` and ``rejected``; nothing is printed
from its thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import sqlite3
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiocometd_ng
from aiocometd_ng.exceptions import AiocometdException, ServerError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sfsandbox.runtime.clock import SimulatedClock
from sfsandbox.runtime.cometd_client import OAuthHeader, ReplayExtension

if TYPE_CHECKING:
    from sfsandbox.org.org import Org

log = logging.getLogger(__name__)

EVENT = "Order_Closed__e"
CHANNEL = f"/event/{EVENT}"
REPLAY_NEW = -1
REPLAY_ALL = -2
INVALID_REPLAY_PREFIX = "400::The replayId"
MAX_ORDER_BODY = 64 * 1024  # an order header is a few hundred bytes
FIRST_ORDER_NUMBER = 100_001
SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_number TEXT PRIMARY KEY,
    opportunity_id TEXT NOT NULL,
    account_id TEXT,
    amount REAL,
    close_date TEXT,
    source TEXT NOT NULL,
    event_uuid TEXT,
    replay_id INTEGER,
    booked_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS processed_events (event_uuid TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS checkpoint (
    channel TEXT PRIMARY KEY,
    replay_id INTEGER NOT NULL
);
"""
ORDER_COLUMNS = (
    "order_number",
    "opportunity_id",
    "account_id",
    "amount",
    "close_date",
    "source",
    "event_uuid",
    "replay_id",
    "booked_at",
)


@dataclass(frozen=True)
class ReceivedEvent:
    """One event message as the ERP took it off the wire, waiting to be booked."""

    replay_id: int
    event_uuid: str
    payload: dict[str, Any]
    due: datetime  # when booking it is done, on the simulated clock


class ERP:
    """The ERP's order intake (``sandbox.erp``): down until ``up()``."""

    def __init__(self, org: Org, clock: SimulatedClock, folder: Path) -> None:
        self.org = org
        self.clock = clock
        self.database = Path(folder) / "erp.sqlite"
        self.processing_time = timedelta()
        self.url = ""  # the ERP's API, for callouts: POST {url}/orders
        self.log: list[str] = []
        self.rejected: list[dict[str, Any]] = []
        self.duplicates = 0
        self.received = 0
        self._db = sqlite3.connect(self.database, check_same_thread=False)
        self._db.executescript(SCHEMA)
        self._lock = threading.RLock()
        self._inbox: deque[ReceivedEvent] = deque()
        # The first due moment in the inbox, kept apart so that the clock can read
        # it without the ERP's lock: the clock asks while holding its own lock, and
        # the ERP reads the clock while holding its lock.
        self._head_due: datetime | None = None
        # Where this subscription stands in the stream: its start, then the newest
        # replay ID taken off the wire.
        self._position = 0
        self._subscribed = threading.Event()
        self._up_since = clock.now()
        self._failure: str | None = None
        self._closed = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._ssl: ssl.SSLContext | None = None
        clock.add_listener(self)

    # --- running -----------------------------------------------------------------

    def bind(self, context: ssl.SSLContext, server_url: str) -> None:
        """Called by the sandbox once the org and the ERP's server listen: the TLS
        context that trusts the sandbox CA, and the ERP server's origin."""
        self._ssl = context
        self.url = f"{server_url}/erp"

    @property
    def is_up(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def up(self, replay_id: int | None = None, timeout: float = 10.0) -> None:
        """Subscribe and start booking; returns once the subscription stands.

        ``replay_id`` overrides where it starts (a stored ID, ``-1`` or ``-2``);
        by default it resumes from its checkpoint, or takes every retained event
        the first time it runs.
        """
        if self._closed or self._ssl is None:
            raise RuntimeError("The ERP needs a running sandbox: Sandbox.start().")
        if self.is_up:
            if replay_id is not None:
                raise RuntimeError(
                    "The ERP is already up; call erp.down() first to start it again "
                    f"from replay ID {replay_id}."
                )
            return
        start = self.checkpoint if replay_id is None else replay_id
        if start is None:
            start = REPLAY_ALL
        self._subscribed.clear()
        self._failure = None
        self._up_since = self.clock.now()
        self._thread = threading.Thread(
            target=self._run, args=(start,), name="sfsandbox-erp", daemon=True
        )
        self._thread.start()
        if not self._subscribed.wait(timeout):
            self.down()
            raise TimeoutError(f"The ERP did not subscribe within {timeout} s.")
        if self._failure is not None:
            self._thread.join(10)
            self._thread = None
            raise RuntimeError(f"The ERP could not subscribe: {self._failure}")

    def down(self) -> None:
        """Stop at once: what was received and not yet booked is not checkpointed."""
        thread, loop, task = self._thread, self._loop, self._task
        if thread is None:
            return
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)
        thread.join(10)
        self._thread = None
        with self._lock:
            self._inbox.clear()
            self._head_due = None
            self._note(f"down; checkpoint {self.checkpoint}")

    def close(self) -> None:
        """Stop and close the database (the sandbox's ``stop()``)."""
        self.down()
        self.clock.remove_listener(self)
        with self._lock:
            self._closed = True
            self._db.close()

    def _run(self, start: int) -> None:
        loop = asyncio.new_event_loop()
        # The client reports a cancelled long poll through the loop's exception
        # handler: keep it out of the notebook's cells.
        loop.set_exception_handler(lambda _, c: log.debug("%s", c.get("message")))
        self._loop = loop
        try:
            self._task = loop.create_task(self._subscribe(start))
            loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except Exception as error:  # the connection failed: the ERP is down
            self._failure = f"{type(error).__name__}: {error}"
            with self._lock:
                self._note(f"stopped: {self._failure}")
        finally:
            self._subscribed.set()  # never leave up() waiting
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._loop = self._task = None

    async def _subscribe(self, start: int) -> None:
        try:
            await self._listen(start)
        except ServerError as error:
            # Only a replay ID the bus no longer holds (or never held) is worth a
            # second try from -2; any other refusal stops the ERP.
            if start in (REPLAY_NEW, REPLAY_ALL) or not str(error.error).startswith(
                INVALID_REPLAY_PREFIX
            ):
                raise
            with self._lock:
                self._note(
                    f"subscribe from replay ID {start} refused: "
                    f"{error.error or error.message}"
                )
                self._note("subscribing again with -2: every event still retained")
            await self._listen(REPLAY_ALL)

    async def _listen(self, start: int) -> None:
        async with aiocometd_ng.Client(
            self.org.cometd_url,
            ssl=self._ssl,
            auth=OAuthHeader(self.org.access_token),
            extensions=[ReplayExtension({CHANNEL: start})],
        ) as client:
            await client.subscribe(CHANNEL)
            with self._lock:
                # -1 starts after the newest event, -2 before the oldest retained.
                self._position = (
                    self.org.events.latest_replay_id(EVENT)
                    if start == REPLAY_NEW
                    else max(start, 0)
                )
                self._note(f"subscribed to {CHANNEL} from replay ID {start}")
            self._subscribed.set()
            while True:
                try:
                    message = await client.receive()
                except AiocometdException as error:
                    with self._lock:
                        self._note(f"connection lost: {error}")
                    raise
                self._take(message)

    # --- processing --------------------------------------------------------------

    def _take(self, message: dict[str, Any]) -> None:
        """Queue one delivered event for booking, and book whatever is due."""
        data = message.get("data") if isinstance(message, dict) else None
        event = data.get("event") if isinstance(data, dict) else None
        payload = data.get("payload") if isinstance(data, dict) else None
        if not isinstance(event, dict) or not isinstance(payload, dict):
            with self._lock:
                self.rejected.append({"message": message, "reason": "not an event"})
            return
        published = _parse_created(payload.get("CreatedDate")) or self._up_since
        received = ReceivedEvent(
            int(event.get("replayId", 0)),
            str(event.get("EventUuid", "")),
            payload,
            max(published, self._up_since) + self.processing_time,
        )
        with self._lock:
            self.received += 1
            self._position = max(self._position, received.replay_id)
            self._inbox.append(received)
            self._head_due = self._inbox[0].due
            self._book_due(self.clock.now())

    def _book_due(self, now: datetime) -> None:
        """Book, in replay order, each received event whose processing is done."""
        while self._inbox and self._inbox[0].due <= now:
            self._book(self._inbox.popleft())
        self._head_due = self._inbox[0].due if self._inbox else None

    def _book(self, event: ReceivedEvent) -> None:
        """Book one event's order and move the checkpoint, in one transaction."""
        db = self._db
        payload = event.payload
        with db:
            seen = db.execute(
                "SELECT 1 FROM processed_events WHERE event_uuid = ?",
                (event.event_uuid,),
            ).fetchone()
            if seen:
                self.duplicates += 1
                self._note(f"skipped replay ID {event.replay_id}: already processed")
            elif not payload.get("Opportunity_Id__c"):
                reason = "no Opportunity_Id__c"
                self.rejected.append({"replay_id": event.replay_id, "reason": reason})
                self._note(f"rejected replay ID {event.replay_id}: {reason}")
                self._mark_processed(event.event_uuid)
            else:
                number = self._next_order_number()
                db.execute(
                    "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        number,
                        payload["Opportunity_Id__c"],
                        payload.get("Account_Id__c"),
                        payload.get("Amount__c"),
                        payload.get("Close_Date__c"),
                        "event",
                        event.event_uuid,
                        event.replay_id,
                        f"{event.due:%Y-%m-%d %H:%M:%S}",
                    ),
                )
                self._mark_processed(event.event_uuid)
                self._note(
                    f"booked {number} for {payload['Opportunity_Id__c']} "
                    f"(replay ID {event.replay_id})",
                    event.due,
                )
            db.execute(
                "INSERT INTO checkpoint VALUES (?, ?) ON CONFLICT (channel) "
                "DO UPDATE SET replay_id = max(replay_id, excluded.replay_id)",
                (CHANNEL, event.replay_id),
            )

    def _mark_processed(self, event_uuid: str) -> None:
        self._db.execute("INSERT INTO processed_events VALUES (?)", (event_uuid,))

    def _next_order_number(self) -> str:
        (count,) = self._db.execute("SELECT count(*) FROM orders").fetchone()
        return f"SO-{FIRST_ORDER_NUMBER + count}"

    def _note(self, line: str, when: datetime | None = None) -> None:
        self.log.append(f"{(when or self.clock.now()):%Y-%m-%d %H:%M:%S} {line}")

    # --- the order API, for callouts --------------------------------------------

    async def order_request(self, request: Request) -> Response:
        """``POST /erp/orders`` with ``{"opportunityId", "accountId", "amount",
        "closeDate"}``: 201 with the new order, or 200 with the order already booked
        under the same ``Idempotency-Key`` header; 400 (413 when too large) with
        ``{"error": ...}`` for a body it cannot take, and nothing booked."""
        raw = await request.body()
        if len(raw) > MAX_ORDER_BODY:
            return _refused(f"the body is over {MAX_ORDER_BODY:,} bytes", 413)
        try:
            body = json.loads(raw)
        except ValueError:
            return _refused("the body is not JSON")
        problem = _order_problem(body)
        if problem is not None:
            return _refused(problem)
        key = request.headers.get("idempotency-key")
        if key is not None and not key.strip():
            return _refused("the Idempotency-Key header is empty")
        with self._lock:
            if self._closed:
                return _refused("the ERP has stopped", 503)
            order, created = self._book_request(body, key)
        return JSONResponse(order, 201 if created else 200)

    def _book_request(
        self, body: dict[str, Any], key: str | None
    ) -> tuple[dict[str, Any], bool]:
        db = self._db
        marker = f"Idempotency-Key:{key}" if key else None
        with db:
            if marker is not None:
                row = db.execute(
                    "SELECT order_number FROM orders WHERE event_uuid = ?", (marker,)
                ).fetchone()
                if row is not None:
                    self.duplicates += 1
                    self._note(f"{marker} seen before: {row[0]} again")
                    return self._order(row[0]), False
            number = self._next_order_number()
            db.execute(
                "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)",
                (
                    number,
                    body["opportunityId"],
                    body.get("accountId"),
                    body.get("amount"),
                    body.get("closeDate"),
                    "callout",
                    marker,
                    f"{self.clock.now():%Y-%m-%d %H:%M:%S}",
                ),
            )
            self._note(f"booked {number} for {body['opportunityId']} (callout)")
        return self._order(number), True

    def _order(self, number: str) -> dict[str, Any]:
        row = self._db.execute(
            f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders WHERE order_number = ?",
            (number,),
        ).fetchone()
        return dict(zip(ORDER_COLUMNS, row, strict=True))

    # --- the simulated clock -----------------------------------------------------

    def next_due(self) -> datetime | None:
        return self._head_due  # no lock: see _head_due

    def on_due(self, now: datetime) -> None:
        with self._lock:
            self._book_due(now)

    # --- what the ERP holds ------------------------------------------------------

    def _open(self) -> None:
        if self._closed:
            raise RuntimeError(
                "The sandbox has stopped, and the ERP's database with it: start a "
                "new one with Sandbox.start()."
            )

    @property
    def checkpoint(self) -> int | None:
        """The replay ID of the last event processed (None: it never ran)."""
        self._open()
        with self._lock:
            row = self._db.execute(
                "SELECT replay_id FROM checkpoint WHERE channel = ?", (CHANNEL,)
            ).fetchone()
        return row[0] if row else None

    @property
    def orders(self) -> list[dict[str, Any]]:
        """Every order booked, in booking order."""
        self._open()
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders ORDER BY order_number"
            ).fetchall()
        return [dict(zip(ORDER_COLUMNS, row, strict=True)) for row in rows]

    @property
    def pending(self) -> int:
        """Events received and not yet booked."""
        with self._lock:
            return len(self._inbox)

    def wait_until_caught_up(self, timeout: float = 10.0) -> bool:
        """Wait (wall clock) until the ERP has received every event the bus holds for
        it and booked each one that is due; False if it is down or ``timeout`` passed.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_up:
                return False
            retained = self.org.events.retained(EVENT)
            newest = retained[-1].replay_id if retained else 0
            with self._lock:
                idle = not self._inbox or self._inbox[0].due > self.clock.now()
                done = self._subscribed.is_set() and self._position >= newest and idle
            if done:
                return True
            time.sleep(0.01)
        return False

    def __repr__(self) -> str:
        if self._closed:
            return "<ERP stopped with its sandbox>"
        state = "up" if self.is_up else "down"
        return (
            f"<ERP {state}: {len(self.orders)} orders, checkpoint {self.checkpoint}, "
            f"{self.pending} pending>"
        )


def _refused(reason: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": reason}, status)


def _order_problem(body: Any) -> str | None:
    """Why the ERP cannot book ``body`` as an order, or None."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    opportunity = body.get("opportunityId")
    if not isinstance(opportunity, str) or not 15 <= len(opportunity) <= 18:
        return "opportunityId must be a Salesforce Id (15 or 18 characters)"
    account = body.get("accountId")
    if account is not None and (not isinstance(account, str) or len(account) > 18):
        return "accountId must be a Salesforce Id or null"
    amount = body.get("amount")
    if amount is not None and (
        isinstance(amount, bool)
        or not isinstance(amount, int | float)
        or not math.isfinite(amount)
        or abs(amount) >= 1e16
    ):
        return "amount must be a number (at most 16 digits) or null"
    close_date = body.get("closeDate")
    if close_date is not None:
        try:
            date.fromisoformat(close_date)
        except (TypeError, ValueError):
            return "closeDate must be a date, YYYY-MM-DD, or null"
    return None


def _parse_created(value: Any) -> datetime | None:
    """``2026-01-12T09:00:00.000Z``, as the CometD payload carries it."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None
