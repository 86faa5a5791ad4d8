"""Bulk API 2.0: ingest and query jobs, their states, results and bad input."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from sfsandbox import Sandbox

JOBS = "/services/data/v62.0/jobs"
CSV = {"Content-Type": "text/csv"}


def create(api: httpx.Client, **payload: object) -> dict:
    answer = api.post(f"{JOBS}/ingest", json=payload)
    assert answer.status_code == 200, answer.text
    return answer.json()


def upload(api: httpx.Client, job_id: str, data: str | bytes) -> httpx.Response:
    return api.put(f"{JOBS}/ingest/{job_id}/batches", content=data, headers=CSV)


def close(api: httpx.Client, job_id: str) -> httpx.Response:
    return api.patch(f"{JOBS}/ingest/{job_id}", json={"state": "UploadComplete"})


def info(api: httpx.Client, job_id: str, kind: str = "ingest") -> dict:
    return api.get(f"{JOBS}/{kind}/{job_id}").json()


def results(api: httpx.Client, job_id: str, kind: str, delimiter: str = ",") -> list:
    answer = api.get(f"{JOBS}/ingest/{job_id}/{kind}")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(answer.text, newline=""), delimiter=delimiter))


def run(
    sandbox: Sandbox, api: httpx.Client, data: str | bytes, **payload: object
) -> dict:
    """Create, upload, close and wait: the finished job's info."""
    payload.setdefault("operation", "insert")
    job = create(api, **payload)
    assert upload(api, job["id"], data).status_code == 201
    assert close(api, job["id"]).status_code == 200
    assert sandbox.org.bulk.wait()
    return info(api, job["id"])


def count(sandbox: Sandbox, name: str) -> int:
    return sandbox.org.store.count(sandbox.org.schema.get(name))


def error_code(answer: httpx.Response) -> str:
    return answer.json()[0]["errorCode"]


def accounted(api: httpx.Client, job_id: str, rows: int) -> dict[str, list]:
    """Every uploaded row is in exactly one of the three results."""
    found = {
        kind: results(api, job_id, kind)[1:]
        for kind in ("successfulResults", "failedResults", "unprocessedrecords")
    }
    assert sum(len(v) for v in found.values()) == rows
    return found


@contextmanager
def worker_held(sandbox: Sandbox) -> Iterator[None]:
    """Hold the store so that a job stops InProgress until the block ends."""
    with sandbox.org.store.lock:
        yield


def wait_for_state(api: httpx.Client, job_id: str, state: str, kind: str = "ingest"):
    for _ in range(200):
        if info(api, job_id, kind)["state"] == state:
            return
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never reached {state}")


# --- the must-show case ---------------------------------------------------------------


