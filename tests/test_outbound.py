"""Outbound Messages: the rule, the SOAP message, the listener's Ack, and the retries
on the simulated clock."""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import requests
import zeep
from lxml import etree

from sfsandbox import Sandbox
from sfsandbox.apex import Database
from sfsandbox.org.outbound import OutboundNotification, retry_interval

API = "/services/data/v62.0"
RULE = "OpportunityClosedWon"


@pytest.fixture(autouse=True)
def rule(sandbox: Sandbox) -> Iterator[Any]:
    sandbox.org.outbound.clear()
    sandbox.outbound_listener.reset()
    defined = sandbox.org.outbound.define(
        RULE,
        "Opportunity",
        ["Name", "Amount", "StageName", "IsWon", "CloseDate"],
        sandbox.outbound_listener.url,
        field="StageName",
        value="Closed Won",
    )
    yield defined
    sandbox.org.outbound.clear()
    sandbox.outbound_listener.reset()


def opportunity(name: str, stage: str = "Prospecting", amount: int = 1000) -> dict:
    return {
        "Name": name,
        "StageName": stage,
        "CloseDate": "2026-12-31",
        "Amount": amount,
    }


def close(sandbox: Sandbox, *names: str) -> list[str]:
    """Create opportunities and close them, in one transaction."""
    with sandbox.org.apex.transaction():
        ids = Database.insert("Opportunity", [opportunity(n) for n in names])
        Database.update(
            "Opportunity", [{"Id": i, "StageName": "Closed Won"} for i in ids]
        )
    return ids


def test_a_closed_won_opportunity_is_sent_and_acknowledged(
    sandbox: Sandbox, rule: Any
) -> None:
    [opp_id] = close(sandbox, "OM Ack")
    [queued] = sandbox.org.outbound.queue()
    assert (queued["RecordId"], queued["Attempts"], queued["Rule"]) == (opp_id, 0, RULE)
    assert sandbox.outbound_listener.received == []  # nothing is sent before asked

    [attempt] = sandbox.org.outbound.deliver_due()
    assert attempt.delivered and attempt.error is None
    assert sandbox.org.outbound.queue() == []
    [message] = sandbox.outbound_listener.received
    assert message.organization_id == sandbox.org.org_id
    assert message.action_id == rule.action_id and message.session_id is None
    [notification] = message.notifications
    assert (
        notification.Id == queued["Id"] and notification.sobject_type == "Opportunity"
    )
    assert notification.fields == {
        "Id": opp_id,
        "Name": "OM Ack",
        "Amount": "1000.0",
        "StageName": "Closed Won",
        "IsWon": "true",
        "CloseDate": "2026-12-31",
    }
    assert sandbox.org.outbound.notifications("Delivered")[0].attempts == 1


def test_the_rule_fires_when_a_record_comes_to_meet_it(sandbox: Sandbox) -> None:
    with sandbox.org.apex.transaction():
        won = Database.insert("Opportunity", opportunity("Born won", "Closed Won"))
        Database.update("Opportunity", {"Id": won, "Amount": 5})  # still won: no
        other = Database.insert("Opportunity", opportunity("Never won"))
        Database.update("Opportunity", {"Id": other, "StageName": "Closed Lost"})
    assert [row["RecordId"] for row in sandbox.org.outbound.queue()] == [won]
    with pytest.raises(ZeroDivisionError), sandbox.org.apex.transaction():
        close_id = Database.insert("Opportunity", opportunity("Rolled back"))
        Database.update("Opportunity", {"Id": close_id, "StageName": "Closed Won"})
        _ = 1 / 0
    assert len(sandbox.org.outbound.queue()) == 1  # the rollback queued nothing


