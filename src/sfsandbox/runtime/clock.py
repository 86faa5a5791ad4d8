"""Simulated time, shared by every system of one sandbox.

The clock stands still until something advances it, so what a lab sees is the same on
every run: retention, retries and nightly jobs happen when the lab says time has passed.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

DEFAULT_START = datetime(2026, 1, 12, 9, 0, 0, tzinfo=UTC)


class ClockListener(Protocol):
    """Something that wants to run at a moment of simulated time (a nightly job).

    ``next_due`` says when it wants to run next (None: not now); the clock calls
    ``on_due`` with the clock standing at that moment, while it advances past it.
    """

    def next_due(self) -> datetime | None: ...

    def on_due(self, now: datetime) -> None: ...


class SimulatedClock:
    """A thread-safe clock that moves only when advanced."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        if start.tzinfo is None:
            raise ValueError("The clock's start must be timezone-aware (UTC).")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()
        self._listeners: list[ClockListener] = []
        self._firing: set[int] = set()  # id() of listeners running now

    def add_listener(self, listener: ClockListener) -> None:
        """Call ``listener.on_due`` whenever an advance passes its ``next_due``."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: ClockListener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def now(self) -> datetime:
        """The current simulated time, in UTC."""
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **units: float) -> datetime:
        """Move time forward by ``delta`` or by keyword units (``hours=24``).

        The step must be finite and the result must stay within ``datetime``'s years
        (up to 9999-12-31); anything else is a ValueError that says so.
        """
        try:
            step = (delta or timedelta()) + timedelta(**units)
        except (OverflowError, ValueError):
            # timedelta() says "cannot convert float NaN to integer" or "days=...;
            # must have magnitude <= 999999999": true, but not about the clock.
            given = ", ".join(
                [
                    *([repr(delta)] if delta else []),
                    *(f"{k}={v!r}" for k, v in units.items()),
                ]
            )
            raise ValueError(
                f"The clock advances by a finite step of at most "
                f"{timedelta.max.days:,} days in all; got {given}."
            ) from None
        if step < timedelta():
            raise ValueError("Simulated time only moves forward.")
        with self._lock:
            try:
                target = self._now + step
            except OverflowError:
                raise ValueError(
                    f"Simulated time cannot pass {datetime.max:%Y-%m-%d} (UTC): it is "
                    f"{self._now:%Y-%m-%d %H:%M} now and the step is {step}."
                ) from None
        self._run_listeners_until(target)
        with self._lock:
            # A listener may have moved the clock past the target itself.
            self._now = max(self._now, target)
            return self._now

    def _run_listeners_until(self, target: datetime) -> None:
        """Stop at each listener's due moment up to ``target``, earliest first."""
        fired: set[tuple[int, datetime]] = set()
        while True:
            with self._lock:
                due = [
                    (when, index, listener)
                    for index, listener in enumerate(self._listeners)
                    if id(listener) not in self._firing
                    and (when := listener.next_due()) is not None
                    and when <= target
                    and (id(listener), when) not in fired
                ]
                if not due:
                    return
                when, _, listener = min(due, key=lambda item: item[:2])
                fired.add((id(listener), when))
                self._now = max(self._now, when)
                now = self._now
                self._firing.add(id(listener))
            try:
                listener.on_due(now)
            finally:
                with self._lock:
                    self._firing.discard(id(listener))

    def timestamp_ms(self) -> int:
        """Milliseconds since the epoch, as OAuth's ``issued_at`` reports it."""
        return int(self.now().timestamp() * 1000)


def format_datetime(value: datetime) -> str:
    """A datetime in the REST API's form: ``2026-01-12T09:00:00.000+0000``."""
    value = value.astimezone(UTC)
    return (
        value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"
    )
