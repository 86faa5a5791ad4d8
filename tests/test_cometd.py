"""The Streaming API over CometD: a real client (aiocometd_ng) with replay, and the
Bayeux protocol's answers to lost clients, bad replay IDs and malformed messages."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import aiocometd_ng
import httpx
import pytest
from aiocometd_ng.exceptions import ServerError

from sfsandbox import Sandbox
from sfsandbox.runtime.cometd_client import OAuthHeader, ReplayExtension

CHANNEL = "/event/Order_Closed__e"
T = TypeVar("T")
INVALID_REPLAY = (
    "400::The replayId {{{0}}} you provided was invalid.  Please provide a valid ID, "
    "-2 to replay all events, or -1 to replay only new events."
)


@pytest.fixture(scope="module", autouse=True)
def short_polls(sandbox: Sandbox) -> Iterator[None]:
    """Long polls of 2 s keep an idle connect short; tokens outlive clock jumps."""
    sandbox.org.session_timeout = timedelta(days=3650)
    sandbox.org.cometd.long_poll_seconds = 2.0
    yield


@pytest.fixture
def context(sandbox: Sandbox) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=sandbox.ca_file)


def publish(sandbox: Sandbox, count: int, label: str = "O") -> list[int]:
    """Publish ``count`` order events; their replay IDs."""
    bus = sandbox.org.events
    return [
        bus.publish("Order_Closed__e", {"Order_Number__c": f"{label}-{i}"}).replay_id
        for i in range(count)
    ]


async def receive(
    sandbox: Sandbox,
    context: ssl.SSLContext,
    replay: int,
    count: int,
    publish_after_subscribe: int = 0,
) -> list[dict[str, Any]]:
    """Subscribe with ``replay`` through aiocometd_ng and take ``count`` events."""
    extension = ReplayExtension({CHANNEL: replay})
    messages: list[dict[str, Any]] = []
    async with aiocometd_ng.Client(
        sandbox.org.cometd_url,
        ssl=context,
        auth=OAuthHeader(sandbox.org.access_token),
        extensions=[extension],
    ) as client:
        await client.subscribe(CHANNEL)
        if publish_after_subscribe:
            publish(sandbox, publish_after_subscribe, "late")
        if count:
            async for message in client:
                messages.append(message)
                if len(messages) == count:
                    break
    return messages


def run_apart(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a thread of its own: Playwright's sync API (the browser
    tests' session fixture) keeps an event loop running in the main thread."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = asyncio.run(coroutine)
        except BaseException as error:  # handed back to the test
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def replay_ids(messages: list[dict[str, Any]]) -> list[int]:
    return [m["data"]["event"]["replayId"] for m in messages]


# --- a real client -------------------------------------------------------------------


def test_replay_all_retained_events_in_order(
    sandbox: Sandbox, context: ssl.SSLContext
) -> None:
    sandbox.clock.advance(hours=80)  # start from an empty retention window
    published = publish(sandbox, 5)
    messages = run_apart(receive(sandbox, context, -2, 5))
    assert replay_ids(messages) == published
    first = messages[0]
    assert first["channel"] == CHANNEL
    assert set(first["data"]) == {"schema", "payload", "event"}
    assert first["data"]["schema"] == sandbox.org.events["Order_Closed__e"].schema_id
    assert first["data"]["payload"]["Order_Number__c"] == "O-0"
    assert first["data"]["payload"]["CreatedDate"].endswith("Z")
    retained = sandbox.org.events.retained("Order_Closed__e")
    assert first["data"]["event"]["EventUuid"] == retained[0].event_uuid


def test_replay_new_events_only(sandbox: Sandbox, context: ssl.SSLContext) -> None:
    old = publish(sandbox, 2)
    messages = run_apart(receive(sandbox, context, -1, 3, publish_after_subscribe=3))
    ids = replay_ids(messages)
    assert len(ids) == 3 and min(ids) > max(old)
    assert ids == sorted(ids)
    assert [m["data"]["payload"]["Order_Number__c"] for m in messages] == [
        "late-0",
        "late-1",
        "late-2",
    ]


def test_replay_after_an_outage_loses_nothing(
    sandbox: Sandbox, context: ssl.SSLContext
) -> None:
    sandbox.clock.advance(hours=80)
    before = publish(sandbox, 3)
    seen = run_apart(receive(sandbox, context, -2, 3))
    last = replay_ids(seen)[-1]
    assert last == before[-1]

    during = publish(sandbox, 6, "outage")  # the subscriber is down
    sandbox.clock.advance(hours=71)
    resumed = run_apart(receive(sandbox, context, last, 6))
    assert replay_ids(resumed) == during  # all of them, once each, in order


def test_replay_id_past_retention_is_refused(
    sandbox: Sandbox, context: ssl.SSLContext
) -> None:
    [old] = publish(sandbox, 1)
    sandbox.clock.advance(hours=72)
    with pytest.raises(ServerError) as failure:
        run_apart(receive(sandbox, context, old, 0))
    assert failure.value.response["error"] == INVALID_REPLAY.format(old)


def test_replay_id_that_never_existed_is_refused(
    sandbox: Sandbox, context: ssl.SSLContext
) -> None:
    ids = publish(sandbox, 20)
    gaps = sorted(set(range(ids[0], ids[-1])) - set(ids))
    assert gaps, "the bus leaves gaps between replay IDs"
    with pytest.raises(ServerError) as failure:
        run_apart(receive(sandbox, context, gaps[0], 0))
    assert failure.value.response["error"] == INVALID_REPLAY.format(gaps[0])


def test_client_recovers_from_unknown_client(
    sandbox: Sandbox, context: ssl.SSLContext
) -> None:
    """After the server forgets the client, it handshakes again and resubscribes
    from the last replay ID it saw: nothing is lost."""

    async def run() -> list[dict[str, Any]]:
        extension = ReplayExtension({CHANNEL: -1})
        got: list[dict[str, Any]] = []
        async with aiocometd_ng.Client(
            sandbox.org.cometd_url,
            ssl=context,
            auth=OAuthHeader(sandbox.org.access_token),
            extensions=[extension],
        ) as client:
            await client.subscribe(CHANNEL)
            publish(sandbox, 2, "before")
            async for message in client:
                got.append(message)
                if len(got) == 2:
                    assert sandbox.org.cometd.drop_clients() >= 1
                    publish(sandbox, 3, "after")
                if len(got) == 5:
                    break
        return got

    messages = run_apart(run())
    numbers = [m["data"]["payload"]["Order_Number__c"] for m in messages]
    assert numbers == ["before-0", "before-1", "after-0", "after-1", "after-2"]


# --- the protocol, message by message ------------------------------------------------


@pytest.fixture
def bayeux(sandbox: Sandbox, token: str) -> Iterator[Any]:
    """Post Bayeux messages to /cometd/62.0; returns (status, reply list)."""
    client = httpx.Client(
        base_url=sandbox.org.instance_url,
        verify=ssl.create_default_context(cafile=sandbox.ca_file),
        trust_env=False,
        timeout=30,
    )

    def post(
        messages: Any,
        auth: str | None = f"OAuth {token}",
        path: str = "/cometd/62.0",
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = auth
        content = raw if raw is not None else json.dumps(messages).encode()
        response = client.post(path, content=content, headers=headers)
        return response.status_code, response.json()

    yield post
    client.close()


HANDSHAKE = {
    "channel": "/meta/handshake",
    "version": "1.0",
    "supportedConnectionTypes": ["long-polling"],
    "id": "1",
}


def handshake(bayeux: Any, auth: str | None = None) -> str:
    kwargs = {"auth": auth} if auth else {}
    status, [reply] = bayeux([HANDSHAKE], **kwargs)
    assert status == 200 and reply["successful"], reply
    return reply["clientId"]


def subscribe(bayeux: Any, client_id: str, replay: Any) -> dict[str, Any]:
    _, [reply] = bayeux(
        [
            {
                "channel": "/meta/subscribe",
                "subscription": CHANNEL,
                "clientId": client_id,
                "ext": {"replay": {CHANNEL: replay}},
                "id": "2",
            }
        ]
    )
    return reply


def connect(bayeux: Any, client_id: str) -> list[dict[str, Any]]:
    message = {
        "channel": "/meta/connect",
        "connectionType": "long-polling",
        "clientId": client_id,
        "id": "3",
    }
    status, replies = bayeux([message])
    assert status == 200
    return replies


def test_handshake_reply(bayeux: Any) -> None:
    _, [reply] = bayeux([HANDSHAKE])
    assert reply["channel"] == "/meta/handshake"
    assert reply["successful"] is True
    assert reply["id"] == "1"
    assert reply["supportedConnectionTypes"] == ["long-polling"]
    assert reply["ext"] == {"replay": True, "payload.format": True}
    assert reply["advice"]["reconnect"] == "retry"


def test_bearer_authorization_works_too(bayeux: Any, token: str) -> None:
    assert handshake(bayeux, auth=f"Bearer {token}")


def test_handshake_without_a_session_is_denied(bayeux: Any) -> None:
    status, [reply] = bayeux([HANDSHAKE], auth="OAuth not-a-token")
    assert status == 401
    assert reply["successful"] is False
    assert reply["error"] == "403::Handshake denied"
    assert reply["ext"]["sfdc"]["failureReason"] == "401::Authentication invalid"
    assert reply["advice"] == {"reconnect": "none"}


def test_unknown_client_after_the_server_forgets_it(
    bayeux: Any, sandbox: Sandbox
) -> None:
    client_id = handshake(bayeux)
    connect(bayeux, client_id)
    sandbox.org.cometd.drop_clients()
    [reply] = connect(bayeux, client_id)
    assert reply["successful"] is False
    assert reply["error"] == "403::Unknown client"
    assert reply["advice"]["reconnect"] == "handshake"


def test_idle_client_expires(bayeux: Any, sandbox: Sandbox) -> None:
    server = sandbox.org.cometd
    client_id = handshake(bayeux)
    server.client_timeout_seconds = 0.0
    try:
        assert client_id not in server.clients
        assert subscribe(bayeux, client_id, -1)["error"] == "403::Unknown client"
    finally:
        server.client_timeout_seconds = 40.0


def test_disconnect_then_connect(bayeux: Any) -> None:
    client_id = handshake(bayeux)
    _, [reply] = bayeux(
        [{"channel": "/meta/disconnect", "clientId": client_id, "id": "9"}]
    )
    assert reply["successful"] is True
    [after] = connect(bayeux, client_id)
    assert after["error"] == "403::Unknown client"


def test_unsubscribe_stops_delivery(bayeux: Any, sandbox: Sandbox) -> None:
    client_id = handshake(bayeux)
    connect(bayeux, client_id)
    assert subscribe(bayeux, client_id, -1)["successful"]
    _, [reply] = bayeux(
        [
            {
                "channel": "/meta/unsubscribe",
                "subscription": CHANNEL,
                "clientId": client_id,
                "id": "4",
            }
        ]
    )
    assert reply["successful"] is True
    publish(sandbox, 1)
    [only] = connect(bayeux, client_id)  # waits out the 2 s poll: no event
    assert only["channel"] == "/meta/connect" and only["successful"]


def test_delivery_allocation(bayeux: Any, sandbox: Sandbox) -> None:
    bus = sandbox.org.events
    sandbox.clock.advance(hours=80)
    limit = bus.daily_delivery_limit
    bus.daily_delivery_limit = 2
    try:
        published = publish(sandbox, 3)
        client_id = handshake(bayeux)
        connect(bayeux, client_id)
        assert subscribe(bayeux, client_id, -2)["successful"]
        first = connect(bayeux, client_id)
        assert [m["data"]["event"]["replayId"] for m in first[:-1]] == published[:2]
        [refused] = connect(bayeux, client_id)
        assert refused["successful"] is False
        assert refused["error"] == "403::Organization total events daily limit exceeded"
        assert bus.retained("Order_Closed__e")[-1].replay_id == published[2]
    finally:
        bus.daily_delivery_limit = limit
        sandbox.clock.advance(hours=25)


def test_a_waiting_connect_does_not_block_the_org(
    bayeux: Any, sandbox: Sandbox, api: httpx.Client
) -> None:
    server = sandbox.org.cometd
    server.long_poll_seconds = 30.0
    try:
        client_id = handshake(bayeux)
        connect(bayeux, client_id)
        assert subscribe(bayeux, client_id, -1)["successful"]
        answer: list[Any] = []
        waiting = threading.Thread(
            target=lambda: answer.append(connect(bayeux, client_id))
        )
        waiting.start()
        while not any(
            c.polling for c in server._clients.values() if c.client_id == client_id
        ):
            waiting.join(0.01)
        # The org answers REST while the connect waits.
        assert api.get("/services/data/v62.0/limits").status_code == 200
        assert waiting.is_alive()
        [replay_id] = publish(sandbox, 1)
        waiting.join(10)
        assert not waiting.is_alive()
        assert answer[0][0]["data"]["event"]["replayId"] == replay_id
    finally:
        server.long_poll_seconds = 2.0


@dataclass
class Bad:
    name: str
    messages: Any
    error: str
    status: int = 200
    raw: bytes | None = None
    path: str = "/cometd/62.0"


def _subscribe_message(subscription: Any, replay: Any = -1) -> dict[str, Any]:
    return {
        "channel": "/meta/subscribe",
        "subscription": subscription,
        "clientId": "CLIENT",
        "ext": {"replay": {str(subscription): replay}},
        "id": "2",
    }


BAD = [
    Bad("not JSON", None, "400::Malformed JSON", 400, raw=b"{not json"),
    Bad("not a message array", None, "400::A Bayeux request is a message array",
        400, raw=b"42"),
    Bad("message without a channel", [{"id": "1"}],
        "400::A Bayeux message needs a channel"),
    Bad("message that is not an object", ["hello"],
        "400::A Bayeux message needs a channel"),
    Bad("unknown meta channel", [{"channel": "/meta/nothing", "id": "1"}],
        "400::Unknown meta channel {/meta/nothing}"),
    Bad("publish over Bayeux", [{"channel": CHANNEL, "data": {}, "id": "1"}],
        "403::Publish denied"),
    Bad("handshake without long polling",
        [{**HANDSHAKE, "supportedConnectionTypes": ["websocket"]}],
        "400::Unsupported connection types; use long-polling"),
    Bad("connect from a client that never shook hands",
        [{"channel": "/meta/connect", "clientId": "nobody", "id": "1"}],
        "403::Unknown client"),
    Bad("subscribe to an unknown event", [_subscribe_message("/event/No_Such__e")],
        "400::The channel you requested to subscribe to does not exist "
        "{/event/No_Such__e}"),
    Bad("subscribe to a PushTopic", [_subscribe_message("/topic/Accounts")],
        "is not emulated by sfsandbox"),
    Bad("replay ID that is text", [_subscribe_message(CHANNEL, "latest")],
        INVALID_REPLAY.format("latest")),
    Bad("replay ID that never existed", [_subscribe_message(CHANNEL, 7)],
        INVALID_REPLAY.format(7)),
    Bad("replay ID true", [_subscribe_message(CHANNEL, True)],
        INVALID_REPLAY.format(True)),
    Bad("subscription missing", [_subscribe_message(None)],
        "400::The subscribe message needs a subscription"),
]  # fmt: skip


@pytest.mark.parametrize("case", BAD, ids=[b.name for b in BAD])
def test_malformed_bayeux_gets_a_bayeux_error(
    bayeux: Any, sandbox: Sandbox, case: Bad
) -> None:
    bus = sandbox.org.events
    before = bus.retained("Order_Closed__e")
    messages = case.messages
    if messages and isinstance(messages[0], dict) and messages[0].get("clientId"):
        client_id = handshake(bayeux)
        messages = [{**m, "clientId": client_id} for m in messages]
        if "nobody" in json.dumps(case.messages):
            messages = case.messages
    status, replies = bayeux(messages, raw=case.raw, path=case.path)
    assert status == case.status
    [reply] = replies
    assert reply["successful"] is False
    assert case.error in reply["error"]
    assert bus.retained("Order_Closed__e") == before


def test_unserved_version_and_get(bayeux: Any, sandbox: Sandbox) -> None:
    status, body = bayeux([HANDSHAKE], path="/cometd/36.0")
    assert status == 404 and body[0]["errorCode"] == "NOT_FOUND"
    with httpx.Client(
        verify=ssl.create_default_context(cafile=sandbox.ca_file), trust_env=False
    ) as client:
        response = client.get(f"{sandbox.org.cometd_url}")
    assert response.status_code == 400
    assert response.json()[0]["error"].startswith("400::")
