"""simple-salesforce's Bulk 2.0 interface, unchanged, against the sandbox.

It creates jobs, uploads the CSV, closes and polls them, reads the three result
files, and pages query results through ``Sforce-Locator`` and
``Sforce-NumberOfRecords``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceOperationError

from sfsandbox import Sandbox

WAIT = 0.05  # seconds simple-salesforce sleeps before its first poll


@pytest.fixture(scope="module")
def sf(sandbox: Sandbox, token: str) -> Salesforce:
    org = sandbox.org
    return Salesforce(
        session_id=token,
        instance_url=org.instance_url,
        session=org.requests_session(),
        version="62.0",
    )


def write(folder: Path, name: str, rows: list[list[str]]) -> str:
    path = folder / name
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return str(path)


def read(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_insert_reports_each_row(sf: Salesforce, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "contacts.csv",
        [
            ["FirstName", "LastName", "Email"],
            ["Ada", "Lovelace", "ada@bulk.example"],
            ["Nameless", "", "nameless@bulk.example"],
            ["Grace", "Hopper", "grace@bulk.example"],
        ],
    )
    [result] = sf.bulk2.Contact.insert(csv_file=path, wait=WAIT)
    assert result["numberRecordsProcessed"] == 3
    assert result["numberRecordsFailed"] == 1
    assert result["numberRecordsTotal"] == 3

    job_id = result["job_id"]
    success = read(sf.bulk2.Contact.get_successful_records(job_id))
    assert [row["LastName"] for row in success] == ["Lovelace", "Hopper"]
    assert all(row["sf__Created"] == "true" for row in success)
    failed = read(sf.bulk2.Contact.get_failed_records(job_id))
    assert failed[0]["FirstName"] == "Nameless"
    assert failed[0]["sf__Error"].startswith("REQUIRED_FIELD_MISSING:")
    unprocessed = read(sf.bulk2.Contact.get_unprocessed_records(job_id))
    assert unprocessed == []

    found = sf.query("SELECT Name FROM Contact WHERE Email = 'ada@bulk.example'")
    assert found["records"][0]["Name"] == "Ada Lovelace"


def test_upsert_creates_then_updates(sf: Salesforce, tmp_path: Path) -> None:
    first = write(
        tmp_path,
        "accounts.csv",
        [["External_Id__c", "Name"], ["SS-1", "Simple One"], ["SS-2", "Simple Two"]],
    )
    [result] = sf.bulk2.Account.upsert(
        csv_file=first, external_id_field="External_Id__c", wait=WAIT
    )
    assert (result["numberRecordsProcessed"], result["numberRecordsFailed"]) == (2, 0)
    created = read(sf.bulk2.Account.get_successful_records(result["job_id"]))
    assert [row["sf__Created"] for row in created] == ["true", "true"]

    second = write(
        tmp_path,
        "accounts2.csv",
        [["External_Id__c", "Name"], ["SS-1", "Simple One Renamed"]],
    )
    [result] = sf.bulk2.Account.upsert(
        csv_file=second, external_id_field="External_Id__c", wait=WAIT
    )
    updated = read(sf.bulk2.Account.get_successful_records(result["job_id"]))
    assert updated[0]["sf__Created"] == "false"
    assert updated[0]["sf__Id"] == created[0]["sf__Id"]
    assert sf.Account.get(created[0]["sf__Id"])["Name"] == "Simple One Renamed"


def test_query_pages_through_the_locator(sandbox: Sandbox, sf: Salesforce) -> None:
    total = sandbox.org.store.count(sandbox.org.schema.get("Contact"))
    pages = list(
        sf.bulk2.Contact.query(
            "SELECT Id, Name, Account.Name FROM Contact", max_records=1000, wait=WAIT
        )
    )
    assert len(pages) == -(-total // 1000)
    rows = [row for page in pages for row in read(page)]
    assert len(rows) == total
    assert list(rows[0]) == ["Id", "Name", "Account.Name"]
    assert len({row["Id"] for row in rows}) == total


def test_download_writes_the_pages_to_files(sf: Salesforce, tmp_path: Path) -> None:
    results = sf.bulk2.Account.download(
        "SELECT Id, Name FROM Account", path=str(tmp_path), max_records=100, wait=WAIT
    )
    assert results and all(Path(r["file"]).exists() for r in results)
    counted = sum(r["number_of_records"] for r in results)
    assert counted == sum(
        len(read(Path(r["file"]).read_text(encoding="utf-8"))) for r in results
    )


def test_a_failed_job_raises(sf: Salesforce, tmp_path: Path) -> None:
    path = write(tmp_path, "typo.csv", [["FirstName", "LastNme"], ["Ada", "Typo"]])
    with pytest.raises(SalesforceOperationError, match="Field name not found"):
        sf.bulk2.Contact.insert(csv_file=path, wait=WAIT)
