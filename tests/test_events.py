"""The event bus: definitions in describe, REST publishing, replay IDs, retention,
allocations, Apex ``EventBus.publish`` and triggers on events."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from sfsandbox import Sandbox
from sfsandbox.apex import (
    Database,
    EventBus,
    LimitException,
    Limits,
    PlatformEvent,
)
from sfsandbox.apex.exceptions import TypeException
from sfsandbox.org.events import (
    PUBLISH_AFTER_COMMIT,
    PUBLISH_IMMEDIATELY,
    event_sobject,
)
from sfsandbox.org.org import Org
from sfsandbox.org.schema import Field
from sfsandbox.runtime.clock import SimulatedClock

API = "/services/data/v62.0"
EVENTS = f"{API}/sobjects/Order_Closed__e/"
UUID = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)
ORDER = {
    "Opportunity_Id__c": "006000000000001AAA",
    "Order_Number__c": "ORD-1",
    "Amount__c": 1250.5,
    "Close_Date__c": "2026-01-12",
}


@pytest.fixture(scope="module", autouse=True)
def long_sessions(sandbox: Sandbox) -> None:
    """These tests move the clock by days; the token must outlive that."""
    sandbox.org.session_timeout = timedelta(days=3650)


@pytest.fixture
def limits(sandbox: Sandbox) -> Iterator[Any]:
    """The bus, with its allocations put back after the test."""
    bus = sandbox.org.events
    hourly, daily = bus.hourly_publish_limit, bus.daily_delivery_limit
    yield bus
    bus.hourly_publish_limit, bus.daily_delivery_limit = hourly, daily
    sandbox.clock.advance(hours=25)  # spent allocations fall out of their windows


def publish(api: httpx.Client, values: dict[str, Any] = ORDER) -> httpx.Response:
    return api.post(EVENTS, json=values)


# --- definitions ---------------------------------------------------------------------


def test_global_describe_lists_the_event(api: httpx.Client) -> None:
    entries = {o["name"]: o for o in api.get(f"{API}/sobjects/").json()["sobjects"]}
    event = entries["Order_Closed__e"]
    assert event["keyPrefix"] == "e00"
    assert event["custom"] is True
    assert event["createable"] is True
    assert event["queryable"] is False
    assert event["retrieveable"] is False
    assert event["updateable"] is False
    assert event["deletable"] is False
    assert event["triggerable"] is True
    schema_url = event["urls"]["eventSchema"]
    assert schema_url.endswith("/sobjects/Order_Closed__e/eventSchema")


def test_describe_has_the_standard_event_fields(api: httpx.Client) -> None:
    response = api.get(f"{EVENTS}describe")
    assert response.status_code == 200
    fields = {f["name"]: f for f in response.json()["fields"]}
    for name in ("ReplayId", "EventUuid", "CreatedDate", "CreatedById"):
        assert fields[name]["createable"] is False
        assert fields[name]["custom"] is False
    assert fields["Amount__c"]["type"] == "double"
    assert fields["Amount__c"]["custom"] is True
    assert fields["CreatedById"]["referenceTo"] == ["User"]


def test_event_schema_names_the_payload_fields(api: httpx.Client) -> None:
    schema = api.get(f"{EVENTS}eventSchema").json()
    names = [f["name"] for f in schema["fields"]]
    assert names[:2] == ["CreatedDate", "CreatedById"]
    assert "Order_Number__c" in names
    assert schema["uuid"]


# --- publishing ----------------------------------------------------------------------


def test_publish_answers_the_current_result_shape(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    response = publish(api)
    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("e00")
    assert len(body["id"]) == 18
    assert body["success"] is True
    [enqueued] = body["errors"]
    assert enqueued["statusCode"] == "OPERATION_ENQUEUED"
    assert enqueued["fields"] == []
    assert UUID.match(enqueued["message"])
    last = sandbox.org.events.retained("Order_Closed__e")[-1]
    assert last.event_uuid == enqueued["message"]
    assert last.fields["Order_Number__c"] == "ORD-1"
    assert last.fields["Amount__c"] == 1250.5
    assert last.fields["Close_Date__c"] == "2026-01-12"


def test_publish_spends_an_api_request(api: httpx.Client) -> None:
    before = api.get(f"{API}/limits").json()["DailyApiRequests"]["Remaining"]
    publish(api)
    after = api.get(f"{API}/limits").json()["DailyApiRequests"]["Remaining"]
    assert after == before - 2  # the publish and the second /limits call


def test_replay_ids_grow_with_gaps(sandbox: Sandbox) -> None:
    bus = sandbox.org.events
    messages = [bus.publish("Order_Closed__e", ORDER) for _ in range(30)]
    ids = [m.replay_id for m in messages]
    steps = [b - a for a, b in zip(ids, ids[1:], strict=False)]
    assert all(step > 0 for step in steps)
    assert any(step > 1 for step in steps), "replay IDs must not be contiguous"
    assert len({m.event_uuid for m in messages}) == 30


def test_replay_ids_and_uuids_follow_the_seed() -> None:
    def run(seed: int) -> list[tuple[int, str]]:
        org = Org(seed, SimulatedClock())
        try:
            messages = [org.events.publish("Order_Closed__e", ORDER) for _ in range(5)]
            return [(m.replay_id, m.event_uuid) for m in messages]
        finally:
            org.close()

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_retention_is_72_hours_of_simulated_time(sandbox: Sandbox) -> None:
    bus = sandbox.org.events
    message = bus.publish("Order_Closed__e", ORDER)
    sandbox.clock.advance(hours=71, minutes=59)
    assert bus.is_retained("Order_Closed__e", message.replay_id)
    sandbox.clock.advance(minutes=1)
    assert not bus.is_retained("Order_Closed__e", message.replay_id)
    assert bus.latest_replay_id("Order_Closed__e") == message.replay_id


def test_hourly_publish_allocation(
    api: httpx.Client, sandbox: Sandbox, limits: Any
) -> None:
    sandbox.clock.advance(hours=2)
    limits.hourly_publish_limit = 3
    assert [publish(api).status_code for _ in range(3)] == [201, 201, 201]
    kept = limits.retained("Order_Closed__e")
    refused = publish(api)
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "LIMIT_EXCEEDED"
    assert limits.retained("Order_Closed__e") == kept  # not queued
    entry = api.get(f"{API}/limits").json()["HourlyPublishedPlatformEvents"]
    assert entry == {"Max": 3, "Remaining": 0}
    sandbox.clock.advance(hours=1)
    assert publish(api).status_code == 201


def test_daily_delivery_allocation(api: httpx.Client, limits: Any) -> None:
    limits.daily_delivery_limit = 5
    assert limits.spend_deliveries(3) == 3
    assert limits.spend_deliveries(3) == 2
    assert limits.spend_deliveries(1) == 0
    entry = api.get(f"{API}/limits").json()["DailyDeliveredPlatformEvents"]
    assert entry == {"Max": 5, "Remaining": 0}


# --- bad input -----------------------------------------------------------------------


@dataclass
class Case:
    name: str
    method: str
    path: str
    body: Any
    status: int
    code: str
    message: str = ""


BIG = "é" * 131_072  # 262,144 bytes in UTF-8 per field
CASES = [
    Case("unknown event", "POST", f"{API}/sobjects/No_Such__e/", ORDER, 404,
         "NOT_FOUND"),
    Case("field not on the event", "POST", EVENTS, {"Colour__c": "red"}, 400,
         "INVALID_FIELD", "No such column 'Colour__c'"),
    Case("standard field set", "POST", EVENTS, {"ReplayId": "1"}, 400,
         "INVALID_FIELD_FOR_INSERT_UPDATE", "ReplayId"),
    Case("text too long", "POST", EVENTS, {"Order_Number__c": "x" * 41}, 400,
         "STRING_TOO_LONG"),
    Case("wrong type", "POST", EVENTS, {"Amount__c": "lots"}, 400,
         "JSON_PARSER_ERROR"),
    Case("body over 1 MB on a field", "POST", EVENTS,
         {"Line_Items__c": "x" * 1_100_000}, 400, "STRING_TOO_LONG"),
    Case("event over 1 MB", "POST", f"{API}/sobjects/Big_Order__e/",
         {f"Part_{i}__c": BIG for i in range(5)}, 400, "LIMIT_EXCEEDED", "1 MB"),
    Case("array body", "POST", EVENTS, [ORDER], 400, "JSON_PARSER_ERROR"),
    Case("retrieve an event", "GET", f"{EVENTS}e0051000oXMRRvRAQX", None, 404,
         "NOT_FOUND"),
    Case("update an event", "PATCH", f"{EVENTS}e0051000oXMRRvRAQX", ORDER, 404,
         "NOT_FOUND"),
    Case("delete an event", "DELETE", f"{EVENTS}e0051000oXMRRvRAQX", None, 404,
         "NOT_FOUND"),
    Case("query events", "GET", f"{API}/query?q=SELECT+Id+FROM+Order_Closed__e",
         None, 400, "INVALID_TYPE", "Order_Closed__e"),
    Case("PUT on the event", "PUT", EVENTS, ORDER, 405, "METHOD_NOT_ALLOWED"),
]  # fmt: skip


@pytest.fixture(scope="module")
def big_event(sandbox: Sandbox) -> None:
    parts = [
        Field(f"Part_{i}__c", f"Part {i}", "textarea", length=131_072) for i in range(5)
    ]
    sandbox.org.events.define(
        event_sobject("Big_Order__e", "Big Order", "Big Orders", "e01", parts)
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gets_the_platforms_answer(
    api: httpx.Client, sandbox: Sandbox, big_event: None, case: Case
) -> None:
    bus = sandbox.org.events
    before = {t.name: bus.retained(t.name) for t in bus.types}
    content = None if case.body is None else json.dumps(case.body).encode()
    response = api.request(
        case.method,
        case.path,
        content=content,
        headers={"Content-Type": "application/json"} if content else {},
    )
    assert response.status_code == case.status, response.text
    [error] = response.json()
    assert error["errorCode"] == case.code
    assert case.message in error["message"]
    assert {t.name: bus.retained(t.name) for t in bus.types} == before


# --- Apex: EventBus.publish ----------------------------------------------------------


@pytest.fixture
def behaviour(sandbox: Sandbox) -> Iterator[Any]:
    event_type = sandbox.org.events["Order_Closed__e"]
    yield event_type
    event_type.publish_behavior = PUBLISH_AFTER_COMMIT


def _uuids(sandbox: Sandbox) -> list[str]:
    return [m.event_uuid for m in sandbox.org.events.retained("Order_Closed__e")]


def test_publish_after_commit_waits_for_the_commit(
    sandbox: Sandbox, behaviour: Any
) -> None:
    with sandbox.org.apex.transaction():
        result = EventBus.publish(PlatformEvent("Order_Closed__e", **ORDER))
        assert result.isSuccess()
        assert result.getId().startswith("e00")
        assert result.getErrors()[0].getStatusCode() == "OPERATION_ENQUEUED"
        assert result.event_uuid not in _uuids(sandbox)
        assert Limits.getDmlStatements() == 1
    assert _uuids(sandbox)[-1] == result.event_uuid


def test_publish_after_commit_is_discarded_on_rollback(
    sandbox: Sandbox, behaviour: Any
) -> None:
    before = _uuids(sandbox)
    with pytest.raises(RuntimeError), sandbox.org.apex.transaction():
        result = EventBus.publish(PlatformEvent("Order_Closed__e", **ORDER))
        Database.insert("Account", {"Name": "Rolled Back Co"})
        raise RuntimeError("the rest of the transaction fails")
    assert result.isSuccess()
    assert _uuids(sandbox) == before


def test_publish_immediately_survives_a_rollback(
    sandbox: Sandbox, behaviour: Any
) -> None:
    behaviour.publish_behavior = PUBLISH_IMMEDIATELY
    with pytest.raises(RuntimeError), sandbox.org.apex.transaction():
        result = EventBus.publish(PlatformEvent("Order_Closed__e", **ORDER))
        assert _uuids(sandbox)[-1] == result.event_uuid
        raise RuntimeError("the rest of the transaction fails")
    assert _uuids(sandbox)[-1] == result.event_uuid


def test_publish_a_list_with_a_bad_event(sandbox: Sandbox, behaviour: Any) -> None:
    before = _uuids(sandbox)
    with sandbox.org.apex.transaction():
        results = EventBus.publish(
            [
                PlatformEvent("Order_Closed__e", **ORDER),
                {
                    "attributes": {"type": "Order_Closed__e"},
                    "Order_Number__c": "x" * 50,
                },
            ]
        )
    assert [r.isSuccess() for r in results] == [True, False]
    assert results[1].getErrors()[0].getStatusCode() == "STRING_TOO_LONG"
    assert results[1].getId() is None
    assert _uuids(sandbox) == [*before, results[0].event_uuid]


def test_publish_an_unknown_event_type(sandbox: Sandbox) -> None:
    with pytest.raises(TypeException), sandbox.org.apex.transaction():
        EventBus.publish(PlatformEvent("No_Such__e"))


def test_publish_counts_as_dml(sandbox: Sandbox) -> None:
    with pytest.raises(LimitException), sandbox.org.apex.transaction():
        for _ in range(151):
            EventBus.publish(PlatformEvent("Order_Closed__e", **ORDER))


def test_apex_publish_past_the_hourly_allocation(
    sandbox: Sandbox, limits: Any, behaviour: Any
) -> None:
    sandbox.clock.advance(hours=2)
    limits.hourly_publish_limit = 1
    behaviour.publish_behavior = PUBLISH_IMMEDIATELY
    with sandbox.org.apex.transaction():
        first, second = EventBus.publish(
            [PlatformEvent("Order_Closed__e", **ORDER) for _ in range(2)]
        )
    assert first.isSuccess()
    assert not second.isSuccess()
    assert second.getErrors()[0].getStatusCode() == "LIMIT_EXCEEDED"


# --- Apex triggers on events ---------------------------------------------------------


def test_trigger_runs_after_publish_in_batches_of_2000(sandbox: Sandbox) -> None:
    bus = sandbox.org.events
    release = threading.Event()
    batches: list[list[str]] = []

    def handler(events: list[dict[str, Any]]) -> None:
        batches.append([e["EventUuid"] for e in events])
        release.wait(10)

    trigger = bus.on("Order_Closed__e", handler)
    try:
        published = [bus.publish("Order_Closed__e", ORDER).event_uuid]
        # The first batch holds the trigger while 2,500 more are published.
        published += [
            bus.publish("Order_Closed__e", ORDER).event_uuid for _ in range(2500)
        ]
        release.set()
        assert bus.wait_for_triggers(30)
    finally:
        bus.remove_trigger(trigger)
    assert max(len(b) for b in batches) == 2000
    assert [uuid for batch in batches for uuid in batch] == published


def test_trigger_runs_in_its_own_transaction(sandbox: Sandbox) -> None:
    bus = sandbox.org.events
    created: list[str] = []

    def handler(events: list[dict[str, Any]]) -> None:
        for event in events:
            if event["Order_Number__c"] == "FAIL":
                Database.insert("Account", {"Name": "Never Saved"})
                raise ValueError("handler failed")
            created.append(Database.insert("Account", {"Name": event["EventUuid"]}))

    trigger = bus.on("Order_Closed__e", handler, batch_size=1)
    try:
        good = bus.publish("Order_Closed__e", ORDER)
        bad = bus.publish("Order_Closed__e", {**ORDER, "Order_Number__c": "FAIL"})
        assert bus.wait_for_triggers(10)
    finally:
        bus.remove_trigger(trigger)
    with sandbox.org.apex.transaction():
        names = {r["Name"] for r in Database.query("SELECT Name FROM Account")}
    assert good.event_uuid in names
    assert "Never Saved" not in names
    assert bus.trigger_errors[-1].replay_ids == (bad.replay_id,)
    assert "handler failed" in bus.trigger_errors[-1].error
