"""Bulk API 2.0's HTTP layer: ``/services/data/vXX.X/jobs/ingest`` and ``/jobs/query``.

Job bodies are JSON; uploads and results are CSV. The state and behaviour are in
``sfsandbox.org.bulk``; errors are raised as ``SalesforceError`` and rendered by the
org's REST layer like every other API error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sfsandbox.org import errors
from sfsandbox.org.bulk import LIST_PAGE, BulkApi, BulkJob, _from_locator, _locator

if TYPE_CHECKING:
    from sfsandbox.org.rest import ApiCall, ApiResult

# Bulk API 2.0 ingest exists from v41.0 and query jobs from v47.0 (reference sheet).
INGEST_SINCE = 41
QUERY_SINCE = 47
RESULT_KINDS = {
    "successfulResults": "successfulResults",
    "failedResults": "failedResults",
    "unprocessedrecords": "unprocessed",
    # simple-salesforce asks for this spelling.
    "unprocessedRecords": "unprocessed",
}
CSV_TYPE = "text/csv"


def handle(bulk: BulkApi, call: ApiCall) -> ApiResult:
    """Answer a request under ``/jobs`` (the upload has its own streaming path)."""
    from sfsandbox.org.rest import ApiResult, _allow, _json_object

    rest = call.rest[1:]
    if not rest or rest[0] not in {"ingest", "query"}:
        raise errors.NotFound()
    query = rest[0] == "query"
    if int(float(call.version)) < (QUERY_SINCE if query else INGEST_SINCE):
        raise errors.NotFound()
    base = f"/services/data/v{call.version}/jobs/{rest[0]}"

    if len(rest) == 1:
        _allow(call.method, ["GET", "HEAD", "POST"])
        if call.method == "POST":
            payload = _json_object(call, "JobInfo")
            if query:
                job: BulkJob = bulk.create_query_job(payload, call.version)
            else:
                job = bulk.create_ingest_job(payload, call.version)
            return ApiResult(200, job.info(brief=True))
        return ApiResult(200, _job_list(bulk, query, base, call.params))

    job_id = rest[1]
    if len(rest) == 2:
        _allow(call.method, ["GET", "HEAD", "PATCH", "DELETE"])
        if call.method == "PATCH":
            payload = _json_object(call, "JobInfo")
            return ApiResult(200, bulk.set_state(job_id, payload.get("state"), query))
        if call.method == "DELETE":
            bulk.delete(job_id, query)
            return ApiResult(204)
        return ApiResult(200, bulk.get(job_id, query).info())

    if len(rest) == 3 and query and rest[2] == "results":
        _allow(call.method, ["GET", "HEAD"])
        max_records = _max_records(call.params.get("maxRecords"))
        body, count, locator = bulk.query_page(
            job_id, call.params.get("locator") or None, max_records
        )
        return ApiResult(
            200,
            content=body,
            media_type=CSV_TYPE,
            headers={
                "Sforce-Locator": locator,
                "Sforce-NumberOfRecords": str(count),
            },
        )
    if len(rest) == 3 and not query and rest[2] in RESULT_KINDS:
        _allow(call.method, ["GET", "HEAD"])
        return ApiResult(
            200,
            content=_results(bulk, job_id, RESULT_KINDS[rest[2]]),
            media_type=CSV_TYPE,
        )
    if len(rest) == 3 and not query and rest[2] == "batches":
        _allow(call.method, ["PUT"])
    raise errors.NotFound()


def _max_records(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    if not text.isdigit() or int(text) < 1:
        # Wording is the sandbox's own (UNVERIFIED).
        raise errors.InvalidInput(
            f"maxRecords must be a positive whole number; got {text!r}"
        )
    return int(text)


def _results(bulk: BulkApi, job_id: str, kind: str) -> Iterator[bytes]:
    """A results file up to what the worker has written (whole rows only)."""
    job = bulk.get(job_id, query=False)
    path = job.path(kind)  # type: ignore[attr-defined]
    size = job.results.get(kind, 0)  # type: ignore[attr-defined]
    if not size or not path.exists():
        return iter([b""])

    def read() -> Iterator[bytes]:
        with path.open("rb") as handle:
            remaining = size
            while remaining > 0:
                block = handle.read(min(remaining, 1 << 20))
                if not block:
                    return
                remaining -= len(block)
                yield block

    return read()


def _job_list(bulk: BulkApi, query: bool, base: str, params: Any) -> dict[str, Any]:
    """Get All Jobs: ``{done, records, nextRecordsUrl}``, 1,000 jobs a page."""
    jobs = bulk.list_jobs(query)
    locator = params.get("queryLocator")
    start = _from_locator(locator) if locator else 0
    page = jobs[start : start + LIST_PAGE]
    end = start + len(page)
    done = end >= len(jobs)
    return {
        "done": done,
        "records": [job.info() for job in page],
        "nextRecordsUrl": None if done else f"{base}?queryLocator={_locator(end)}",
    }
