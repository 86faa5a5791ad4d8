"""The ERP: a CometD subscriber that books one order per event, resumes from its
checkpoint after an outage, skips repeats, and loses only what expired."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from sfsandbox import Sandbox
from sfsandbox.apex import (
    JSON,
    Database,
    EventBus,
    Http,
    HttpRequest,
    PlatformEvent,
    future,
)

EVENT = "Order_Closed__e"
OPP_A, OPP_F, OPP_G = "006000000000AAA", "006000000000FFF", "006000000000GGG"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A sandbox of its own per test: the ERP's database starts empty."""
    with Sandbox.start(seed=0) as running:
        running.org.session_timeout = timedelta(days=3650)
        running.org.cometd.long_poll_seconds = 2.0
        yield running


def publish(sandbox: Sandbox, *opportunity_ids: str) -> list[int]:
    return [
        sandbox.org.events.publish(
            EVENT, {"Opportunity_Id__c": i, "Order_Number__c": f"O-{i}"}
        ).replay_id
        for i in opportunity_ids
    ]


def booked(sandbox: Sandbox) -> list[str]:
    return [o["opportunity_id"] for o in sandbox.erp.orders]


def test_books_one_order_per_event_in_replay_order(sandbox: Sandbox) -> None:
    erp = sandbox.erp
    early = publish(sandbox, "A")  # before the ERP's first run: -2 takes it
    erp.up()
    later = publish(sandbox, "B", "C")
    assert erp.wait_until_caught_up()
    assert booked(sandbox) == ["A", "B", "C"]
    assert [o["replay_id"] for o in erp.orders] == early + later
    assert [o["order_number"] for o in erp.orders] == [
        "SO-100001",
        "SO-100002",
        "SO-100003",
    ]
    assert erp.checkpoint == later[-1]
    retained = sandbox.org.events.retained(EVENT)
    assert [o["event_uuid"] for o in erp.orders] == [m.event_uuid for m in retained]


def test_the_order_comes_from_a_trigger_published_close(sandbox: Sandbox) -> None:
    org, erp = sandbox.org, sandbox.erp
    erp.up()
    [opportunity] = org.store.conn.execute(
        "SELECT Id FROM \"Opportunity\" WHERE StageName NOT LIKE 'Closed%' LIMIT 1"
    ).fetchone()

    def closed(trigger: object) -> None:
        EventBus.publish(
            [
                PlatformEvent(EVENT, Opportunity_Id__c=o["Id"], Amount__c=o["Amount"])
                for o in trigger.new  # type: ignore[attr-defined]
            ]
        )

    org.apex.triggers.register("Opportunity", ["after update"], closed, name="T")
    with org.apex.transaction():
        Database.update("Opportunity", {"Id": opportunity, "StageName": "Closed Won"})
    assert erp.wait_until_caught_up()
    [order] = erp.orders
    assert order["opportunity_id"] == opportunity
    amount = org.store.conn.execute(
        'SELECT Amount FROM "Opportunity" WHERE Id = ?', (opportunity,)
    ).fetchone()[0]
    assert order["amount"] == amount


def test_an_outage_within_retention_loses_nothing_and_books_nothing_twice(
    sandbox: Sandbox,
) -> None:
    erp = sandbox.erp
    erp.up()
    publish(sandbox, "A", "B")
    assert erp.wait_until_caught_up()
    stored = erp.checkpoint
    erp.down()
    assert not erp.is_up

    during = publish(sandbox, "C", "D", "E")
    sandbox.clock.advance(hours=71)
    erp.up()
    assert erp.wait_until_caught_up()
    assert booked(sandbox) == ["A", "B", "C", "D", "E"]
    assert erp.checkpoint == during[-1]
    assert erp.duplicates == 0
    assert erp.log[-len(during) - 1].endswith(f"from replay ID {stored}")


