"""Checks for Lab 3, "Batch Data Synchronization"."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

from sfsandbox.lab.checks import Check


def _count_orders(sandbox: Any, where: str) -> int:
    opportunity = sandbox.org.schema.get("Opportunity")
    with sandbox.org.store.lock:
        row = sandbox.org.store.conn.execute(
            f'SELECT count(*) FROM "{opportunity.name}" WHERE IsDeleted = 0 AND '
            f"StageName = 'Closed Won' AND {where}"
        ).fetchone()
    return row[0]


def check_redrive(result: Any, day: Any, sandbox: Any) -> None:
    """Exercise 1: the failed rows of the day's load, fixed and sent again."""
    check = Check("Exercise 1, re-drive the failed rows")
    check.expect(
        result is not None and hasattr(result, "failed"),
        "the re-drive ran as a new ingest job",
        f"redrive returned {result!r}: call warehouse.redrive(first_load, "
        "fix=fix_order) after fixing fix_order.",
    )
    if result is not None and hasattr(result, "failed"):
        errors = sorted({r.get("sf__Error", "")[:60] for r in result.failed_rows})
        check.expect(
            result.failed == 0,
            f"every re-driven row was accepted ({result.processed} rows)",
            f"{result.failed} of {result.processed} re-driven rows failed again: "
            f"{errors}. fix_order must mend the blank Name, the amount written with "
            "a decimal comma, and the impossible close date.",
        )
    loaded = _count_orders(sandbox, f"CloseDate = '{day.day.isoformat()}'")
    check.expect(
        loaded == len(day.rows),
        f"all {len(day.rows)} orders of {day.day} are in the org",
        f"the org holds {loaded} of the day's {len(day.rows)} orders.",
    )
    check.report()


def check_rerun(sync_once: Callable[[], Any], sandbox: Any) -> None:
    """Exercise 2: a sync that runs twice changes nothing the second time."""
    check = Check("Exercise 2, run the sync twice")
    warehouse = sandbox.warehouse
    first = check.run("sync_once()", sync_once)
    check.expect(
        first is not None and hasattr(first, "inserted"),
        "sync_once() returns the load's result",
        f"sync_once() returned {first!r}: return warehouse.load(extract).",
    )
    counts = (warehouse.count(), warehouse.total_amount())
    second = check.run("sync_once() again", sync_once)
    check.expect(
        second is not None and second.inserted == 0 and second.updated == 0,
        "the second run inserted and updated nothing",
        f"the second run changed rows: {second!r}. Merge by Id, and replace a row "
        "only with a newer one.",
    )
    check.expect(
        (warehouse.count(), warehouse.total_amount()) == counts,
        f"the warehouse still holds {counts[0]} orders worth {counts[1]:,.2f}",
        f"the counts moved from {counts} to "
        f"{(warehouse.count(), warehouse.total_amount())}.",
    )
    check.report()


def check_reconciled(sandbox: Any) -> None:
    """Exercise 3: the org and the warehouse agree on orders and amounts."""
    check = Check("Exercise 3, reconcile")
    found = check.run("warehouse.reconcile()", sandbox.warehouse.reconcile)
    if found is not None:
        check.expect(
            found.matches,
            f"the org and the warehouse agree: {found.org_count} orders, "
            f"{found.org_amount:,.2f}",
            f"they still differ:\n{found}\nFix the order in the org, then sync "
            "again (extract and load) before you reconcile.",
        )
    check.report()


def check_nightly(sandbox: Any) -> None:
    """Exercise 4: the nightly job re-drove its failed rows with a fix."""
    check = Check("Exercise 4, re-drive in the nightly job")
    reports = sandbox.nightly_sync.reports
    check.expect(
        bool(reports),
        f"the nightly job has run {len(reports)} times",
        "the nightly job has not run: start it and advance the clock past 02:00.",
    )
    last = reports[-1] if reports else None
    if last is not None:
        check.expect(
            last.error is None,
            "its last run finished without an error",
            f"its last run failed: {last.error}",
        )
        check.expect(
            last.failed > 0 and last.still_failed == 0,
            f"its last run re-drove {last.redriven} failed rows and none failed again",
            f"its last run: {last.failed} failed, {last.redriven} re-driven, "
            f"{last.still_failed} still failed. Set sandbox.nightly_sync.fix to a "
            "function that gives an order without an Account the 'Web Shop "
            "Orders' Account, then advance the clock to the next 02:00.",
        )
    pending = sandbox.warehouse.db.execute(
        "SELECT count(*) FROM orders WHERE pushed_at IS NULL AND NOT is_deleted"
    ).fetchone()[0]
    check.expect(
        pending == 0,
        "every order in the warehouse has its number in the org",
        f"{pending} orders still wait for their number in the org.",
    )
    check.report()


def check_scaling(estimate: dict[str, float], measured: Any) -> None:
    """Exercise 5: requests and hours for a night of 100,000 orders, each way."""
    check = Check("Exercise 5, a night of 100,000 orders")
    rest_per_order = measured["REST requests"].iloc[-1] / measured["orders"].iloc[-1]
    bulk_requests = int(measured["Bulk requests"].iloc[-1])
    expected = {
        "rest_requests": 100_000 * rest_per_order,
        "bulk_requests": bulk_requests,
        "rest_hours": 100_000 * rest_per_order * 0.1 / 3600,
    }
    for key, value in expected.items():
        given = estimate.get(key) if isinstance(estimate, dict) else None
        number = isinstance(given, numbers.Real)
        check.expect(
            number and abs(given - value) <= 0.02 * value,
            f"{key}: {given:,.2f}" if number else key,
            f"{key}: expected about {value:,.2f}, got {given!r}. Scale the measured "
            "requests per order to 100,000 orders; a Bulk job's requests do not "
            "grow with its rows.",
        )
    check.report()