def test_blank_required_field_fails_its_row_only(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    before = count(sandbox, "Contact")
    data = (
        "FirstName,LastName,Email\n"
        "Ada,Lovelace,ada@example.com\n"
        "Bob,,bob@example.com\n"
        "Grace,Hopper,grace@example.com\n"
    )
    job = run(sandbox, api, data, object="Contact")
    assert job["state"] == "JobComplete"
    assert (job["numberRecordsProcessed"], job["numberRecordsFailed"]) == (3, 1)
    found = accounted(api, job["id"], 3)

    success = results(api, job["id"], "successfulResults")
    assert success[0] == ["sf__Id", "sf__Created", "FirstName", "LastName", "Email"]
    assert [row[2:] for row in found["successfulResults"]] == [
        ["Ada", "Lovelace", "ada@example.com"],
        ["Grace", "Hopper", "grace@example.com"],
    ]
    assert all(r[0].startswith("003") and r[1] == "true" for r in success[1:])
    failed = results(api, job["id"], "failedResults")
    assert failed[0] == ["sf__Id", "sf__Error", "FirstName", "LastName", "Email"]
    assert failed[1] == [
        "",
        "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --",
        "Bob",
        "",
        "bob@example.com",
    ]
    assert count(sandbox, "Contact") == before + 2
    stored = sandbox.org.store.find(
        sandbox.org.schema.get("Contact"), found["successfulResults"][0][0]
    )
    assert stored["Name"] == "Ada Lovelace"


def test_misspelled_header_fails_the_job_and_applies_nothing(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    before = count(sandbox, "Contact")
    data = "FirstName,LastNme\nAda,Lovelace\nBob,Builder\n"
    job = run(sandbox, api, data, object="Contact")
    assert job["state"] == "Failed"
    assert job["errorMessage"] == "InvalidBatch : Field name not found : LastNme"
    assert (job["numberRecordsProcessed"], job["numberRecordsFailed"]) == (0, 0)
    found = accounted(api, job["id"], 2)
    assert found["unprocessedrecords"] == [["Ada", "Lovelace"], ["Bob", "Builder"]]
    assert results(api, job["id"], "unprocessedRecords")[0] == ["FirstName", "LastNme"]
    assert count(sandbox, "Contact") == before


# --- states --------------------------------------------------------------------------


def test_every_state_from_open_to_job_complete(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    job = create(api, object="Account", operation="insert")
    assert job["state"] == "Open"
    assert job["contentUrl"] == f"services/data/v62.0/jobs/ingest/{job['id']}/batches"
    assert job["id"].startswith("750")
    assert upload(api, job["id"], "Name\nState Co\n").status_code == 201
    assert info(api, job["id"])["state"] == "Open"
    with worker_held(sandbox):
        closed = close(api, job["id"])
        assert closed.json()["state"] == "UploadComplete"
        wait_for_state(api, job["id"], "InProgress")
    assert sandbox.org.bulk.wait()
    done = info(api, job["id"])
    assert done["state"] == "JobComplete"
    assert done["jobType"] == "V2Ingest" and done["apiVersion"] == 62.0
    for key in ("retries", "totalProcessingTime", "apiActiveProcessingTime"):
        assert isinstance(done[key], int)


def test_abort_in_progress_leaves_the_rest_unprocessed(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    rows = 12_000
    data = "LastName\n" + "".join(f"Abort {i}\n" for i in range(rows))
    job = create(api, object="Contact", operation="insert")
    assert upload(api, job["id"], data).status_code == 201
    answers: list[httpx.Response] = []

    def abort_during_first_batch(trigger: object) -> None:
        if not answers:  # the learner aborts while the first batch is saving
            answers.append(
                api.patch(f"{JOBS}/ingest/{job['id']}", json={"state": "Aborted"})
            )

    triggers = sandbox.org.apex.triggers
    triggers.register("Contact", ["after insert"], abort_during_first_batch)
    try:
        close(api, job["id"])
        assert sandbox.org.bulk.wait()
    finally:
        triggers.unregister("abort_during_first_batch")
    assert answers[0].json()["state"] == "Aborted"
    assert sandbox.org.bulk.wait()
    done = info(api, job["id"])
    assert done["state"] == "Aborted"
    found = accounted(api, job["id"], rows)
    # The batch already taking its rows finishes; the next is never started.
    assert len(found["successfulResults"]) == 10_000
    assert found["unprocessedrecords"][0] == ["Abort 10000"]
    assert done["numberRecordsProcessed"] == 10_000


def test_abort_an_open_job(sandbox: Sandbox, api: httpx.Client) -> None:
    job = create(api, object="Account", operation="insert")
    upload(api, job["id"], "Name\nNever Co\n")
    answer = api.patch(f"{JOBS}/ingest/{job['id']}", json={"state": "Aborted"})
    assert answer.status_code == 200 and answer.json()["state"] == "Aborted"
    assert sandbox.org.bulk.wait()
    assert accounted(api, job["id"], 1)["unprocessedrecords"] == [["Never Co"]]
    again = api.patch(f"{JOBS}/ingest/{job['id']}", json={"state": "UploadComplete"})
    assert again.status_code == 400 and error_code(again) == "INVALIDJOBSTATE"


# --- operations ----------------------------------------------------------------------


def test_upsert_update_delete_and_hard_delete(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    data = "External_Id__c,Name\nERP-1,First Co\nERP-2,Second Co\n"
    job = run(
        sandbox,
        api,
        data,
        object="Account",
        operation="upsert",
        externalIdFieldName="External_Id__c",
    )
    assert job["externalIdFieldName"] == "External_Id__c"
    created = results(api, job["id"], "successfulResults")[1:]
    assert [row[1] for row in created] == ["true", "true"]

    data = "External_Id__c,Name\nERP-1,First Co Renamed\nERP-3,Third Co\n"
    job = run(
        sandbox,
        api,
        data,
        object="Account",
        operation="upsert",
        externalIdFieldName="External_Id__c",
    )
    again = results(api, job["id"], "successfulResults")[1:]
    assert [row[1] for row in again] == ["false", "true"]
    assert again[0][0] == created[0][0]
    account = sandbox.org.schema.get("Account")
    assert sandbox.org.store.find(account, created[0][0])["Name"] == "First Co Renamed"

    # Update: an empty value leaves the field alone; #N/A clears it.
    first, second = created[0][0], created[1][0]
    data = f"Id,Name,Industry\n{first},,Retail\n{second},Second Co,#N/A\n"
    job = run(sandbox, api, data, object="Account", operation="update")
    assert job["numberRecordsFailed"] == 0
    assert sandbox.org.store.find(account, first)["Name"] == "First Co Renamed"
    assert sandbox.org.store.find(account, first)["Industry"] == "Retail"

    job = run(sandbox, api, f"Id\n{first}\n", object="Account", operation="delete")
    assert job["numberRecordsFailed"] == 0
    assert sandbox.org.store.find(account, first) is None
    assert sandbox.org.store.find(account, first, deleted=True) is not None
    job = run(sandbox, api, f"Id\n{second}\n", object="Account", operation="hardDelete")
    assert sandbox.org.store.find(account, second, deleted=True) is None

    job = run(sandbox, api, f'Id\n{second}\n""\n', object="Account", operation="delete")
    failed = results(api, job["id"], "failedResults")[1:]
    assert [row[1].split(":")[0] for row in failed] == ["NOT_FOUND", "MISSING_ARGUMENT"]


def test_save_rules_and_types_apply_per_row(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    data = (
        "LastName,Company,Email,LeadSource\n"
        "One,Dup Co,dup@example.com,Web\n"
        "Two,Dup Co,DUP@example.com,Web\n"
        "Three,Web Co,,Web\n"
    )
    job = run(sandbox, api, data, object="Lead")
    failed = results(api, job["id"], "failedResults")[1:]
    assert [row[2] for row in failed] == ["Two", "Three"]
    assert failed[0][1].startswith("DUPLICATES_DETECTED:Use one of these records?")
    assert failed[1][1].startswith("FIELD_CUSTOM_VALIDATION_EXCEPTION:A web lead")
    assert failed[1][1].endswith(":Email --")

    data = "Name,NumberOfEmployees,AnnualRevenue\nTyped Co,12,1000.5\nBad Co,many,1\n"
    job = run(sandbox, api, data, object="Account")
    failed = results(api, job["id"], "failedResults")[1:]
    assert failed[0][1] == (
        "INVALID_TYPE_ON_FIELD_IN_RECORD:Employees: value not of required type: "
        "many:NumberOfEmployees --"
    )


def test_triggers_fire_200_records_at_a_time(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    sizes: list[int] = []

    def contact_trigger(trigger) -> None:  # type: ignore[no-untyped-def]
        sizes.append(len(trigger.new))
        if any(record["LastName"] == "Boom" for record in trigger.new):
            raise ValueError("no Boom contacts")

    rows = [f"Trig {i}" for i in range(450)]
    rows[250] = "Boom"
    before = count(sandbox, "Contact")
    triggers = sandbox.org.apex.triggers
    triggers.register("Contact", ["after insert"], contact_trigger, name="BulkT")
    try:
        job = run(sandbox, api, "LastName\n" + "\n".join(rows) + "\n", object="Contact")
    finally:
        triggers.unregister("BulkT")
    assert sizes == [200, 200, 50]
    found = accounted(api, job["id"], 450)
    assert len(found["successfulResults"]) == 250
    assert len(found["failedResults"]) == 200
    assert found["failedResults"][0][1].startswith(
        "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY:BulkT: execution of AfterInsert"
    )
    assert {row[2] for row in found["failedResults"]} == set(rows[200:400])
    assert count(sandbox, "Contact") == before + 250


# --- bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "data", "message"),
    [
        pytest.param(
            {"columnDelimiter": "SEMICOLON"},
            "FirstName,LastName\nAda,Lovelace\n",
            "InvalidBatch : Field name not found : FirstName,LastName",
            id="wrong-delimiter",
        ),
        pytest.param(
            {},
            "LastName\nLF One\r\nLF Two\n",
            "ClientInputError : LineEnding is invalid on user data. Current "
            "LineEnding setting is LF",
            id="crlf-record-in-lf-job",
        ),
        pytest.param(
            {"lineEnding": "CRLF"},
            "LastName\r\nCR One\nCR Two\r\n",
            "ClientInputError : LineEnding is invalid on user data. Current "
            "LineEnding setting is CRLF",
            id="lf-record-in-crlf-job",
        ),
        pytest.param(
            {},
            "\ufeffLastName\nBom\n",
            "InvalidBatch : Field name not found : \ufeffLastName",
            id="utf8-bom",
        ),
        pytest.param(
            {},
            b"LastName\nLatin \xe9\n",
            "ClientInputError : The data is not valid UTF-8",
            id="not-utf8",
        ),
        pytest.param(
            {},
            "Account.External_Id__c,LastName\nX,Y\n",
            "FunctionalityNotEnabled : A relationship column",
            id="relationship-column",
        ),
    ],
)
def test_bad_data_fails_the_job_before_any_row(
    sandbox: Sandbox,
    api: httpx.Client,
    payload: dict,
    data: str | bytes,
    message: str,
) -> None:
    before = count(sandbox, "Contact")
    job = run(sandbox, api, data, object="Contact", **payload)
    assert job["state"] == "Failed"
    assert job["errorMessage"].startswith(message)
    assert job["numberRecordsProcessed"] == 0
    unprocessed = results(api, job["id"], "unprocessedrecords")
    assert len(unprocessed) >= 2
    assert count(sandbox, "Contact") == before


def test_quoted_values_with_line_breaks_are_data(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    data = (
        'LastName|MailingStreet\r\n"Pipe ""Quoted"""|"line one\nline two\r\nthree"\r\n'
        "Plain|x\r\n"
    )
    job = run(
        sandbox,
        api,
        data,
        object="Contact",
        columnDelimiter="PIPE",
        lineEnding="CRLF",
    )
    assert job["state"] == "JobComplete" and job["numberRecordsFailed"] == 0
    text = api.get(f"{JOBS}/ingest/{job['id']}/successfulResults").text
    # Each result row echoes the record as it was uploaded, quotes included.
    assert '|true|"Pipe ""Quoted"""|"line one\nline two\r\nthree"\r\n' in text
    rows = results(api, job["id"], "successfulResults", delimiter="|")
    assert rows[1][2:] == ['Pipe "Quoted"', "line one\nline two\r\nthree"]
    contact = sandbox.org.schema.get("Contact")
    stored = sandbox.org.store.find(contact, rows[1][0])
    assert stored["MailingStreet"] == "line one\nline two\r\nthree"


def test_a_value_spanning_lines_across_a_batch_boundary(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    lines = [f"Edge {i},street {i}\n" for i in range(10_010)]
    lines[9_999] = 'Edge 9999,"first line\nsecond line"\n'
    lines[5] = "\n"  # a blank line is no record
    data = "LastName,MailingStreet\n" + "".join(lines)
    job = run(sandbox, api, data.rstrip("\n"), object="Contact")
    assert job["state"] == "JobComplete"
    assert job["numberRecordsProcessed"] == 10_009
    found = accounted(api, job["id"], 10_009)["successfulResults"]
    streets = {row[2]: row[3] for row in found}
    assert streets["Edge 9999"] == "first line\nsecond line"
    assert streets["Edge 10000"] == "street 10000"
    assert streets["Edge 10009"] == "street 10009"
    assert "Edge 5" not in streets


def test_close_before_any_upload_fails_the_job(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    job = create(api, object="Contact", operation="insert")
    answer = close(api, job["id"])
    assert answer.status_code == 200 and answer.json()["state"] == "UploadComplete"
    assert sandbox.org.bulk.wait()
    done = info(api, job["id"])
    assert done["state"] == "Failed" and "no data" in done["errorMessage"]


def test_requests_a_job_refuses(sandbox: Sandbox, api: httpx.Client) -> None:
    job = create(api, object="Contact", operation="insert")
    assert upload(api, job["id"], "LastName\nOnce\n").status_code == 201
    second = upload(api, job["id"], "LastName\nTwice\n")
    assert second.status_code == 400 and error_code(second) == "INVALIDJOBSTATE"
    assert close(api, job["id"]).status_code == 200
    after = upload(api, job["id"], "LastName\nLate\n")
    assert after.status_code == 400 and error_code(after) == "INVALIDJOBSTATE"
    again = close(api, job["id"])
    assert again.status_code == 400 and error_code(again) == "INVALIDJOBSTATE"
    assert sandbox.org.bulk.wait()
    assert accounted(api, job["id"], 1)["successfulResults"][0][2] == "Once"

    other = create(api, object="Contact", operation="insert")
    text = api.put(
        f"{JOBS}/ingest/{other['id']}/batches",
        content="LastName\nX\n",
        headers={"Content-Type": "text/plain"},
    )
    assert text.status_code == 415


@pytest.mark.parametrize(
    "request_",
    [
        ("GET", "ingest/750000000000000AAA", None),
        ("PATCH", "ingest/750000000000000AAA", {"state": "UploadComplete"}),
        ("DELETE", "ingest/750000000000000AAA", None),
        ("GET", "ingest/750000000000000AAA/failedResults", None),
        ("GET", "query/750000000000000AAA", None),
        ("GET", "query/750000000000000AAA/results", None),
    ],
)
def test_unknown_job_is_not_found(api: httpx.Client, request_: tuple) -> None:
    method, path, body = request_
    answer = api.request(method, f"{JOBS}/{path}", json=body)
    assert answer.status_code == 404 and error_code(answer) == "NOT_FOUND"


def test_upload_to_unknown_job_is_not_found(api: httpx.Client) -> None:
    answer = upload(api, "750000000000000AAA", "LastName\nX\n")
    assert answer.status_code == 404 and error_code(answer) == "NOT_FOUND"


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({"object": "Contact", "operation": "merge"}, "Invalid operation: merge"),
        ({"object": "Contact"}, "Field operation is required"),
        ({"object": "Nope__c", "operation": "insert"}, "Unable to find object"),
        (
            {"object": "Contact", "operation": "upsert"},
            "External ID was blank for Contact",
        ),
        (
            {
                "object": "Contact",
                "operation": "upsert",
                "externalIdFieldName": "Email",
            },
            "not an external ID field",
        ),
        (
            {"object": "Contact", "operation": "insert", "columnDelimiter": "COLON"},
            "Invalid column delimiter: COLON",
        ),
        (
            {"object": "Contact", "operation": "insert", "lineEnding": "CR"},
            "Invalid line ending: CR",
        ),
        (
            {"object": "Contact", "operation": "insert", "contentType": "JSON"},
            "Invalid content type: JSON",
        ),
    ],
)
def test_create_refuses_a_bad_job(api: httpx.Client, payload: dict, words: str) -> None:
    answer = api.post(f"{JOBS}/ingest", json=payload)
    assert answer.status_code == 400
    assert error_code(answer) == "INVALIDJOB"
    assert words in answer.json()[0]["message"]


def test_create_refuses_bad_json(api: httpx.Client) -> None:
    answer = api.post(
        f"{JOBS}/ingest",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400 and error_code(answer) == "JSON_PARSER_ERROR"


def test_delete_job(sandbox: Sandbox, api: httpx.Client) -> None:
    job = create(api, object="Account", operation="insert")
    refused = api.delete(f"{JOBS}/ingest/{job['id']}")
    assert refused.status_code == 400 and error_code(refused) == "INVALIDJOBSTATE"
    api.patch(f"{JOBS}/ingest/{job['id']}", json={"state": "Aborted"})
    assert api.delete(f"{JOBS}/ingest/{job['id']}").status_code == 204
    assert api.get(f"{JOBS}/ingest/{job['id']}").status_code == 404


def test_list_jobs(sandbox: Sandbox, api: httpx.Client) -> None:
    job = create(api, object="Account", operation="insert")
    listing = api.get(f"{JOBS}/ingest").json()
    assert listing["done"] is True and listing["nextRecordsUrl"] is None
    assert job["id"] in [record["id"] for record in listing["records"]]
    assert all(record["jobType"] == "V2Ingest" for record in listing["records"])


def test_allocations_refuse_with_their_errors(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    bulk = sandbox.org.bulk
    before = count(sandbox, "Account")
    bulk.daily_records = bulk.records_used() + 1
    try:
        job = run(sandbox, api, "Name\nQuota A\nQuota B\n", object="Account")
    finally:
        bulk.daily_records = 150_000_000
    assert job["state"] == "Failed"
    assert job["errorMessage"] == "ExceededQuota : ApiBatchItems Limit exceeded."
    assert len(accounted(api, job["id"], 2)["unprocessedrecords"]) == 2
    assert count(sandbox, "Account") == before

    bulk.daily_query_jobs = bulk.query_jobs_used()
    limits = api.get("/services/data/v62.0/limits").json()["DailyBulkV2QueryJobs"]
    assert limits == {"Max": bulk.daily_query_jobs, "Remaining": 0}
    try:
        answer = api.post(
            f"{JOBS}/query", json={"operation": "query", "query": "SELECT Id FROM User"}
        )
    finally:
        bulk.daily_query_jobs = 10_000
    assert answer.status_code == 400 and error_code(answer) == "LIMIT_EXCEEDED"


# --- query jobs ----------------------------------------------------------------------


def query_job(api: httpx.Client, soql: str, **payload: object) -> httpx.Response:
    return api.post(
        f"{JOBS}/query", json={"operation": "query", "query": soql, **payload}
    )


def test_query_job_pages_with_locator(sandbox: Sandbox, api: httpx.Client) -> None:
    total = count(sandbox, "Contact")
    with worker_held(sandbox):
        created = query_job(
            api, "SELECT Id, Name, Account.Name, CreatedDate FROM Contact"
        )
        assert created.status_code == 200
        job = created.json()
        assert job["state"] == "UploadComplete" and job["object"] == "Contact"
        early = api.get(f"{JOBS}/query/{job['id']}/results")
        assert early.status_code == 412 and error_code(early) == "JOB_NOT_COMPLETE"
    assert sandbox.org.bulk.wait()
    done = info(api, job["id"], "query")
    assert done["state"] == "JobComplete" and done["jobType"] == "V2Query"
    assert done["numberRecordsProcessed"] == total

    seen: list[list[str]] = []
    locator = None
    pages = 0
    while True:
        params: dict = {"maxRecords": 1500}
        if locator:
            params["locator"] = locator
        page = api.get(f"{JOBS}/query/{job['id']}/results", params=params)
        assert page.status_code == 200
        rows = list(csv.reader(io.StringIO(page.text, newline="")))
        assert rows[0] == ["Id", "Name", "Account.Name", "CreatedDate"]
        assert int(page.headers["Sforce-NumberOfRecords"]) == len(rows) - 1
        seen.extend(rows[1:])
        pages += 1
        locator = page.headers["Sforce-Locator"]
        if locator == "null":
            break
    assert pages == -(-total // 1500)
    assert len(seen) == total and len({row[0] for row in seen}) == total
    assert all(row[3].endswith(".000Z") for row in seen)

    bad = api.get(f"{JOBS}/query/{job['id']}/results", params={"locator": "!!"})
    assert bad.status_code == 400
    zero = api.get(f"{JOBS}/query/{job['id']}/results", params={"maxRecords": "0"})
    assert zero.status_code == 400


def test_query_job_shows_null_as_empty(sandbox: Sandbox, api: httpx.Client) -> None:
    create_answer = query_job(
        api,
        "SELECT LastName, Email, Account.Name FROM Contact WHERE LastName = 'Nully'",
    )
    run(sandbox, api, "LastName\nNully\n", object="Contact")
    assert sandbox.org.bulk.wait()
    job = create_answer.json()
    # The query ran before the insert: the sandbox is deterministic about order.
    assert info(api, job["id"], "query")["numberRecordsProcessed"] == 0
    again = query_job(
        api,
        "SELECT LastName, Email, Account.Name FROM Contact WHERE LastName = 'Nully'",
        operation="queryAll",
    ).json()
    assert sandbox.org.bulk.wait()
    text = api.get(f"{JOBS}/query/{again['id']}/results").text
    assert text == '"LastName","Email","Account.Name"\n"Nully","",""\n'

    flags = query_job(api, "SELECT IsConverted, Email FROM Lead LIMIT 1")
    typed = query_job(
        api,
        "SELECT NumberOfEmployees, AnnualRevenue FROM Account "
        "WHERE NumberOfEmployees != null AND AnnualRevenue != null LIMIT 1",
    )
    assert sandbox.org.bulk.wait()
    rows = list(
        csv.reader(
            io.StringIO(api.get(f"{JOBS}/query/{flags.json()['id']}/results").text)
        )
    )
    assert rows[1][0] in {"true", "false"}
    rows = list(
        csv.reader(
            io.StringIO(api.get(f"{JOBS}/query/{typed.json()['id']}/results").text)
        )
    )
    assert rows[1][0].isdigit() and float(rows[1][1]) >= 0


@pytest.mark.parametrize(
    ("soql", "words"),
    [
        ("SELECT LeadSource, COUNT(Id) FROM Lead GROUP BY LeadSource", "GROUP BY"),
        ("SELECT Id FROM Contact OFFSET 5", "OFFSET"),
        ("SELECT COUNT() FROM Contact", "Aggregate functions"),
        ("SELECT FIELDS(STANDARD) FROM Contact", "FIELDS()"),
        (
            "SELECT Id, (SELECT Id FROM Contacts) FROM Account",
            "Aggregate Relationships not supported in Bulk V2 Query",
        ),
        (
            "SELECT TYPEOF What WHEN Account THEN Name END FROM Task",
            "TYPEOF",
        ),
    ],
)
def test_query_job_refuses_what_bulk_refuses(
    api: httpx.Client, soql: str, words: str
) -> None:
    answer = query_job(api, soql)
    assert answer.status_code == 400
    assert error_code(answer) == "API_ERROR"
    assert words in answer.json()[0]["message"]


def test_query_job_reports_bad_soql(api: httpx.Client) -> None:
    answer = query_job(api, "SELECT Nope FROM Contact")
    assert answer.status_code == 400 and error_code(answer) == "INVALID_FIELD"
    answer = api.post(f"{JOBS}/query", json={"operation": "insert", "query": "x"})
    assert answer.status_code == 400 and error_code(answer) == "INVALIDJOB"


def test_id_blocks_match_one_by_one() -> None:
    from sfsandbox.org.ids import IdFactory

    one, many = IdFactory(7), IdFactory(7)
    singles = [one.new("00Q") for _ in range(8000)]
    assert many.new_many("00Q", 5000) + many.new_many("00Q", 3000) == singles