def test_a_repeated_delivery_books_no_second_order(sandbox: Sandbox) -> None:
    erp = sandbox.erp
    erp.up()
    first = publish(sandbox, "A", "B", "C")
    assert erp.wait_until_caught_up()
    erp.down()

    erp.up(replay_id=first[0])  # deliver B and C again
    assert erp.wait_until_caught_up()
    assert booked(sandbox) == ["A", "B", "C"]
    assert erp.duplicates == 2
    assert erp.received == 5


def test_a_checkpoint_past_retention_is_refused_and_the_gap_is_lost(
    sandbox: Sandbox,
) -> None:
    erp = sandbox.erp
    erp.up()
    publish(sandbox, "A")
    assert erp.wait_until_caught_up()
    stored = erp.checkpoint
    erp.down()

    publish(sandbox, "lost")
    sandbox.clock.advance(hours=73)  # "lost" and the checkpoint expire
    publish(sandbox, "kept")
    erp.up()
    assert erp.wait_until_caught_up()
    assert booked(sandbox) == ["A", "kept"]
    refused = [line for line in erp.log if "refused" in line]
    assert len(refused) == 1
    assert f"400::The replayId {{{stored}}} you provided was invalid" in refused[0]
    assert "subscribing again with -2" in erp.log[erp.log.index(refused[0]) + 1]


def test_processing_time_runs_on_the_simulated_clock(sandbox: Sandbox) -> None:
    erp = sandbox.erp
    erp.processing_time = timedelta(minutes=2)
    erp.up()
    publish(sandbox, "A")
    assert erp.wait_until_caught_up()
    assert erp.orders == [] and erp.pending == 1  # the save returned; no order yet

    sandbox.clock.advance(minutes=1, seconds=59)
    assert erp.wait_until_caught_up() and erp.orders == []
    sandbox.clock.advance(seconds=1)
    assert erp.wait_until_caught_up()
    [order] = erp.orders
    assert order["booked_at"] == "2026-01-12 09:02:00"


def test_events_waiting_when_the_erp_goes_down_come_again(sandbox: Sandbox) -> None:
    erp = sandbox.erp
    erp.processing_time = timedelta(minutes=5)
    erp.up()
    publish(sandbox, "A")
    assert erp.wait_until_caught_up() and erp.pending == 1
    erp.down()  # a crash: A was received, never booked, never checkpointed
    assert erp.pending == 0 and erp.checkpoint is None

    erp.processing_time = timedelta()
    erp.up()
    assert erp.wait_until_caught_up()
    assert booked(sandbox) == ["A"]


def test_an_event_without_an_opportunity_is_rejected_and_passed(
    sandbox: Sandbox,
) -> None:
    erp = sandbox.erp
    erp.up()
    [bad] = [sandbox.org.events.publish(EVENT, {"Order_Number__c": "X"}).replay_id]
    publish(sandbox, "A")
    assert erp.wait_until_caught_up()
    assert booked(sandbox) == ["A"]
    assert erp.rejected == [{"replay_id": bad, "reason": "no Opportunity_Id__c"}]


def test_the_erp_recovers_when_the_org_forgets_its_client(sandbox: Sandbox) -> None:
    erp = sandbox.erp
    erp.up()
    publish(sandbox, "A")
    assert erp.wait_until_caught_up()
    assert sandbox.org.cometd.drop_clients() >= 1  # 403::Unknown client next
    publish(sandbox, "B")
    assert erp.wait_until_caught_up(timeout=20)
    assert booked(sandbox) == ["A", "B"]


def test_stopping_the_sandbox_stops_the_erp() -> None:
    sandbox = Sandbox.start(seed=0)
    sandbox.erp.up()
    assert sandbox.erp.is_up
    sandbox.stop()
    assert not sandbox.erp.is_up


def test_up_without_a_running_sandbox_says_so() -> None:
    sandbox = Sandbox(seed=0)
    with pytest.raises(RuntimeError, match="running sandbox"):
        sandbox.erp.up()
    sandbox.stop()


