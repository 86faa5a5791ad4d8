"""The data warehouse: DuckDB, embedded, in a file in the sandbox's temporary folder.

It holds the org's orders (Closed Won Opportunities with their Account and amounts) and
converted Leads. The steps of a batch synchronization are its methods:

- ``extract``: a Bulk API 2.0 query job, over HTTP, for what changed since the
  watermark (``SystemModstamp``) that the warehouse keeps;
- ``load``: the extract into a staging table, rows the warehouse's rules refuse set
  aside, then ``MERGE`` by Salesforce Id, so loading the same rows twice changes
  nothing;
- ``reconcile``: counts and sums in the org (SOQL) against the warehouse;
- ``push_back``: the warehouse's order numbers back to the org, a Bulk API 2.0 ingest
  job (upsert), and ``redrive`` for the rows in its ``failedResults``.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import httpx
from simple_salesforce import Salesforce

from sfsandbox.runtime.clock import SimulatedClock

log = logging.getLogger(__name__)

# What the warehouse copies. Bulk API 2.0 query jobs take parent fields (Account.Name)
# but no aggregates or subqueries; queryAll also returns deleted records, so a delete
# in the org reaches the warehouse as IsDeleted = true.
ORDERS_SOQL = (
    "SELECT Id, Name, AccountId, Account.Name, StageName, CloseDate, Amount, "
    "ERP_Order_Number__c, SystemModstamp, IsDeleted FROM Opportunity "
    "WHERE StageName = 'Closed Won'"
)
LEADS_SOQL = (
    "SELECT Id, Name, Company, Email, LeadSource, Status, SystemModstamp, IsDeleted "
    "FROM Lead WHERE IsConverted = true"
)
SOURCES = {"orders": ORDERS_SOQL, "converted_leads": LEADS_SOQL}

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    sf_id VARCHAR PRIMARY KEY,
    order_number VARCHAR NOT NULL UNIQUE,
    name VARCHAR NOT NULL,
    account_id VARCHAR,
    account_name VARCHAR,
    stage_name VARCHAR NOT NULL,
    close_date DATE NOT NULL,
    amount DECIMAL(18, 2) NOT NULL CHECK (amount >= 0),
    org_order_number VARCHAR,
    system_modstamp TIMESTAMPTZ NOT NULL,
    is_deleted BOOLEAN NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL,
    pushed_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS converted_leads (
    sf_id VARCHAR PRIMARY KEY,
    name VARCHAR,
    company VARCHAR,
    email VARCHAR,
    lead_source VARCHAR,
    status VARCHAR,
    system_modstamp TIMESTAMPTZ NOT NULL,
    is_deleted BOOLEAN NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS watermarks (
    source VARCHAR PRIMARY KEY,
    system_modstamp TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected_rows (
    source VARCHAR NOT NULL,
    sf_id VARCHAR,
    reason VARCHAR NOT NULL,
    system_modstamp VARCHAR,
    rejected_at TIMESTAMPTZ NOT NULL
);
"""

# The staging table holds an extract as text, as the CSV gave it; casting happens in
# SQL, where a value that does not fit becomes a rejected row, not a failed load.
STAGING_COLUMNS = {
    "orders": {
        "Id": "sf_id",
        "Name": "name",
        "AccountId": "account_id",
        "Account.Name": "account_name",
        "StageName": "stage_name",
        "CloseDate": "close_date",
        "Amount": "amount",
        "ERP_Order_Number__c": "org_order_number",
        "SystemModstamp": "system_modstamp",
        "IsDeleted": "is_deleted",
    },
    "converted_leads": {
        "Id": "sf_id",
        "Name": "name",
        "Company": "company",
        "Email": "email",
        "LeadSource": "lead_source",
        "Status": "status",
        "SystemModstamp": "system_modstamp",
        "IsDeleted": "is_deleted",
    },
}

# The warehouse's own rules: a row that breaks one is set aside with its reason.
ORDER_RULES = [
    (
        "the amount is missing or not a number",
        "TRY_CAST(amount AS DECIMAL(18, 2)) IS NULL",
    ),
    ("the amount is negative", "TRY_CAST(amount AS DECIMAL(18, 2)) < 0"),
    ("the close date is missing or not a date", "TRY_CAST(close_date AS DATE) IS NULL"),
]


