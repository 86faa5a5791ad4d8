"""The org's allocations: the rolling 24-hour API request count and the /limits body.

Every REST request under ``/services/data/vXX.X/`` spends one request of the daily
allocation (a composite or collections request spends one for all its parts). Once the
allocation is spent the API answers 403 REQUEST_LIMIT_EXCEEDED until enough requests
fall out of the 24-hour window, measured on the sandbox's simulated clock.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from sfsandbox.org import errors
from sfsandbox.runtime.clock import SimulatedClock

WINDOW = timedelta(hours=24)

# A Developer Edition org gets 15,000 API requests per rolling 24 hours (Salesforce
# app limits cheat sheet, "API Request Limits and Allocations":
# developer.salesforce.com/docs/platform/salesforce-app-limits-cheatsheet/guide/
# salesforce-app-limits-platform-api.html).
DEVELOPER_EDITION_DAILY_API_REQUESTS = 15_000

# Other entries of GET /limits, with the allocations the reference sheet gives
# (shared/reference/salesforce-facts.md): Bulk API 2.0 query jobs 10,000 a day and
# 1 TB of query results (976,562 MB); 15,000 Bulk batches a day; Developer Edition
# platform-event deliveries 10,000 a day and publishing 50,000 an hour; async Apex
# 250,000 a day (the docs' example response for /limits). The event bus spends the
# platform-event entries (org/events.py); the others keep Remaining equal to Max.
OTHER_ALLOCATIONS = {
    "DailyAsyncApexExecutions": 250_000,
    "DailyBulkApiBatches": 15_000,
    "DailyBulkV2QueryFileStorageMB": 976_562,
    "DailyBulkV2QueryJobs": 10_000,
    "DailyDeliveredPlatformEvents": 10_000,
    "DailyStandardVolumePlatformEvents": 10_000,
    "HourlyPublishedPlatformEvents": 50_000,
    "HourlyPublishedStandardVolumePlatformEvents": 50_000,
}


class OrgLimits:
    """The org's API request allocation, settable from a lab.

    >>> sandbox.org.limits.daily_api_requests = 50   # doctest: +SKIP
    """

    def __init__(
        self,
        clock: SimulatedClock,
        daily_api_requests: int = DEVELOPER_EDITION_DAILY_API_REQUESTS,
    ) -> None:
        self.clock = clock
        self.daily_api_requests = daily_api_requests
        self.allocations = dict(OTHER_ALLOCATIONS)
        # Allocations another part of the org counts: name -> () -> (Max, used).
        self.counted: dict[str, Callable[[], tuple[int, int]]] = {}
        self._requests: deque[datetime] = deque()
        self._lock = threading.Lock()
        # Allocations another part of the org spends (the event bus's publish and
        # delivery counts): ``{name: (Max, Remaining)}``, read at each /limits call.
        self.live_allocations: Callable[[], dict[str, tuple[int, int]]] | None = None

    def _prune(self, now: datetime) -> None:
        while self._requests and self._requests[0] <= now - WINDOW:
            self._requests.popleft()

    @property
    def api_requests_used(self) -> int:
        """Requests spent in the last 24 hours of simulated time."""
        with self._lock:
            self._prune(self.clock.now())
            return len(self._requests)

    def spend_api_request(self) -> str:
        """Count one request, or refuse it; returns the ``Sforce-Limit-Info`` value."""
        now = self.clock.now()
        with self._lock:
            self._prune(now)
            if len(self._requests) >= self.daily_api_requests:
                raise errors.RequestLimitExceeded()
            self._requests.append(now)
            used = len(self._requests)
        return f"api-usage={used}/{self.daily_api_requests}"

    def usage_header(self) -> str:
        """``api-usage=N/MAX`` without spending a request."""
        return f"api-usage={self.api_requests_used}/{self.daily_api_requests}"

    def resource(self) -> dict[str, dict[str, int]]:
        """The body of ``GET /limits``: ``{name: {"Max", "Remaining"}}``, by name."""
        entries = {
            "DailyApiRequests": {
                "Max": self.daily_api_requests,
                "Remaining": max(0, self.daily_api_requests - self.api_requests_used),
            }
        }
        for name, maximum in self.allocations.items():
            entries[name] = {"Max": maximum, "Remaining": maximum}
        if self.live_allocations is not None:
            for name, (maximum, remaining) in self.live_allocations().items():
                entries[name] = {"Max": maximum, "Remaining": remaining}
        for name, usage in self.counted.items():
            maximum, used = usage()
            entries[name] = {"Max": maximum, "Remaining": max(0, maximum - used)}
        return dict(sorted(entries.items()))