def test_the_order_api_books_once_per_idempotency_key(sandbox: Sandbox) -> None:
    context = ssl.create_default_context(cafile=sandbox.ca_file)
    with httpx.Client(verify=context, trust_env=False) as http:
        body = {"opportunityId": OPP_A, "amount": 1200.0, "closeDate": "2026-01-12"}
        key = {"Idempotency-Key": OPP_A}
        first = http.post(f"{sandbox.erp.url}/orders", json=body, headers=key)
        again = http.post(f"{sandbox.erp.url}/orders", json=body, headers=key)
        other = http.post(f"{sandbox.erp.url}/orders", json={**body, "amount": 1.0})
        bad = http.post(f"{sandbox.erp.url}/orders", content=b"{not json")
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert first.json() == again.json()
    assert first.json()["source"] == "callout"
    assert bad.status_code == 400 and "not JSON" in bad.json()["error"]
    assert [o["amount"] for o in sandbox.erp.orders] == [1200.0, 1.0]
    assert sandbox.erp.duplicates == 1


def test_a_future_callout_reaches_the_order_api(sandbox: Sandbox) -> None:
    org = sandbox.org
    org.named_credentials.new("ERP", sandbox.erp.url)

    @future(callout=True)
    def send_order(opportunity_id: str) -> None:
        request = HttpRequest()
        request.setEndpoint("callout:ERP/orders")
        request.setMethod("POST")
        request.setHeader("Content-Type", "application/json")
        request.setHeader("Idempotency-Key", opportunity_id)
        request.setBody(JSON.serialize({"opportunityId": opportunity_id}))
        Http().send(request)

    with org.apex.transaction():
        send_order(OPP_F)
    [job] = org.apex.jobs.run_pending()
    assert org.apex.jobs.get(job.Id)["Status"] == "Completed"
    assert booked(sandbox) == [OPP_F]

    sandbox.outbound_listener.down()
    with org.apex.transaction():
        send_order(OPP_G)
    [job] = org.apex.jobs.run_pending()
    failed = org.apex.jobs.get(job.Id)
    assert failed["Status"] == "Failed"
    assert "CalloutException" in failed["ExtendedStatus"]
    assert org.apex.jobs.pending == 0  # nothing retries it


def test_publishing_while_the_clock_advances_never_deadlocks(sandbox: Sandbox) -> None:
    """The clock asks the ERP for its next due moment while holding its own lock;
    the ERP reads the clock while holding its lock. Neither may wait on the other."""
    erp = sandbox.erp
    erp.processing_time = timedelta(seconds=1)
    erp.up()
    done = threading.Event()

    def publish_and_advance() -> None:
        for i in range(100):
            publish(sandbox, f"O{i}")
            sandbox.clock.advance(seconds=1)
        done.set()

    worker = threading.Thread(target=publish_and_advance, daemon=True)
    worker.start()
    assert done.wait(30), "publishing and advancing the clock deadlocked"
    sandbox.clock.advance(seconds=1)
    assert erp.wait_until_caught_up()
    assert booked(sandbox) == [f"O{i}" for i in range(100)]


def test_the_clock_advances_while_the_erp_is_busy(sandbox: Sandbox) -> None:
    """The clock must not wait for the ERP's lock (the ERP, holding it, may be
    waiting for the clock's)."""
    erp = sandbox.erp
    held, release, advanced = threading.Event(), threading.Event(), threading.Event()

    def busy() -> None:
        with erp._lock:  # as while the ERP books an event
            held.set()
            release.wait(10)

    worker = threading.Thread(target=busy)
    worker.start()
    held.wait(5)
    threading.Thread(
        target=lambda: (sandbox.clock.advance(seconds=1), advanced.set()), daemon=True
    ).start()
    try:
        assert advanced.wait(5), "clock.advance waited for the ERP's lock"
    finally:
        release.set()
        worker.join()