@dataclass
class Extract:
    """What one query job returned for one source, as CSV pages on disk."""

    source: str
    job_soql: str
    watermark: datetime | None
    rows: int
    files: list[Path] = field(default_factory=list)
    job_id: str = ""
    processing_ms: int = 0  # the job's totalProcessingTime, as the org reports it


@dataclass
class LoadResult:
    """What one load did to a table."""

    source: str
    staged: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    watermark_before: datetime | None
    watermark_after: datetime | None

    @property
    def loaded(self) -> int:
        return self.inserted + self.updated


@dataclass
class Reconciliation:
    """Counts and sums of the orders, in the org and in the warehouse."""

    org_count: int
    warehouse_count: int
    org_amount: Decimal
    warehouse_amount: Decimal
    missing_in_warehouse: list[str]
    missing_in_org: list[str]
    amount_differences: list[tuple[str, Decimal, Decimal]]

    @property
    def matches(self) -> bool:
        return not (
            self.missing_in_warehouse or self.missing_in_org or self.amount_differences
        ) and (self.org_count, self.org_amount) == (
            self.warehouse_count,
            self.warehouse_amount,
        )

    def rows(self) -> list[dict[str, Any]]:
        """The comparison as table rows: what, in the org, in the warehouse."""
        return [
            {
                "measure": "Closed Won orders",
                "org": self.org_count,
                "warehouse": self.warehouse_count,
                "difference": self.org_count - self.warehouse_count,
            },
            {
                "measure": "total amount",
                "org": self.org_amount,
                "warehouse": self.warehouse_amount,
                "difference": self.org_amount - self.warehouse_amount,
            },
        ]

    def __str__(self) -> str:
        lines = [
            f"{'matches' if self.matches else 'DIFFERS'}: "
            f"org {self.org_count} orders, {self.org_amount:,.2f}; "
            f"warehouse {self.warehouse_count} orders, {self.warehouse_amount:,.2f}"
        ]
        if self.missing_in_warehouse:
            lines.append(
                f"  missing in the warehouse: {_some(self.missing_in_warehouse)}"
            )
        if self.missing_in_org:
            lines.append(
                f"  in the warehouse, not in the org: {_some(self.missing_in_org)}"
            )
        for sf_id, org_amount, warehouse_amount in self.amount_differences[:5]:
            lines.append(
                f"  {sf_id}: org {org_amount:,.2f}, warehouse {warehouse_amount:,.2f}"
            )
        return "\n".join(lines)


@dataclass
class IngestResult:
    """One Bulk API 2.0 ingest job, as the warehouse sent it."""

    job_id: str
    object: str
    operation: str
    processed: int
    failed: int
    failed_rows: list[dict[str, str]]
    processing_ms: int = 0  # the job's totalProcessingTime, as the org reports it
    external_id_field: str | None = None  # an upsert's key

    @property
    def succeeded(self) -> int:
        return self.processed - self.failed


