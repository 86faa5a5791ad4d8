"""The data warehouse and its nightly sync (Batch Data Synchronization)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from simple_salesforce import Salesforce

from sfsandbox import Sandbox
from sfsandbox.org.store import ValidationRule
from sfsandbox.runtime.clock import SimulatedClock
from sfsandbox.systems.nightly import NightlySync
from sfsandbox.systems.orders import day_of_orders

ORDER_FIELDS = (
    "Id, Name, AccountId, Account.Name, StageName, CloseDate, Amount, "
    "ERP_Order_Number__c, SystemModstamp, IsDeleted"
)


@pytest.fixture
def box() -> Iterator[Sandbox]:
    """A sandbox per test: each test changes the org and the warehouse."""
    with Sandbox.start(seed=0) as running:
        yield running


def connect(sandbox: Sandbox) -> Salesforce:
    org = sandbox.org
    return Salesforce(
        session_id=org.access_token(),
        instance_url=org.instance_url,
        session=org.requests_session(),
        version=org.api_version,
    )


def as_csv_rows(records: list[dict]) -> list[dict[str, str]]:
    """REST query records in the shape of a Bulk query job's CSV rows."""
    rows = []
    for r in records:
        account = r.get("Account") or {}
        rows.append(
            {
                "Id": r["Id"],
                "Name": r["Name"] or "",
                "AccountId": r["AccountId"] or "",
                "Account.Name": account.get("Name") or "",
                "StageName": r["StageName"],
                "CloseDate": r["CloseDate"] or "",
                "Amount": "" if r["Amount"] is None else str(r["Amount"]),
                "ERP_Order_Number__c": r["ERP_Order_Number__c"] or "",
                "SystemModstamp": r["SystemModstamp"],
                "IsDeleted": str(r["IsDeleted"]).lower(),
            }
        )
    return rows


def closed_won(sf: Salesforce, where: str = "") -> list[dict[str, str]]:
    soql = f"SELECT {ORDER_FIELDS} FROM Opportunity WHERE StageName = 'Closed Won'"
    return as_csv_rows(sf.query_all(soql + where)["records"])


def test_loading_the_same_rows_twice_leaves_the_same_state(box: Sandbox) -> None:
    sf, warehouse = connect(box), box.warehouse
    rows = closed_won(sf)
    assert len(rows) > 100

    first = warehouse.load_rows("orders", rows)
    snapshot = warehouse.sql("SELECT * FROM orders ORDER BY sf_id")
    box.clock.advance(hours=1)
    second = warehouse.load_rows("orders", rows)

    assert (first.inserted, first.updated) == (len(rows), 0)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, len(rows))
    assert warehouse.sql("SELECT * FROM orders ORDER BY sf_id").equals(snapshot)
    assert second.watermark_after == first.watermark_after
    numbers = warehouse.sql("SELECT order_number FROM orders ORDER BY order_number")
    assert numbers["order_number"].iloc[0] == "WH-0000001"
    assert numbers["order_number"].is_unique


def test_a_newer_row_replaces_the_stored_one_and_an_older_one_does_not(
    box: Sandbox,
) -> None:
    sf, warehouse = connect(box), box.warehouse
    warehouse.load_rows("orders", closed_won(sf))
    target = closed_won(sf)[0]

    box.clock.advance(minutes=5)
    sf.Opportunity.update(target["Id"], {"Amount": 1234.5})
    (changed,) = closed_won(sf, f" AND Id = '{target['Id']}'")
    result = warehouse.load_rows("orders", [changed])
    assert (result.updated, result.inserted) == (1, 0)
    assert result.watermark_after > result.watermark_before

    stale = warehouse.load_rows("orders", [target])  # the older version, again
    assert (stale.updated, stale.unchanged) == (0, 1)
    amount = warehouse.sql(
        "SELECT amount FROM orders WHERE sf_id = ?", target["Id"]
    ).amount[0]
    assert Decimal(str(amount)) == Decimal("1234.50")


