"""The nightly sync: at 02:00 on the simulated clock, org to warehouse and back.

APScheduler's ``CronTrigger`` says when the job fires next; the sandbox's clock calls
the job when an advance passes that moment, with the clock standing at it. Nothing
runs on wall time, so a lab that advances the clock by a day sees exactly one run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from sfsandbox.runtime.clock import SimulatedClock
from sfsandbox.systems.warehouse import Reconciliation, Warehouse

log = logging.getLogger(__name__)

RowFix = Callable[[dict[str, str]], dict[str, str] | None]


@dataclass
class RunReport:
    """What one run of the nightly sync did."""

    fired_at: datetime
    finished_at: datetime | None = None
    watermark_before: datetime | None = None
    watermark_after: datetime | None = None
    extracted: int = 0
    loaded: int = 0
    unchanged: int = 0
    rejected: int = 0
    pushed: int = 0
    failed: int = 0
    redriven: int = 0
    still_failed: int = 0
    reconciliation: Reconciliation | None = None
    error: str | None = None
    failed_rows: list[dict[str, str]] = field(default_factory=list, repr=False)

    @property
    def duration(self) -> timedelta:
        """How long the run took on the simulated clock."""
        return (self.finished_at or self.fired_at) - self.fired_at

    def row(self) -> dict[str, Any]:
        """The report as one row of a table."""
        return {
            "fired at": f"{self.fired_at:%Y-%m-%d %H:%M}",
            "watermark before": _short(self.watermark_before),
            "watermark after": _short(self.watermark_after),
            "extracted": self.extracted,
            "loaded": self.loaded,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "pushed": self.pushed,
            "failed": self.failed,
            "re-driven": self.redriven,
            "still failed": self.still_failed,
            "reconciled": (
                "-"
                if self.reconciliation is None
                else "yes"
                if self.reconciliation.matches
                else "no"
            ),
            "duration": str(self.duration),
            "error": self.error or "",
        }


class NightlySync:
    """A batch job that the simulated clock runs every day at ``hour:minute`` (UTC).

    Each run extracts what changed since the warehouse's watermark (Bulk API 2.0
    query job), loads it, pushes new order numbers back (Bulk API 2.0 ingest job),
    re-drives the rows in ``failedResults`` once (through ``fix`` if given), and
    reconciles. ``reports`` keeps one ``RunReport`` per run.
    """

    def __init__(
        self,
        warehouse: Warehouse,
        clock: SimulatedClock,
        hour: int = 2,
        minute: int = 0,
        fix: RowFix | None = None,
    ) -> None:
        self.warehouse = warehouse
        self.clock = clock
        self.trigger = CronTrigger(hour=hour, minute=minute, timezone=UTC)
        self.fix = fix
        self.reports: list[RunReport] = []
        self._next: datetime | None = None

    def start(self) -> None:
        """Schedule the job: it fires at the next ``hour:minute`` after now."""
        now = self.clock.now()
        self._next = self.trigger.get_next_fire_time(None, now)
        self.clock.add_listener(self)

    def stop(self) -> None:
        self._next = None
        self.clock.remove_listener(self)

    @property
    def next_run_time(self) -> datetime | None:
        return self._next

    # The clock's listener protocol. next_due must not read the clock: it is asked
    # while the clock holds its lock.
    def next_due(self) -> datetime | None:
        return self._next

    def on_due(self, now: datetime) -> None:
        self._next = self.trigger.get_next_fire_time(now, now)
        self.run()

    def run(self) -> RunReport:
        """Run the sync once, now; a failed step ends the run and is reported."""
        warehouse = self.warehouse
        report = RunReport(
            fired_at=self.clock.now(), watermark_before=warehouse.watermark()
        )
        try:
            sf = warehouse.salesforce()
            extract = warehouse.extract("orders", sf)
            self._spend(extract.processing_ms)
            loaded = warehouse.load(extract)
            report.extracted = loaded.staged
            report.loaded = loaded.loaded
            report.unchanged = loaded.unchanged
            report.rejected = loaded.rejected
            pushed = warehouse.push_back(sf)
            if pushed is not None:
                self._spend(pushed.processing_ms)
                report.pushed = pushed.processed
                report.failed = pushed.failed
                report.failed_rows = pushed.failed_rows
                again = warehouse.redrive(pushed, self.fix, sf=sf)
                if again is not None:
                    self._spend(again.processing_ms)
                    report.redriven = again.processed
                    report.still_failed = again.failed
                    report.failed_rows = again.failed_rows
            report.reconciliation = warehouse.reconcile(sf)
        except Exception as error:  # a run that fails is reported, not raised
            # Logged below warning: the report shows it, and a notebook stays quiet.
            log.info("The nightly sync failed", exc_info=True)
            report.error = f"{type(error).__name__}: {error}"
        report.watermark_after = warehouse.watermark()
        report.finished_at = self.clock.now()
        self.reports.append(report)
        return report

    def _spend(self, milliseconds: int) -> None:
        """Move the clock by a Bulk job's processing time, as the org reported it."""
        if milliseconds > 0:
            self.clock.advance(milliseconds=milliseconds)

    def table(self) -> Any:
        """The run reports as a pandas DataFrame, one row per run."""
        import pandas as pd

        return pd.DataFrame([r.row() for r in self.reports])


def _short(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"