BAD_ORDERS = [
    ("not JSON", b"{not json", {}, 400, "not JSON"),
    ("a JSON list", b"[]", {}, 400, "JSON object"),
    ("no opportunityId", b'{"amount": 1}', {}, 400, "opportunityId"),
    ("an empty opportunityId", b'{"opportunityId": ""}', {}, 400, "opportunityId"),
    ("a number for an Id", b'{"opportunityId": 6}', {}, 400, "opportunityId"),
    ("an object for an amount", b'{"opportunityId": "%s", "amount": {"a": 1}}', {},
     400, "amount"),
    ("text for an amount", b'{"opportunityId": "%s", "amount": "lots"}', {}, 400,
     "amount"),
    ("NaN for an amount", b'{"opportunityId": "%s", "amount": NaN}', {}, 400,
     "amount"),
    ("an amount of 10**30", b'{"opportunityId": "%s", "amount": 1e30}', {}, 400,
     "amount"),
    ("true for an amount", b'{"opportunityId": "%s", "amount": true}', {}, 400,
     "amount"),
    ("a list for an accountId", b'{"opportunityId": "%s", "accountId": [1]}', {}, 400,
     "accountId"),
    ("a date that is no date", b'{"opportunityId": "%s", "closeDate": "2026-13-40"}',
     {}, 400, "closeDate"),
    ("an object for a date", b'{"opportunityId": "%s", "closeDate": {}}', {}, 400,
     "closeDate"),
    ("an empty Idempotency-Key", b'{"opportunityId": "%s"}',
     {"Idempotency-Key": ""}, 400, "Idempotency-Key"),
    ("a body over 64 KB", b'{"opportunityId": "%s", "x": "' + b"y" * 70_000 + b'"}',
     {}, 413, "bytes"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "headers", "status", "names"),
    [case[1:] for case in BAD_ORDERS],
    ids=[case[0] for case in BAD_ORDERS],
)
def test_the_order_api_refuses_bad_input(
    sandbox: Sandbox, body: bytes, headers: dict, status: int, names: str
) -> None:
    if b"%s" in body:
        body = body.replace(b"%s", OPP_A.encode())
    context = ssl.create_default_context(cafile=sandbox.ca_file)
    with httpx.Client(verify=context, trust_env=False) as http:
        answer = http.post(
            f"{sandbox.erp.url}/orders",
            content=body,
            headers={"Content-Type": "application/json", **headers},
        )
    assert answer.status_code == status
    assert names in answer.json()["error"]
    assert sandbox.erp.orders == []


def test_only_an_invalid_replay_id_makes_the_erp_start_over(sandbox: Sandbox) -> None:
    erp = sandbox.erp
    erp.up()
    publish(sandbox, "A")
    assert erp.wait_until_caught_up()
    erp.down()
    publish(sandbox, "B")
    sandbox.org.events.daily_delivery_limit = 0  # the next delivery is refused
    erp.up()
    erp.wait_until_caught_up(timeout=3)
    assert not any("subscribing again with -2" in line for line in erp.log)
    assert booked(sandbox) == ["A"]


def test_the_publish_behaviour_takes_only_the_platforms_values(
    sandbox: Sandbox,
) -> None:
    order_closed = sandbox.org.events[EVENT]
    for wrong in ("Publish Immediately", "AfterCommit", None):
        with pytest.raises(ValueError, match="PublishAfterCommit"):
            order_closed.publish_behavior = wrong
    assert order_closed.publish_behavior == "PublishAfterCommit"


def test_up_again_from_another_replay_id_says_to_stop_first(sandbox: Sandbox) -> None:
    sandbox.erp.up()
    with pytest.raises(RuntimeError, match="down"):
        sandbox.erp.up(replay_id=-2)
    sandbox.erp.up()  # already up, nothing asked: nothing to do


def test_the_erp_after_its_sandbox_stopped_says_so() -> None:
    sandbox = Sandbox.start(seed=0)
    sandbox.stop()
    assert repr(sandbox.erp) == "<ERP stopped with its sandbox>"
    with pytest.raises(RuntimeError, match="running sandbox"):
        sandbox.erp.up()
    with pytest.raises(RuntimeError, match="stopped"):
        sandbox.erp.orders  # noqa: B018