def test_the_extract_filter_takes_only_rows_changed_since_the_watermark(
    box: Sandbox,
) -> None:
    sf, warehouse = connect(box), box.warehouse
    assert warehouse.extract_soql() == warehouse.extract_soql("orders")
    assert "SystemModstamp >" not in warehouse.extract_soql()  # no watermark yet
    warehouse.load_rows("orders", closed_won(sf))

    box.clock.advance(minutes=90)  # within the session's two hours
    ids = [r["Id"] for r in closed_won(sf)[:3]]
    for record_id in ids:
        sf.Opportunity.update(record_id, {"Description": "Shipped"})

    soql = warehouse.extract_soql()
    assert "SystemModstamp >=" in soql
    changed = sf.query_all(soql)["records"]
    mark = f"{warehouse.watermark():%Y-%m-%dT%H:%M:%S}"
    # The changed rows, and the rows of the watermark's own second (the overlap
    # that SOQL's whole seconds force, and that the load absorbs).
    assert set(ids) <= {r["Id"] for r in changed}
    others = [r for r in changed if r["Id"] not in ids]
    assert len(others) < 3
    assert all(r["SystemModstamp"].startswith(mark) for r in others)


def test_rows_the_warehouse_refuses_are_set_aside_with_their_reason(
    box: Sandbox,
) -> None:
    sf, warehouse = connect(box), box.warehouse
    rows = closed_won(sf)
    rows[0]["Amount"] = "-10.00"
    rows[1]["Amount"] = "1.234,50"
    rows[2]["CloseDate"] = ""

    result = warehouse.load_rows("orders", rows)

    assert result.rejected == 3
    assert result.inserted == len(rows) - 3
    reasons = warehouse.sql("SELECT sf_id, reason FROM rejected_rows ORDER BY reason")
    assert sorted(reasons.sf_id) == sorted(r["Id"] for r in rows[:3])
    assert "the amount is negative" in set(reasons.reason)


def test_reconciliation_finds_a_planted_difference(box: Sandbox) -> None:
    sf, warehouse = connect(box), box.warehouse
    rows = closed_won(sf)
    warehouse.load_rows("orders", rows)
    clean = warehouse.reconcile(sf)
    assert clean.matches, str(clean)

    # Plant three differences: one order changed in the org only, one missing from
    # the warehouse, one in the warehouse that the org does not have.
    box.clock.advance(minutes=1)
    sf.Opportunity.update(rows[0]["Id"], {"Amount": 1.0})
    warehouse.db.execute("DELETE FROM orders WHERE sf_id = ?", [rows[1]["Id"]])
    warehouse.db.execute(
        "INSERT INTO orders SELECT '006000000000000AAA', 'WH-9999999', name, "
        "account_id, account_name, stage_name, close_date, amount, org_order_number, "
        "system_modstamp, is_deleted, loaded_at, pushed_at FROM orders WHERE sf_id = ?",
        [rows[2]["Id"]],
    )

    found = warehouse.reconcile(sf)
    assert not found.matches
    assert found.missing_in_warehouse == [rows[1]["Id"]]
    assert found.missing_in_org == ["006000000000000AAA"]
    assert [d[0] for d in found.amount_differences] == [rows[0]["Id"]]
    assert found.org_count == found.warehouse_count  # one missing each way
    assert "DIFFERS" in str(found)


def test_a_deleted_order_is_marked_deleted_not_counted(box: Sandbox) -> None:
    sf, warehouse = connect(box), box.warehouse
    rows = closed_won(sf)
    warehouse.load_rows("orders", rows)
    box.clock.advance(minutes=1)
    sf.Opportunity.delete(rows[0]["Id"])
    deleted = as_csv_rows(
        sf.query_all(
            f"SELECT {ORDER_FIELDS} FROM Opportunity WHERE Id = '{rows[0]['Id']}'",
            include_deleted=True,
        )["records"]
    )
    assert deleted[0]["IsDeleted"] == "true"

    warehouse.load_rows("orders", deleted)

    assert warehouse.count() == len(rows) - 1
    assert warehouse.reconcile(sf).matches


