"""Extensions for ``aiocometd_ng`` that a Salesforce CometD subscriber needs.

- ``ReplayExtension`` adds ``ext.replay`` to every ``/meta/subscribe`` and keeps, per
  channel, the replay ID of the last event received, so that a resubscription (after
  ``403::Unknown client`` and a new handshake) resumes where the client stopped. It
  does what Salesforce's ``cometdReplayExtension.js`` does for browser clients.
- ``OAuthHeader`` sends ``Authorization: OAuth <token>`` and, when the server answers
  401 or 403, asks ``refresh()`` for a new token before the client retries.

::

    client = aiocometd_ng.Client(
        org.cometd_url,
        ssl=ssl_context,                      # trusts the sandbox CA
        auth=OAuthHeader(org.access_token),
        extensions=[ReplayExtension({"/event/Order_Closed__e": -2})],
    )
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiocometd_ng.extensions import AuthExtension, Extension

Payload = list[dict[str, Any]]


class ReplayExtension(Extension):
    """The Salesforce replay extension: ``{channel: -1 | -2 | replay ID}``."""

    def __init__(self, replay: dict[str, int] | None = None) -> None:
        self.replay: dict[str, int] = dict(replay or {})

    async def outgoing(self, payload: Payload, headers: dict[str, str]) -> None:
        for message in payload:
            if message.get("channel") == "/meta/subscribe":
                channel = message.get("subscription")
                ext = message.setdefault("ext", {})
                ext["replay"] = {channel: self.replay.get(channel, -1)}

    async def incoming(
        self, payload: Payload, headers: dict[str, str] | None = None
    ) -> None:
        for message in payload:
            data = message.get("data")
            if isinstance(data, dict) and isinstance(data.get("event"), dict):
                replay_id = data["event"].get("replayId")
                if isinstance(replay_id, int):
                    self.replay[message["channel"]] = replay_id


class OAuthHeader(AuthExtension):
    """``Authorization: OAuth <token>``, with a new token after an auth error."""

    def __init__(self, refresh: Callable[[], str], scheme: str = "OAuth") -> None:
        self.refresh = refresh
        self.scheme = scheme
        self.token = ""

    async def outgoing(self, payload: Payload, headers: dict[str, str]) -> None:
        if not self.token:
            self.token = self.refresh()
        headers["Authorization"] = f"{self.scheme} {self.token}"

    async def incoming(
        self, payload: Payload, headers: dict[str, str] | None = None
    ) -> None:
        return None

    async def authenticate(self) -> None:
        self.token = self.refresh()