def test_a_rest_update_fires_the_rule(sandbox: Sandbox, api: httpx.Client) -> None:
    opp_id = api.post(
        f"{API}/sobjects/Opportunity/", json=opportunity("Via REST")
    ).json()["id"]
    assert sandbox.org.outbound.queue() == []
    api.patch(f"{API}/sobjects/Opportunity/{opp_id}", json={"StageName": "Closed Won"})
    assert [row["RecordId"] for row in sandbox.org.outbound.queue()] == [opp_id]


def expected_schedule() -> list[timedelta]:
    """Attempt times after the first: 30 s, then doubling gaps capped at 2 h."""
    times, at, failures = [timedelta()], timedelta(), 1
    while True:
        at += min(timedelta(seconds=30) * 2 ** (failures - 1), timedelta(hours=2))
        if at >= timedelta(hours=24):
            return times
        times.append(at)
        failures += 1


def test_retries_grow_to_two_hours_and_stop_at_24_hours(sandbox: Sandbox) -> None:
    sandbox.outbound_listener.down()
    close(sandbox, "OM Down")
    start = sandbox.clock.now()
    sandbox.org.outbound.deliver_due()
    sandbox.clock.advance(hours=23, minutes=59)
    [notification] = sandbox.org.outbound.notifications()
    assert notification.status == "Queued"
    offsets = [at - start for at in notification.attempted_at]
    assert offsets == expected_schedule()
    assert offsets[:10] == [
        timedelta(minutes=m)
        for m in (0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5, 63.5, 127.5, 247.5)
    ]
    gaps = [b - a for a, b in zip(offsets, offsets[1:], strict=False)]
    assert max(gaps) == timedelta(hours=2) and gaps[-1] == timedelta(hours=2)
    assert notification.last_error.startswith("Unable to connect to https://127.0.0.1")
    [row] = sandbox.org.outbound.queue()
    assert row["Attempts"] == len(offsets)

    sandbox.clock.advance(minutes=1)  # 24 hours old: dropped, no further attempt
    assert notification.status == "Dropped"
    assert len(notification.attempted_at) == len(offsets)
    assert sandbox.org.outbound.queue() == []
    sandbox.outbound_listener.up()
    sandbox.clock.advance(hours=3)
    assert sandbox.outbound_listener.received == []


def test_retry_interval_is_capped() -> None:
    assert [retry_interval(n) for n in (1, 2, 8, 9, 30)] == [
        timedelta(seconds=30),
        timedelta(minutes=1),
        timedelta(minutes=64),
        timedelta(hours=2),
        timedelta(hours=2),
    ]


def test_at_most_100_notifications_per_message(sandbox: Sandbox) -> None:
    with sandbox.org.apex.transaction():
        Database.insert(
            "Opportunity", [opportunity(f"Bulk {i}", "Closed Won") for i in range(250)]
        )
    attempts = sandbox.org.outbound.deliver_due()
    assert [len(a.notification_ids) for a in attempts] == [100, 100, 50]
    sizes = [len(m.notifications) for m in sandbox.outbound_listener.received]
    assert sizes == [100, 100, 50]
    names = [n.fields["Name"] for n in sandbox.outbound_listener.notifications]
    assert names == [f"Bulk {i}" for i in range(250)]


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("fault", "(500) Internal Server Error: SOAP fault: ERP database is locked"),
        ("junk", "(200) OK: the response is not XML"),
        ("nack", "(200) OK: Ack is 'false'"),
    ],
)
def test_a_listener_that_does_not_ack_gets_the_message_again(
    sandbox: Sandbox, mode: str, error: str
) -> None:
    ids = close(sandbox, "OM Bad 1", "OM Bad 2")
    sandbox.outbound_listener.answer(mode)
    [failed] = sandbox.org.outbound.deliver_due()
    assert not failed.delivered and failed.error == error
    assert [row["LastError"] for row in sandbox.org.outbound.queue()] == [error] * 2

    sandbox.outbound_listener.answer("ack")
    sandbox.clock.advance(seconds=30)
    assert sandbox.org.outbound.queue() == []
    delivered = sandbox.org.outbound.notifications("Delivered")
    assert [n.record_id for n in delivered] == ids
    # The listener saw each notification twice: the org resent, it lost nothing.
    seen = Counter(n.Id for n in sandbox.outbound_listener.notifications)
    assert seen == Counter({n.Id: 2 for n in delivered})
    assert [m.answered for m in sandbox.outbound_listener.received] == [mode, "ack"]