class Warehouse:
    """A DuckDB database that the org's orders are copied to."""

    def __init__(self, folder: Path, clock: SimulatedClock) -> None:
        self.clock = clock
        self.path = Path(folder) / "warehouse.duckdb"
        self.db = duckdb.connect(str(self.path))
        self.db.execute("SET TimeZone = 'UTC'")
        self.db.execute(SCHEMA)
        self._folder = Path(folder) / "warehouse-extracts"
        self._folder.mkdir(parents=True, exist_ok=True)
        self._org: Any = None
        self._extracts = 0

    def bind(self, org: Any) -> None:
        """Called by the sandbox: the org whose data the warehouse copies."""
        self._org = org

    # --- connecting to the org --------------------------------------------------------

    def salesforce(self) -> Salesforce:
        """simple-salesforce for the org, with a fresh token (the ETL tool's login)."""
        org = self._org
        return Salesforce(
            session_id=org.access_token(),
            instance_url=org.instance_url,
            session=org.requests_session(),
            version=org.api_version,
        )

    # --- the watermark ----------------------------------------------------------------

    def watermark(self, source: str = "orders") -> datetime | None:
        """The ``SystemModstamp`` up to which ``source`` has been loaded."""
        row = self.db.execute(
            "SELECT system_modstamp FROM watermarks WHERE source = ?", [source]
        ).fetchone()
        return None if row is None else row[0].astimezone(UTC)

    def set_watermark(self, source: str, value: datetime) -> None:
        self.db.execute(
            "INSERT INTO watermarks VALUES (?, ?, ?) ON CONFLICT (source) DO UPDATE "
            "SET system_modstamp = excluded.system_modstamp, "
            "updated_at = excluded.updated_at",
            [source, value, self.clock.now()],
        )

    # --- extract ----------------------------------------------------------------------

    def extract_soql(self, source: str = "orders") -> str:
        """The SOQL of the next extract: only rows changed since the watermark.

        SOQL datetime literals have whole seconds, so the filter starts at the
        watermark's second (``>=``): rows of that second come again, and the load,
        which replaces a row only with a newer one, leaves them as they are.
        """
        soql = SOURCES[_table(source)]
        mark = self.watermark(source)
        if mark is None:
            return soql
        return f"{soql} AND SystemModstamp >= {mark:%Y-%m-%dT%H:%M:%SZ}"

    def extract(
        self,
        source: str = "orders",
        sf: Salesforce | None = None,
        page_size: int = 5000,
    ) -> Extract:
        """Run a Bulk API 2.0 ``queryAll`` job and keep its CSV pages on disk."""
        sf = sf or self.salesforce()
        soql = self.extract_soql(source)
        result = Extract(source, soql, self.watermark(source), 0)
        self._extracts += 1
        info, pages = self.query_job(soql, sf.session_id, page_size=page_size)
        result.job_id = info["id"]
        result.processing_ms = int(info.get("totalProcessingTime") or 0)
        for number, page in enumerate(pages):
            path = self._folder / f"{source}-{self._extracts:04d}-{number:04d}.csv"
            path.write_text(page, encoding="utf-8")
            rows = _count_rows(page)
            if rows:
                result.files.append(path)
                result.rows += rows
        log.info("Extracted %d %s rows", result.rows, source)
        return result

    def query_job(
        self,
        soql: str,
        token: str,
        operation: str = "queryAll",
        page_size: int = 5000,
        timeout: float = 60,
    ) -> tuple[dict[str, Any], list[str]]:
        """A Bulk API 2.0 query job over HTTP: create, poll, page through results.

        Returns the job's final info and its CSV pages. Each page's ``Sforce-Locator``
        header names the next one; the string ``null`` marks the last.
        """
        http = self._org.http
        headers = {"Authorization": f"Bearer {token}"}
        jobs = f"{self._org.data_url}/jobs/query"
        created = http.post(
            jobs, headers=headers, json={"operation": operation, "query": soql}
        )
        _raise_for_status(created)
        job_id = created.json()["id"]
        deadline = time.monotonic() + timeout
        while True:
            answer = http.get(f"{jobs}/{job_id}", headers=headers)
            _raise_for_status(answer)
            info = answer.json()
            if info["state"] in ("JobComplete", "Failed", "Aborted"):
                break
            if time.monotonic() > deadline:
                raise BulkJobError(f"Query job {job_id} is still {info['state']}")
            time.sleep(0.01)
        if info["state"] != "JobComplete":
            raise BulkJobError(
                f"Query job {job_id} ended {info['state']}: {info.get('errorMessage')}"
            )
        pages, locator = [], ""
        while locator != "null":
            params: dict[str, Any] = {"maxRecords": page_size}
            if locator:
                params["locator"] = locator
            page = http.get(f"{jobs}/{job_id}/results", headers=headers, params=params)
            _raise_for_status(page)
            pages.append(page.text)
            locator = page.headers["Sforce-Locator"]
        return info, pages

    # --- load -------------------------------------------------------------------------

    def stage(self, source: str, rows: Iterable[dict[str, str]]) -> int:
        """Fill the staging table for ``source`` from CSV-shaped rows (text values)."""
        columns = STAGING_COLUMNS[source]
        typed = ", ".join(f"{c} VARCHAR" for c in columns.values())
        self.db.execute(f"CREATE OR REPLACE TEMP TABLE stage_{source} ({typed})")
        values = [[row.get(name) or None for name in columns] for row in rows]
        if values:
            self.db.executemany(
                f"INSERT INTO stage_{source} VALUES ({', '.join('?' * len(columns))})",
                values,
            )
        return len(values)

    def load(self, extract: Extract) -> LoadResult:
        """Stage an extract's CSV files and merge them; set the watermark after."""
        rows: list[dict[str, str]] = []
        for path in extract.files:
            with path.open(encoding="utf-8", newline="") as handle:
                rows.extend(csv.DictReader(handle))
        return self.load_rows(extract.source, rows)

    def load_rows(self, source: str, rows: Iterable[dict[str, str]]) -> LoadResult:
        """Load rows as a Bulk query job gives them (CSV column names, text values).

        In one transaction: stage, set aside what breaks the warehouse's rules, merge
        by Salesforce Id (a row replaces the stored one only if it is newer), and move
        the watermark to the newest ``SystemModstamp`` seen. Run it twice with the same
        rows and the second run changes nothing.
        """
        _table(source)
        before = self.watermark(source)
        now = self.clock.now()
        self.db.execute("BEGIN TRANSACTION")
        try:
            staged = self.stage(source, rows)
            # The watermark counts rows set aside too: they are recorded with their
            # reason, and a fix in the org gives them a newer SystemModstamp.
            newest = self.db.execute(
                "SELECT max(TRY_CAST(system_modstamp AS TIMESTAMPTZ)) "
                f"FROM stage_{source}"
            ).fetchone()[0]
            rejected = self._reject(source, now) if source == "orders" else 0
            inserted, updated, unchanged = self._merge(source, now)
            after = before
            if newest is not None and (before is None or newest > before):
                after = newest.astimezone(UTC)
                self.set_watermark(source, after)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return LoadResult(
            source, staged, inserted, updated, unchanged, rejected, before, after
        )

    def _reject(self, source: str, now: datetime) -> int:
        """Move rows that break a rule from staging to ``rejected_rows``."""
        total = 0
        for reason, condition in ORDER_RULES:
            # A row already set aside for the same reason and version is not
            # recorded again when an overlapping extract brings it back.
            self.db.execute(
                f"INSERT INTO rejected_rows SELECT ?, s.sf_id, ?, s.system_modstamp, ? "
                f"FROM stage_{source} s WHERE ({condition}) AND NOT EXISTS ("
                "SELECT 1 FROM rejected_rows r WHERE r.sf_id = s.sf_id "
                "AND r.reason = ? AND r.system_modstamp = s.system_modstamp)",
                [source, reason, now, reason],
            )
            total += self.db.execute(
                f"DELETE FROM stage_{source} WHERE {condition}"
            ).fetchone()[0]
        return total

    def _merge(self, source: str, now: datetime) -> tuple[int, int, int]:
        stage = f"stage_{source}"
        if source == "orders":
            # New orders get the next order numbers, in the order they changed.
            start = self.db.execute("SELECT count(*) FROM orders").fetchone()[0]
            self.db.execute(
                f"ALTER TABLE {stage} ADD COLUMN order_number VARCHAR; "
                f"UPDATE {stage} SET order_number = numbered.number FROM ("
                f"  SELECT s.sf_id, 'WH-' || lpad(CAST({start} + row_number() "
                f"  OVER (ORDER BY s.system_modstamp, s.sf_id) AS VARCHAR), 7, '0')"
                f"  AS number"
                f"  FROM {stage} s ANTI JOIN orders o ON o.sf_id = s.sf_id"
                f") numbered WHERE {stage}.sf_id = numbered.sf_id"
            )
            columns = (
                "name = s.name, account_id = s.account_id, "
                "account_name = s.account_name, stage_name = s.stage_name, "
                "close_date = CAST(s.close_date AS DATE), "
                "amount = CAST(s.amount AS DECIMAL(18, 2)), "
                "org_order_number = s.org_order_number, "
            )
            insert = (
                "(sf_id, order_number, name, account_id, account_name, stage_name, "
                "close_date, amount, org_order_number, system_modstamp, is_deleted, "
                "loaded_at) VALUES "
                "(s.sf_id, s.order_number, s.name, s.account_id, s.account_name, "
                "s.stage_name, CAST(s.close_date AS DATE), "
                "CAST(s.amount AS DECIMAL(18, 2)), s.org_order_number, "
                "CAST(s.system_modstamp AS TIMESTAMPTZ), "
                "CAST(s.is_deleted AS BOOLEAN), $now)"
            )
        else:
            columns = (
                "name = s.name, company = s.company, email = s.email, "
                "lead_source = s.lead_source, status = s.status, "
            )
            insert = (
                "(sf_id, name, company, email, lead_source, status, system_modstamp, "
                "is_deleted, loaded_at) VALUES (s.sf_id, s.name, s.company, s.email, "
                "s.lead_source, s.status, CAST(s.system_modstamp AS TIMESTAMPTZ), "
                "CAST(s.is_deleted AS BOOLEAN), $now)"
            )
        actions = self.db.execute(
            f"MERGE INTO {source} t USING {stage} s ON t.sf_id = s.sf_id "
            f"WHEN MATCHED AND CAST(s.system_modstamp AS TIMESTAMPTZ) "
            f"> t.system_modstamp THEN UPDATE SET {columns}"
            "system_modstamp = CAST(s.system_modstamp AS TIMESTAMPTZ), "
            "is_deleted = CAST(s.is_deleted AS BOOLEAN), loaded_at = $now "
            f"WHEN NOT MATCHED THEN INSERT {insert} RETURNING merge_action",
            {"now": now},
        ).fetchall()
        inserted = sum(1 for (a,) in actions if a == "INSERT")
        updated = sum(1 for (a,) in actions if a == "UPDATE")
        staged = self.db.execute(f"SELECT count(*) FROM {stage}").fetchone()[0]
        return inserted, updated, staged - inserted - updated

    # --- what the warehouse holds -----------------------------------------------------

    def count(self, source: str = "orders") -> int:
        """Rows of ``source`` that are not deleted in the org."""
        return self.db.execute(
            f"SELECT count(*) FROM {_table(source)} WHERE NOT is_deleted"
        ).fetchone()[0]

    def total_amount(self) -> Decimal:
        value = self.db.execute(
            "SELECT coalesce(sum(amount), 0) FROM orders WHERE NOT is_deleted"
        ).fetchone()[0]
        return Decimal(value)

    def sql(self, query: str, *params: Any) -> Any:
        """Run SQL on the warehouse; returns a pandas DataFrame."""
        return self.db.execute(query, list(params)).df()

    # --- reconcile --------------------------------------------------------------------

    def reconcile(self, sf: Salesforce | None = None) -> Reconciliation:
        """Compare the orders in the org (SOQL, REST) with those in the warehouse.

        The org's count comes from ``SELECT COUNT()``; its sum from the amounts of the
        same records, since the sandbox's SOQL has no ``SUM()``. Ids on one side only,
        and amounts that differ, are listed by Id.
        """
        sf = sf or self.salesforce()
        where = "WHERE StageName = 'Closed Won'"
        org_count = sf.query(f"SELECT COUNT() FROM Opportunity {where}")["totalSize"]
        records = sf.query_all(f"SELECT Id, Amount FROM Opportunity {where}")["records"]
        in_org = {
            r["Id"]: Decimal(str(r["Amount"] or 0)).quantize(Decimal("0.01"))
            for r in records
        }
        in_warehouse = {
            sf_id: Decimal(amount)
            for sf_id, amount in self.db.execute(
                "SELECT sf_id, amount FROM orders WHERE NOT is_deleted"
            ).fetchall()
        }
        return Reconciliation(
            org_count=org_count,
            warehouse_count=len(in_warehouse),
            org_amount=sum(in_org.values(), Decimal("0.00")),
            warehouse_amount=sum(in_warehouse.values(), Decimal("0.00")),
            missing_in_warehouse=sorted(in_org.keys() - in_warehouse.keys()),
            missing_in_org=sorted(in_warehouse.keys() - in_org.keys()),
            amount_differences=sorted(
                (i, in_org[i], in_warehouse[i])
                for i in in_org.keys() & in_warehouse.keys()
                if in_org[i] != in_warehouse[i]
            ),
        )

    # --- push back --------------------------------------------------------------------

    def push_back(self, sf: Salesforce | None = None) -> IngestResult | None:
        """Send each new order's warehouse number to the org, by Bulk API 2.0 upsert.

        The CSV carries the record ``Id`` and ``ERP_Order_Number__c``; rows the org
        accepts are marked pushed, so the next run sends only new orders.
        """
        pending = self.db.execute(
            "SELECT sf_id, order_number FROM orders "
            "WHERE pushed_at IS NULL AND NOT is_deleted ORDER BY order_number"
        ).fetchall()
        if not pending:
            return None
        rows = [{"Id": i, "ERP_Order_Number__c": n} for i, n in pending]
        result = self.ingest("Opportunity", "upsert", rows, "Id", sf)
        self._mark_pushed(rows, result)
        return result

    def ingest(
        self,
        sobject: str,
        operation: str,
        rows: list[dict[str, str]],
        external_id_field: str | None = None,
        sf: Salesforce | None = None,
    ) -> IngestResult:
        """One Bulk API 2.0 ingest job through simple-salesforce; its failed rows."""
        sf = sf or self.salesforce()
        handler = getattr(sf.bulk2, sobject)
        kwargs: dict[str, Any] = {"records": rows, "wait": 0.05}
        if operation == "upsert":
            kwargs["external_id_field"] = external_id_field or "Id"
        (job,) = getattr(handler, operation)(**kwargs)
        failed = []
        if int(job["numberRecordsFailed"]):
            text = handler.get_failed_records(job["job_id"])
            failed = list(csv.DictReader(io.StringIO(text)))
        info = sf.restful(f"jobs/ingest/{job['job_id']}")
        return IngestResult(
            job["job_id"],
            sobject,
            operation,
            int(job["numberRecordsProcessed"]),
            int(job["numberRecordsFailed"]),
            failed,
            int(info.get("totalProcessingTime") or 0),
            kwargs.get("external_id_field"),
        )

    def redrive(
        self,
        failed: IngestResult,
        fix: Callable[[dict[str, str]], dict[str, str] | None] | None = None,
        sf: Salesforce | None = None,
    ) -> IngestResult | None:
        """Send a job's ``failedResults`` rows again, as a new job of the same kind
        (object, operation and, for an upsert, external ID field).

        ``fix`` may change a row (return it) or drop it (return None). The result
        columns ``sf__Id`` and ``sf__Error`` are left out, as the job's input had none.
        """
        rows = []
        for row in failed.failed_rows:
            original = {k: v for k, v in row.items() if not k.startswith("sf__")}
            fixed = fix(original) if fix else original
            if fixed is not None:
                rows.append(fixed)
        if not rows:
            return None
        result = self.ingest(
            failed.object, failed.operation, rows, failed.external_id_field, sf
        )
        if failed.object == "Opportunity" and "ERP_Order_Number__c" in rows[0]:
            self._mark_pushed(rows, result)
        return result

    def _mark_pushed(self, rows: list[dict[str, str]], result: IngestResult) -> None:
        failed_ids = {r.get("Id") for r in result.failed_rows}
        done = [[self.clock.now(), r["Id"]] for r in rows if r["Id"] not in failed_ids]
        if done:
            self.db.executemany("UPDATE orders SET pushed_at = ? WHERE sf_id = ?", done)

    def close(self) -> None:
        self.db.close()


class BulkJobError(RuntimeError):
    """A Bulk API 2.0 job that failed, was aborted or did not finish in time."""


def _raise_for_status(response: httpx.Response) -> None:
    """Raise for an error answer, with the platform's error body in the message."""
    if response.is_error:
        raise BulkJobError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:300]}"
        )


def _some(ids: list[str], shown: int = 5) -> str:
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return ", ".join(ids[:shown]) + more


def _table(source: str) -> str:
    if source not in STAGING_COLUMNS:
        raise ValueError(f"No such warehouse table: {source!r}")
    return source


def _count_rows(page: str) -> int:
    """Records in one CSV page of query results (quoted newlines included)."""
    return max(sum(1 for _ in csv.reader(io.StringIO(page))) - 1, 0)