class Recorder:
    """A stand-in warehouse step for the scheduler tests: records when it ran."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self.runs: list[datetime] = []


def scheduled(clock: SimulatedClock) -> tuple[NightlySync, list[datetime]]:
    runs: list[datetime] = []

    class Job(NightlySync):
        def run(self):  # type: ignore[override]
            runs.append(self.clock.now())

    job = Job(warehouse=None, clock=clock)  # type: ignore[arg-type]
    job.start()
    return job, runs


def test_the_nightly_job_fires_at_two_simulated_and_not_before() -> None:
    clock = SimulatedClock(datetime(2026, 1, 12, 9, 0, tzinfo=UTC))
    job, runs = scheduled(clock)
    assert job.next_run_time == datetime(2026, 1, 13, 2, 0, tzinfo=UTC)

    clock.advance(hours=16, minutes=59)  # 01:59 the next day
    assert runs == []
    clock.advance(minutes=1)
    assert runs == [datetime(2026, 1, 13, 2, 0, tzinfo=UTC)]
    clock.advance(hours=23, minutes=59)
    assert len(runs) == 1

    clock.advance(days=3)  # passes three more 02:00s: one run each, in order
    assert runs[1:] == [datetime(2026, 1, d, 2, 0, tzinfo=UTC) for d in (14, 15, 16)]
    assert clock.now() == datetime(2026, 1, 17, 1, 59, tzinfo=UTC)

    job.stop()
    clock.advance(days=2)
    assert len(runs) == 4


def test_a_run_that_advances_the_clock_does_not_run_twice() -> None:
    clock = SimulatedClock(datetime(2026, 1, 12, 9, 0, tzinfo=UTC))
    runs: list[datetime] = []

    class Slow(NightlySync):
        def run(self):  # type: ignore[override]
            runs.append(self.clock.now())
            self.clock.advance(minutes=30)  # the run takes half an hour

    job = Slow(warehouse=None, clock=clock)  # type: ignore[arg-type]
    job.start()
    assert clock.advance(days=1) == datetime(2026, 1, 13, 9, 0, tzinfo=UTC)
    assert runs == [datetime(2026, 1, 13, 2, 0, tzinfo=UTC)]


def test_a_day_of_orders_is_the_same_for_the_same_seed() -> None:
    accounts = [f"001{n:015d}" for n in range(20)]
    day = date(2026, 1, 12)
    first = day_of_orders(accounts, day, count=50, broken=4, seed=7)
    again = day_of_orders(accounts, day, count=50, broken=4, seed=7)
    other = day_of_orders(accounts, day, count=50, broken=4, seed=8)

    assert first.rows == again.rows and first.rows != other.rows
    assert sorted(first.broken.values()) == sorted(
        ["blank-name", "bad-amount", "bad-date", "negative-amount"]
    )
    good = [r for i, r in enumerate(first.rows) if i not in first.broken]
    assert all(Decimal(r["Amount"]) > 0 for r in good)
    assert {r["StageName"] for r in first.rows} == {"Closed Won"}
    assert first.csv().splitlines()[0] == (
        "Name,AccountId,StageName,CloseDate,Amount,LeadSource"
    )
    with pytest.raises(ValueError):
        day_of_orders([], day)


# --- through the Bulk API 2.0 (query and ingest jobs over HTTP) ---------------------


def account_ids(sf: Salesforce) -> list[str]:
    return [a["Id"] for a in sf.query_all("SELECT Id FROM Account")["records"]]


def test_the_extract_takes_only_rows_changed_since_the_watermark(
    box: Sandbox,
) -> None:
    sf, warehouse = connect(box), box.warehouse
    first = warehouse.extract("orders", sf)
    closed_won_count = sf.query("SELECT COUNT() FROM Opportunity WHERE "
                                "StageName = 'Closed Won'")["totalSize"]  # fmt: skip
    assert first.rows == closed_won_count and first.job_id.startswith("750")
    warehouse.load(first)

    box.clock.advance(minutes=30)
    ids = [r["Id"] for r in closed_won(sf)[:4]]
    for record_id in ids:
        sf.Opportunity.update(record_id, {"Amount": 999.0})
    second = warehouse.extract("orders", sf)
    loaded = warehouse.load(second)

    # The rows of the old watermark's second come again and change nothing.
    assert (loaded.updated, loaded.inserted) == (4, 0)
    assert loaded.staged - loaded.updated == loaded.unchanged < 3
    assert loaded.watermark_after > loaded.watermark_before
    third = warehouse.load(warehouse.extract("orders", sf))
    assert (third.staged, third.updated) == (4, 0)  # only the watermark's second


def test_an_extract_pages_through_results_by_locator(box: Sandbox) -> None:
    sf, warehouse = connect(box), box.warehouse
    small = warehouse.extract("orders", sf, page_size=25)
    assert len(small.files) == -(-small.rows // 25) > 1
    result = warehouse.load(small)
    assert result.inserted == small.rows == warehouse.count()


def test_failed_rows_are_re_driven_from_failed_results(box: Sandbox) -> None:
    sf, warehouse = connect(box), box.warehouse
    day = day_of_orders(account_ids(sf), date(2026, 1, 12), count=40, broken=4)

    first = warehouse.ingest("Opportunity", "insert", day.rows, sf=sf)
    assert (first.processed, first.failed) == (40, 3)  # the org takes a negative amount
    errors = sorted(r["sf__Error"].split(":")[0] for r in first.failed_rows)
    assert errors == [
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "REQUIRED_FIELD_MISSING",
    ]

    unchanged = warehouse.redrive(first, sf=sf)
    assert unchanged is not None and unchanged.failed == 3

    def fix(row: dict[str, str]) -> dict[str, str]:
        return {
            **row,
            "Name": row["Name"] or "Web order",
            "Amount": row["Amount"].replace(".", "").replace(",", ".")
            if "," in row["Amount"]
            else row["Amount"],
            "CloseDate": "2026-01-12",
        }

    again = warehouse.redrive(first, fix=fix, sf=sf)
    assert again is not None and (again.processed, again.failed) == (3, 0)
    count = sf.query(
        "SELECT COUNT() FROM Opportunity WHERE CloseDate = 2026-01-12 "
        "AND StageName = 'Closed Won'"
    )["totalSize"]
    assert count == 40


def test_the_nightly_run_syncs_pushes_back_and_re_drives(box: Sandbox) -> None:
    sf, warehouse, org = connect(box), box.warehouse, box.org
    day = day_of_orders(
        account_ids(sf), date(2026, 1, 12), count=30, broken=0, unassigned=2
    )
    warehouse.ingest("Opportunity", "insert", day.rows, sf=sf)
    org.store.validation_rules.append(
        ValidationRule(
            name="Numbered_Order_Needs_Account",
            object="Opportunity",
            condition=lambda o: (
                bool(o.get("ERP_Order_Number__c")) and not o.get("AccountId")
            ),
            message="An order with an ERP order number needs an Account.",
            field="AccountId",
        )
    )
    job = box.nightly_sync
    job.start()

    box.clock.advance(hours=16, minutes=59)
    assert job.reports == []
    box.clock.advance(minutes=1)
    (first,) = job.reports
    assert first.error is None, first.error
    assert first.fired_at == datetime(2026, 1, 13, 2, 0, tzinfo=UTC)
    assert first.loaded == warehouse.count() == first.reconciliation.org_count
    assert (first.failed, first.redriven, first.still_failed) == (2, 2, 2)
    assert {r["sf__Error"].split(":")[0] for r in first.failed_rows} == {
        "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    }
    assert first.duration > timedelta(0)
    sf = connect(box)  # the test's session ended overnight
    numbered = sf.query(
        "SELECT COUNT() FROM Opportunity WHERE ERP_Order_Number__c != null"
    )["totalSize"]
    assert numbered == first.pushed - 2

    account = account_ids(sf)[0]
    job.fix = lambda row: {**row, "AccountId": account}
    box.clock.advance(days=1)
    second = job.reports[-1]
    assert (second.failed, second.redriven, second.still_failed) == (2, 2, 0)
    assert second.reconciliation.matches
    assert job.table().shape[0] == 2


def test_converted_leads_load_by_id_and_an_unknown_table_is_refused(
    box: Sandbox,
) -> None:
    warehouse = box.warehouse
    lead = {
        "Id": "00Q000000000001AAA",
        "Name": "Ada Byron",
        "Company": "Analytical Engines",
        "Email": "ada@example.com",
        "LeadSource": "Web",
        "Status": "Closed - Converted",
        "SystemModstamp": "2026-01-12T09:00:00.000Z",
        "IsDeleted": "false",
    }
    assert "IsConverted = true" in warehouse.extract_soql("converted_leads")
    first = warehouse.load_rows("converted_leads", [lead])
    again = warehouse.load_rows("converted_leads", [lead])
    assert (first.inserted, again.inserted, again.unchanged) == (1, 0, 1)
    assert warehouse.count("converted_leads") == 1
    assert warehouse.watermark("converted_leads") == datetime(
        2026, 1, 12, 9, 0, tzinfo=UTC
    )
    assert warehouse.watermark("orders") is None  # each table has its own
    with pytest.raises(ValueError, match="No such warehouse table"):
        warehouse.load_rows("accounts", [lead])
    with pytest.raises(ValueError, match="No such warehouse table"):
        warehouse.extract_soql("accounts")