def test_newer_notifications_overtake_older_ones_waiting_to_retry(
    sandbox: Sandbox,
) -> None:
    sandbox.outbound_listener.down()
    close(sandbox, "OM Older")
    sandbox.org.outbound.deliver_due()
    sandbox.outbound_listener.up()
    close(sandbox, "OM Newer")
    sandbox.org.outbound.deliver_due()
    sandbox.clock.advance(seconds=30)
    names = [n.fields["Name"] for n in sandbox.outbound_listener.notifications]
    assert names == ["OM Newer", "OM Older"]


def test_a_message_carries_the_data_as_it_is_when_sent(sandbox: Sandbox) -> None:
    sandbox.outbound_listener.down()
    [opp_id] = close(sandbox, "OM Latest")
    sandbox.org.outbound.deliver_due()
    with sandbox.org.apex.transaction():
        Database.update("Opportunity", {"Id": opp_id, "Amount": 2500})
    sandbox.outbound_listener.up()
    sandbox.clock.advance(seconds=30)
    [notification] = sandbox.outbound_listener.notifications
    assert notification.fields["Amount"] == "2500.0"


def test_zeep_reads_the_outbound_wsdl_and_a_notification(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    session = requests.Session()
    session.trust_env = False
    session.verify = sandbox.ca_file
    url = sandbox.org.outbound.wsdl_url(RULE)
    assert url.endswith(f"/sfsandbox/wsdl/outbound/{RULE}.wsdl")
    client = zeep.Client(url, transport=zeep.Transport(session=session))
    operation = client.service._binding.get("notifications")

    [opp_id] = close(sandbox, "OM Zeep")
    rule = sandbox.org.outbound.rule(RULE)
    pending: list[OutboundNotification] = sandbox.org.outbound.notifications()
    envelope = sandbox.org.outbound.message(rule, pending)
    request = operation.input.deserialize(etree.fromstring(envelope.encode()))
    assert request.OrganizationId == sandbox.org.org_id
    assert request.SessionId is None
    [notification] = request.Notification
    assert notification.Id == pending[0].Id
    assert notification.sObject.Id == opp_id
    assert notification.sObject.Amount == 1000.0 and notification.sObject.IsWon is True
    assert str(notification.sObject.CloseDate) == "2026-12-31"
    unknown = api.get("/sfsandbox/wsdl/outbound/NoSuchRule.wsdl")
    assert unknown.status_code == 404
    assert unknown.json()[0]["errorCode"] == "NOT_FOUND"


def test_the_listener_refuses_what_is_not_a_notifications_message(
    sandbox: Sandbox,
) -> None:
    context = ssl.create_default_context(cafile=sandbox.ca_file)
    with httpx.Client(verify=context, trust_env=False) as client:
        answer = client.post(sandbox.outbound_listener.url, content=b"<not-soap")
    assert answer.status_code == 500 and b"faultstring" in answer.content
    assert sandbox.outbound_listener.rejected == 1
    assert sandbox.outbound_listener.received == []


def test_bad_rule_definitions_are_refused(sandbox: Sandbox) -> None:
    url = sandbox.outbound_listener.url
    with pytest.raises(ValueError, match="no field 'Nope'"):
        sandbox.org.outbound.define("R", "Opportunity", ["Nope"], url, field="Name")
    with pytest.raises(ValueError, match="Unknown sObject"):
        sandbox.org.outbound.define("R", "Nope", ["Name"], url, field="Name")
    with pytest.raises(ValueError, match="criteria"):
        sandbox.org.outbound.define("R", "Opportunity", ["Name"], url)
