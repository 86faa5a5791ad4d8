"""The org's HTTP layer: maps REST API requests onto the store, SOQL and auth.

Paths, methods, status codes and bodies follow the REST API. Every error is raised as a
``SalesforceError`` (or ``OAuthError``) and rendered in ``OrgApp.__call__`` alone.

A request under ``/services/data/vXX.X/`` becomes an ``ApiCall`` that ``dispatch``
answers with an ``ApiResult``; composite subrequests go through the same dispatcher, in
one store transaction, without another HTTP round trip.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from sfsandbox.org import bulkrest, errors, soap, soql
from sfsandbox.org.events import PlatformEventType
from sfsandbox.org.ids import to_18
from sfsandbox.org.schema import Field, SObjectType

if TYPE_CHECKING:
    from sfsandbox.org.org import Org

log = logging.getLogger(__name__)

API_VERSION = "62.0"
OLDEST_VERSION = 31
SEASONS = ("Summer", "Winter", "Spring")
DEFAULT_BATCH = 2000
MIN_BATCH = 200
OPEN_QUERY_LOCATORS = 100
VERSION_PATH = re.compile(r"^v(\d+\.\d)$")
UPLOAD_PATH = re.compile(r"^/services/data/v(\d+\.\d)/jobs/ingest/([^/]+)/batches/?$")

# Composite limits: 25 subrequests, at most 5 of them queries or sObject Collections
# (REST API guide, "Composite"); 200 records per sObject Collections request and 2,000
# IDs per collection retrieve by POST (REST API guide, "sObject Collections").
MAX_SUBREQUESTS = 25
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
MAX_QUERY_OR_COLLECTION_SUBREQUESTS = 5
MAX_COLLECTION_RECORDS = 200
MAX_COLLECTION_RETRIEVE_IDS = 2000
SUBREQUEST_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
# Subrequests inherit these from the composite request and may not set them.
INHERITED_HEADERS = {"accept", "authorization", "content-type"}
REFERENCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")
REFERENCE = re.compile(r"@\{([^}]*)\}")
REFERENCE_PATH = re.compile(r"^([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)$")
REFERENCE_STEP = re.compile(r"\.([A-Za-z0-9_]+)|\[(\d+)\]")
# With allOrNone, every other subrequest of a failed composite answers this (REST API
# guide, "allOrNone Parameters in Composite and Collections Requests").
ROLLED_BACK_MESSAGE = (
    "The transaction was rolled back since another operation in the same transaction "
    "failed."
)
# Each other record of a failed allOrNone collection (REST API guide's collection
# examples, and SOAP's AllOrNoneHeader result).
RECORD_ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request "
    "was using AllOrNone header",
    "fields": [],
}

# Real resources the sandbox does not serve (yet): they answer FUNCTIONALITY_NOT_ENABLED
# naming the resource, so a learner can tell a gap from a typo (which gets NOT_FOUND).
# Each is listed on the book's page "What the sandbox does not emulate".
UNEMULATED_DATA_RESOURCES = {
    "search": "SOSL search (the search resource)",
    "parameterizedSearch": "SOSL search (the parameterizedSearch resource)",
    "tooling": "The Tooling API",
    "recent": "The recently viewed items resource (/recent)",
    "ui-api": "The User Interface API (/ui-api)",
    "actions": "Invocable actions (/actions)",
    "analytics": "The Reports and Dashboards API (/analytics)",
    "connect": "Connect REST API (/connect)",
    "chatter": "Connect REST API (/chatter)",
    "process": "Processes and approvals (/process)",
}
UNEMULATED_COMPOSITE_RESOURCES = {
    "tree": "sObject Tree (/composite/tree)",
    "graph": "Composite Graph (/composite/graph)",
}
UNEMULATED_SERVICES = {
    "Soap": "The SOAP API (/services/Soap)",
    "async": "Bulk API 1.0 (/services/async)",
    "oauth2": "The OAuth 2.0 endpoint {path}",
}


def api_versions() -> list[dict[str, str]]:
    """``GET /services/data/``: every version this org serves, oldest first."""
    newest = int(float(API_VERSION))
    versions = []
    for number in range(OLDEST_VERSION, newest + 1):
        k = number - OLDEST_VERSION
        season = SEASONS[k % 3]
        year = 14 + k // 3 + (0 if season == "Summer" else 1)
        versions.append(
            {
                "label": f"{season} '{year:02d}",
                "url": f"/services/data/v{number}.0",
                "version": f"{number}.0",
            }
        )
    return versions


SERVED_VERSIONS = {v["version"] for v in api_versions()}


class SalesforceJSONResponse(JSONResponse):
    """JSON as the platform sends it: compact, UTF-8, no escaping of non-ASCII.

    Strict: NaN and Infinity are not JSON, so a body holding one fails here (a sandbox
    bug, answered 500) rather than going out as text no client can parse.
    """

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode()


@dataclass
class QueryCursor:
    """A query's remaining pages, behind a query locator."""

    compiled: Any
    total: int
    batch_size: int


@dataclass
class ApiCall:
    """One request to the data API, from HTTP or from a composite subrequest."""

    method: str
    rest: list[str]  # the path after /services/data/vXX.X/
    version: str
    params: Mapping[str, str]
    headers: Mapping[str, str]  # looked up by lower-case name
    body: bytes = b""


@dataclass
class ApiResult:
    """What the data API answers: a status, a JSON body (None: no body), headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content: Any = None  # bytes chunks, for a body that is not JSON (bulk CSV)
    media_type: str | None = None

    @property
    def failed(self) -> bool:
        """An error status, or a collection result with a record that failed."""
        if self.status >= 400:
            return True
        return isinstance(self.body, list) and any(
            isinstance(item, dict) and item.get("success") is False
            for item in self.body
        )


class _RolledBack(Exception):
    """Raised inside a transaction to roll it back after an allOrNone failure."""


class OrgApp:
    """The ASGI application of one org."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self._cursors: OrderedDict[str, QueryCursor] = OrderedDict()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"].startswith("/cometd/"):
            # Asynchronous: a long-polling /meta/connect must not hold the loop.
            await self.org.cometd(scope, receive, send)
            return
        request = Request(scope, receive)
        upload = request.method == "PUT" and bool(UPLOAD_PATH.match(request.url.path))
        body = b"" if upload else await request.body()
        try:
            if upload:
                response = await self.upload(request)
            else:
                response = self.handle(request, body)
        except errors.SalesforceError as error:
            response = SalesforceJSONResponse(
                error.body(), status_code=error.status, headers=error.headers()
            )
        except errors.OAuthError as error:
            response = SalesforceJSONResponse(error.body(), status_code=error.status)
        except Exception as error:
            log.exception(
                "Unexpected error for %s %s", request.method, request.url.path
            )
            # The platform's UNKNOWN_EXCEPTION names nothing; this one names the
            # failure, so that a learner can tell a sandbox bug from their own.
            response = SalesforceJSONResponse(
                [
                    {
                        "message": "An unexpected error occurred in sfsandbox "
                        f"({type(error).__name__}: {error}). This is a bug in the "
                        "sandbox, not in your request.",
                        "errorCode": "UNKNOWN_EXCEPTION",
                    }
                ],
                status_code=500,
            )
        limit_info = getattr(request.state, "limit_info", None)
        if limit_info:
            response.headers["Sforce-Limit-Info"] = limit_info
        await response(scope, receive, send)

    # --- routing -------------------------------------------------------------------

    def handle(self, request: Request, body: bytes) -> Response:
        path = request.url.path.rstrip("/")
        parts = [p for p in path.split("/") if p]
        method = request.method

        if parts == ["services", "oauth2", "token"]:
            _allow(method, ["POST"])
            answer = self.org.auth.token(
                body, request.headers.get("authorization"), self.org.instance_url
            )
            return SalesforceJSONResponse(answer)
        if parts == ["services", "data"]:
            _allow(method, ["GET", "HEAD"])
            return SalesforceJSONResponse(api_versions())
        if parts[:1] == ["id"]:
            raise errors.NotEmulated("The identity URL (/id/<org>/<user>)")
        if parts[:2] == ["services", "apexrest"]:
            self.org.auth.session(request.headers.get("authorization"))
            return self.org.apex_rest.handle(request, body)
        if parts[:3] == ["services", "Soap", "u"] and len(parts) in (4, 5):
            return soap.answer(self.org, method, body, parts[3], SERVED_VERSIONS)
        if parts == ["sfsandbox", "wsdl", "partner.wsdl"]:
            _allow(method, ["GET", "HEAD"])
            return soap.wsdl_response(self.org)
        if parts[:3] == ["sfsandbox", "wsdl", "outbound"] and len(parts) == 4:
            _allow(method, ["GET", "HEAD"])
            name = parts[3].removesuffix(".wsdl")
            if parts[3] == name or name not in {
                r.name for r in self.org.outbound.rules
            }:
                raise errors.NotFound()
            return Response(self.org.outbound.wsdl(name), 200, media_type=soap.XML_TYPE)
        if parts[:1] == ["services"] and parts[1:2] and parts[1] in UNEMULATED_SERVICES:
            raise errors.NotEmulated(UNEMULATED_SERVICES[parts[1]].format(path=path))
        if parts[:2] != ["services", "data"]:
            raise errors.NotFound()

        match = VERSION_PATH.match(parts[2])
        if not match or match.group(1) not in SERVED_VERSIONS:
            raise errors.NotFound()
        version = match.group(1)
        self.org.auth.session(request.headers.get("authorization"))
        self._spend_api_request(request)
        call = ApiCall(
            method, parts[3:], version, request.query_params, request.headers, body
        )
        if method in WRITE_METHODS and call.rest[:1] in (["sobjects"], ["composite"]):
            # One Apex transaction per call that writes records: triggers run in it,
            # and the work they queue after commit runs once the call commits. (It
            # holds the store for the call: Bulk API job requests write no records
            # themselves, and the bulk worker saves in transactions of its own.)
            with self.org.apex.api_transaction():
                result = self.dispatch(call)
            return _to_response(result)
        return _to_response(self.dispatch(call))

    async def upload(self, request: Request) -> Response:
        """``PUT /jobs/ingest/<id>/batches``: the CSV goes to the job's file as it
        arrives, never whole in memory; 201 with no body."""
        match = UPLOAD_PATH.match(request.url.path)
        assert match is not None
        try:
            if match.group(1) not in SERVED_VERSIONS:
                raise errors.NotFound()
            if int(match.group(1).split(".")[0]) < bulkrest.INGEST_SINCE:
                raise errors.NotFound()
            self.org.auth.session(request.headers.get("authorization"))
            self._spend_api_request(request)
            media_type = request.headers.get("content-type", "").split(";")[0]
            if media_type.strip().lower() != bulkrest.CSV_TYPE:
                raise errors.UnsupportedMediaType(media_type.strip() or "null")
            target = self.org.bulk.open_upload(match.group(2))
        except errors.SalesforceError:
            async for _ in request.stream():  # read the body the client still sends
                pass
            raise
        with target:
            async for chunk in request.stream():
                target.write(chunk)
        return Response(status_code=201)

    def _spend_api_request(self, request: Request) -> None:
        """Count the request against the daily allocation; the header reports it."""
        limits = self.org.limits
        try:
            request.state.limit_info = limits.spend_api_request()
        except errors.RequestLimitExceeded:
            request.state.limit_info = limits.usage_header()
            raise

    def dispatch(self, call: ApiCall) -> ApiResult:
        """Answer one data API call (the path after ``/services/data/vXX.X/``)."""
        try:
            return self._route(call)
        except errors.SalesforceError as error:
            if hasattr(error, "version"):  # bodies that carry record URLs
                error.version = call.version
            raise

    def _route(self, call: ApiCall) -> ApiResult:
        rest = call.rest
        if not rest:
            _allow(call.method, ["GET", "HEAD"])
            return ApiResult(200, self.resources(call.version))
        if rest[0] == "sobjects":
            return self.sobjects(call)
        if rest[0] in {"query", "queryAll"}:
            _allow(call.method, ["GET", "HEAD"])
            return self.query(call)
        if rest[0] == "limits" and len(rest) == 1:
            _allow(call.method, ["GET", "HEAD"])
            return ApiResult(200, self.org.limits.resource())
        if rest[0] == "composite":
            return self.composite(call)
        if rest[0] == "jobs":
            return bulkrest.handle(self.org.bulk, call)
        if rest[0] in UNEMULATED_DATA_RESOURCES:
            raise errors.NotEmulated(UNEMULATED_DATA_RESOURCES[rest[0]])
        raise errors.NotFound()

    def resources(self, version: str) -> dict[str, str]:
        base = f"/services/data/v{version}"
        return {
            "composite": f"{base}/composite",
            "limits": f"{base}/limits",
            "query": f"{base}/query",
            "queryAll": f"{base}/queryAll",
            "sobjects": f"{base}/sobjects",
        }

    # --- sObjects ------------------------------------------------------------------

    def sobjects(self, call: ApiCall) -> ApiResult:
        rest = call.rest[1:]
        method, version = call.method, call.version
        store, schema = self.org.store, self.org.schema
        if not rest:
            _allow(method, ["GET", "HEAD"])
            return ApiResult(
                200,
                {
                    "encoding": "UTF-8",
                    "maxBatchSize": 200,
                    "sobjects": sorted(
                        [
                            *(o.describe_global(version) for o in schema),
                            *(
                                e.describe_global(version)
                                for e in self.org.events.types
                            ),
                        ],
                        key=lambda entry: entry["name"],
                    ),
                },
            )
        event_type = self.org.events.get(rest[0])
        if event_type is not None:
            return self.platform_event(call, event_type)
        sobject = schema.get(rest[0])
        if sobject is None:
            raise errors.NotFound()

        if len(rest) == 1:
            _allow(method, ["GET", "HEAD", "POST"])
            if method == "POST":
                values = _json_object(call, sobject.name)
                with store.transaction(), self.org.apex.triggers.saving():
                    record_id = store.insert(sobject, values)
                return ApiResult(
                    201,
                    {"id": record_id, "success": True, "errors": []},
                    {"Location": f"{sobject.url(version)}/{record_id}"},
                )
            return ApiResult(
                200,
                {"objectDescribe": sobject.describe_global(version), "recentItems": []},
            )

        if len(rest) == 2 and rest[1] == "describe":
            _allow(method, ["GET", "HEAD"])
            return ApiResult(200, sobject.describe(version))
        if len(rest) >= 3 and rest[1] == "describe":
            raise errors.NotEmulated(
                f"The describe/{rest[2]} resource (layouts and record types)"
            )
        if len(rest) >= 2 and rest[1] in {
            "updated",
            "deleted",
            "listviews",
            "quickActions",
        }:
            raise errors.NotEmulated(f"The sObject {rest[1]} resource")

        if len(rest) == 2:
            return self.record(call, sobject, rest[1])
        if len(rest) == 3:
            return self.by_external_id(call, sobject, rest[1], rest[2])
        raise errors.NotFound()

    def platform_event(self, call: ApiCall, event_type: PlatformEventType) -> ApiResult:
        """``/sobjects/<Event>__e/...``: publish, describe; events are never read back.

        A publish answers 201 with the current result shape: ``success`` means only
        that the event was queued, and the one "error" is ``OPERATION_ENQUEUED`` with
        the ``EventUuid`` as its message (Platform Events Developer Guide, "Publish
        Event Messages Using REST API").
        """
        rest, method, version = call.rest[1:], call.method, call.version
        if len(rest) == 1:
            _allow(method, ["GET", "HEAD", "POST"])
            if method == "POST":
                values = _json_object(call, event_type.name)
                message = self.org.events.publish(event_type.name, values)
                return ApiResult(
                    201,
                    {
                        "id": message.id,
                        "success": True,
                        "errors": [
                            {
                                "statusCode": "OPERATION_ENQUEUED",
                                "message": message.event_uuid,
                                "fields": [],
                            }
                        ],
                    },
                )
            return ApiResult(
                200,
                {
                    "objectDescribe": event_type.describe_global(version),
                    "recentItems": [],
                },
            )
        if len(rest) == 2 and rest[1] == "describe":
            _allow(method, ["GET", "HEAD"])
            return ApiResult(200, event_type.describe(version))
        if len(rest) == 2 and rest[1] == "eventSchema":
            _allow(method, ["GET", "HEAD"])
            return ApiResult(200, event_type.event_schema())
        # Event messages are not records: they cannot be retrieved, updated or
        # deleted (describe: retrieveable, updateable and deletable are false). The
        # platform's exact answer to such a request is UNVERIFIED; the sandbox says
        # the resource does not exist.
        raise errors.NotFound()

    def record(self, call: ApiCall, sobject: SObjectType, record_id: str) -> ApiResult:
        method = call.method
        store = self.org.store
        _allow(method, ["GET", "HEAD", "PATCH", "DELETE"])
        if len(record_id) not in (15, 18):
            # The platform reads any other segment as the name of an external ID field.
            raise errors.NotFound(
                "Provided external ID field does not exist or is not accessible: "
                f"{record_id}"
            )
        if method == "PATCH":
            values = _json_object(call, sobject.name)
            with store.transaction(), self.org.apex.triggers.saving():
                store.update(sobject, record_id, values)
            return ApiResult(204)
        if method == "DELETE":
            with store.transaction():
                store.delete(sobject, record_id)
            return ApiResult(204)

        row = store.find(sobject, record_id)
        if row is None:
            raise errors.NotFound()
        return ApiResult(200, self._record_json(call, sobject, row))

    def _record_json(
        self, call: ApiCall, sobject: SObjectType, row: dict[str, Any]
    ) -> dict[str, Any]:
        """A stored record as sObject Rows shows it, narrowed by ``?fields=``."""
        record = self.org.store.to_json(sobject, row)
        wanted = call.params.get("fields")
        if wanted:
            names = _field_names(sobject, wanted)
            record = {n: record[n] for n in ["Id", *names] if n in record}
        attributes = {
            "type": sobject.name,
            "url": f"{sobject.url(call.version)}/{row['Id']}",
        }
        return {"attributes": attributes, **record}

    def by_external_id(
        self, call: ApiCall, sobject: SObjectType, field_name: str, value: str
    ) -> ApiResult:
        """sObject Rows by External ID: get, upsert or delete by an external ID."""
        store = self.org.store
        f = sobject.field(field_name)
        if f is not None and f.type == "id":
            return self.record(call, sobject, value)
        if f is None or not _is_id_lookup(f):
            # Observed wording; the docs' example shows only "The requested resource
            # does not exist" for an incorrect external ID field.
            raise errors.NotFound(
                "Provided external ID field does not exist or is not accessible: "
                f"{field_name}"
            )
        _allow(call.method, ["GET", "HEAD", "PATCH", "DELETE"])

        if call.method == "PATCH":
            values = _json_object(call, sobject.name)
            update_only = call.params.get("updateOnly", "").lower() == "true"
            with store.transaction(), self.org.apex.triggers.saving():
                record_id, created = store.upsert(
                    sobject, f, value, values, update_only
                )
            # v46.0+: 201 with created:true or 200 with created:false; v45.0 and
            # earlier: 201 without "created", or 204 with no body (REST API guide,
            # "Insert or Update (Upsert) a Record Using an External ID").
            answer: dict[str, Any] = {"id": record_id, "success": True, "errors": []}
            modern = float(call.version) >= 46.0
            if modern:
                answer["created"] = created
            if created:
                location = {"Location": f"{sobject.url(call.version)}/{record_id}"}
                return ApiResult(201, answer, location)
            return ApiResult(200, answer) if modern else ApiResult(204)

        matches = store.find_by(sobject, f, value)
        if not matches:
            raise errors.NotFound()
        if len(matches) > 1:
            raise errors.MoreThanOneRecord(sobject.name, matches)
        if call.method == "DELETE":
            with store.transaction():
                store.delete(sobject, matches[0])
            return ApiResult(204)
        row = store.find(sobject, matches[0])
        assert row is not None
        return ApiResult(200, self._record_json(call, sobject, row))

    # --- SOQL ----------------------------------------------------------------------

    def query(self, call: ApiCall) -> ApiResult:
        store, rest = self.org.store, call.rest
        if len(rest) == 2:
            locator, _, offset_text = rest[1].rpartition("-")
            cursor = self._cursors.get(locator)
            if cursor is None or not offset_text.isdigit():
                raise errors.InvalidQueryLocator()
            return self._page(rest[0], call.version, locator, cursor, int(offset_text))
        if len(rest) > 2:
            raise errors.NotFound()

        text = call.params.get("q")
        if not text:
            raise errors.MalformedQuery("A query string has to be specified")
        parsed = soql.parse_soql(text)
        compiled = soql.compile_query(
            parsed,
            self.org.schema,
            self.org.clock.now(),
            include_deleted=rest[0] == "queryAll",
        )
        with store.lock:
            total = soql.count(store.conn, compiled)
        cursor = QueryCursor(compiled, total, _batch_size(call.headers))
        return self._page(rest[0], call.version, None, cursor, 0)

    def _page(
        self,
        resource: str,
        version: str,
        locator: str | None,
        cursor: QueryCursor,
        offset: int,
    ) -> ApiResult:
        store = self.org.store
        with store.lock:
            records = soql.run_page(
                store.conn, cursor.compiled, offset, cursor.batch_size, version
            )
        result: dict[str, Any] = {"totalSize": cursor.total, "done": True}
        following = offset + len(records)
        if records and following < cursor.total:
            if locator is None:
                locator = self.org.ids.new("01g")
                self._cursors[locator] = cursor
                while len(self._cursors) > OPEN_QUERY_LOCATORS:
                    self._cursors.popitem(last=False)
            result["done"] = False
            result["nextRecordsUrl"] = (
                f"/services/data/v{version}/{resource}/{locator}-{following}"
            )
        result["records"] = records
        return ApiResult(200, result)

    # --- Composite -----------------------------------------------------------------

    def composite(self, call: ApiCall) -> ApiResult:
        rest = call.rest
        if len(rest) == 1:
            _allow(call.method, ["GET", "HEAD", "POST"])
            if call.method == "POST":
                return self.composite_request(call)
            base = f"/services/data/v{call.version}/composite"
            return ApiResult(
                200,
                {
                    "tree": f"{base}/tree",
                    "batch": f"{base}/batch",
                    "sobjects": f"{base}/sobjects",
                    "graph": f"{base}/graph",
                },
            )
        if rest[1] == "sobjects":
            return self.collections(call)
        if rest[1] == "batch" and len(rest) == 2:
            _allow(call.method, ["POST"])
            return self.composite_batch(call)
        if rest[1] in UNEMULATED_COMPOSITE_RESOURCES:
            raise errors.NotEmulated(UNEMULATED_COMPOSITE_RESOURCES[rest[1]])
        raise errors.NotFound()

    def composite_request(self, call: ApiCall) -> ApiResult:
        """``POST /composite``: dependent subrequests in one transaction."""
        payload = _json_object(call, "CompositeRequest")
        all_or_none = _flag(payload.get("allOrNone", False), "allOrNone")
        _flag(payload.get("collateSubrequests", True), "collateSubrequests")
        subrequests = _subrequests(payload)
        # Subrequests run in the order given, which is also what collation keeps for
        # dependent subrequests; collateSubrequests changes nothing observable here.

        results: dict[str, Any] = {}
        answers: list[tuple[str, ApiResult]] = []
        failed_at: int | None = None
        store = self.org.store
        try:
            with store.transaction():
                for index, sub in enumerate(subrequests):
                    result = self._composite_subrequest(call, sub, results)
                    answers.append((sub["referenceId"], result))
                    if not result.failed:
                        results[sub["referenceId"]] = result.body
                    elif failed_at is None:
                        failed_at = index
                        if all_or_none:
                            raise _RolledBack
        except _RolledBack:
            halted = ApiResult(400, errors.ProcessingHalted(ROLLED_BACK_MESSAGE).body())
            answers = [
                (sub["referenceId"], answers[i][1] if i == failed_at else halted)
                for i, sub in enumerate(subrequests)
            ]

        return ApiResult(
            200,
            {
                "compositeResponse": [
                    {
                        "body": result.body,
                        "httpHeaders": result.headers,
                        "httpStatusCode": result.status,
                        "referenceId": reference_id,
                    }
                    for reference_id, result in answers
                ]
            },
        )

    def _composite_subrequest(
        self, call: ApiCall, sub: dict[str, Any], results: dict[str, Any]
    ) -> ApiResult:
        """Run one composite subrequest; its errors become its result."""
        try:
            url = _resolve(sub["url"], results, as_text=True)
            body = _resolve(sub.get("body"), results)
            return self._subrequest(call, sub["method"], url, body, sub)
        except errors.SalesforceError as error:
            return ApiResult(error.status, error.body())

    def _subrequest(
        self,
        call: ApiCall,
        method: str,
        url: str,
        body: Any,
        sub: dict[str, Any],
        composite: bool = True,
    ) -> ApiResult:
        """Dispatch a subrequest's URL (``/services/data/vXX.X/...``) in-process."""
        split = urlsplit(url)
        parts = [unquote(p) for p in split.path.split("/") if p]
        if parts[:2] != ["services", "data"] or len(parts) < 3:
            raise errors.NotFound()
        match = VERSION_PATH.match(parts[2])
        if not match or match.group(1) not in SERVED_VERSIONS:
            raise errors.NotFound()
        rest = parts[3:]
        if composite and not _composite_resource(rest):
            # Composite serves sObject resources, query, queryAll and collections only.
            raise errors.NotFound()
        if rest[:1] == ["composite"] and rest[1:2] != ["sobjects"]:
            raise errors.NotFound()
        given = sub.get("httpHeaders")
        given = given if isinstance(given, dict) else {}
        headers = {str(k).lower(): str(v) for k, v in given.items()}
        headers["content-type"] = "application/json"
        data = b"" if body is None else json.dumps(body).encode()
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        sub_call = ApiCall(method, rest, match.group(1), params, headers, data)
        result = self.dispatch(sub_call)
        return ApiResult(result.status, result.body, result.headers)

    def composite_batch(self, call: ApiCall) -> ApiResult:
        """``POST /composite/batch``: independent subrequests, no rollback."""
        payload = _json_object(call, "BatchRequest")
        halt_on_error = _flag(payload.get("haltOnError", False), "haltOnError")
        requests = payload.get("batchRequests")
        if not isinstance(requests, list) or not requests:
            raise errors.InvalidInput("batchRequests is required and can't be empty")
        if len(requests) > MAX_SUBREQUESTS:
            raise errors.LimitExceeded(
                f"A batch request can have at most {MAX_SUBREQUESTS} subrequests; "
                f"this one has {len(requests)}"
            )
        for sub in requests:
            _check_subrequest_shape(sub, batch=True)

        results: list[dict[str, Any]] = []
        halted = False
        for sub in requests:
            if halted:
                # Wording UNVERIFIED; the docs give the code and the 412 status only.
                results.append(
                    {
                        "statusCode": 412,
                        "result": [
                            {
                                "errorCode": "BATCH_PROCESSING_HALTED",
                                "message": "Batch processing halted per request",
                            }
                        ],
                    }
                )
                continue
            url = sub["url"]
            if not url.startswith("/"):
                url = f"/services/data/{url}"
            try:
                # Each subrequest of a batch counts against the API allocation.
                self.org.limits.spend_api_request()
                result = self._subrequest(
                    call, sub["method"], url, sub.get("richInput"), sub, False
                )
            except errors.SalesforceError as error:
                result = ApiResult(error.status, error.body())
            results.append({"statusCode": result.status, "result": result.body})
            halted = halt_on_error and result.status >= 400
        has_errors = any(r["statusCode"] >= 400 for r in results)
        return ApiResult(200, {"hasErrors": has_errors, "results": results})

    # --- sObject Collections -------------------------------------------------------

    def collections(self, call: ApiCall) -> ApiResult:
        """``/composite/sobjects``: create, update, upsert, delete or get many."""
        rest = call.rest
        if len(rest) == 2:
            _allow(call.method, ["POST", "PATCH", "DELETE"])
            if call.method == "DELETE":
                return self._collection_delete(call)
            records, all_or_none = _collection_body(call)
            save = self._create_one if call.method == "POST" else self._update_one
            return ApiResult(200, self._save_each(records, all_or_none, save))

        sobject = self.org.schema.get(rest[2])
        if sobject is None:
            raise errors.NotFound()
        if len(rest) == 3:
            _allow(call.method, ["GET", "HEAD", "POST"])
            return self._collection_retrieve(call, sobject)
        if len(rest) == 4:
            _allow(call.method, ["PATCH"])
            f = sobject.field(rest[3])
            if f is None or not _is_id_lookup(f) or f.type == "id":
                raise errors.NotFound(
                    "Provided external ID field does not exist or is not accessible: "
                    f"{rest[3]}"
                )
            records, all_or_none = _collection_body(call)

            def upsert_one(record: dict[str, Any]) -> dict[str, Any]:
                return self._upsert_one(sobject, f, record)

            return ApiResult(200, self._save_each(records, all_or_none, upsert_one))
        raise errors.NotFound()

    def _save_each(
        self,
        records: list[Any],
        all_or_none: bool,
        save: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """Save each record in its own savepoint; with allOrNone, all or nothing."""
        store = self.org.store
        results: list[dict[str, Any]] = []
        # A trigger's exception fails every record of its invocation (a collection
        # holds at most 200 records: one invocation per object and operation).
        trigger_error: errors.SalesforceError | None = None
        try:
            with store.transaction():
                try:
                    with self.org.apex.triggers.saving():
                        for record in records:
                            results.append(self._save_one(record, save))
                except errors.CannotInsertUpdateActivateEntity as error:
                    trigger_error = error
                    raise _RolledBack from None
                if all_or_none and any(not r["success"] for r in results):
                    raise _RolledBack
        except _RolledBack:
            lost = _save_error(trigger_error) if trigger_error else RECORD_ROLLED_BACK
            results = [
                r if not r["success"] else {"success": False, "errors": [lost]}
                for r in results
            ]
        return results

    def _save_one(
        self, record: Any, save: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        """One record of a collection, in its own savepoint: its result."""
        try:
            if not isinstance(record, dict):
                raise errors.JsonParserError("Each record must be a JSON object")
            with self.org.store.transaction():
                return save(record)
        except errors.SalesforceError as error:
            return {"success": False, "errors": [_save_error(error)]}

    def _record_type(self, record: dict[str, Any]) -> SObjectType:
        attributes = record.get("attributes")
        type_name = attributes.get("type") if isinstance(attributes, dict) else None
        if not isinstance(type_name, str) or not type_name:
            # UNVERIFIED wording: the docs require attributes.type on every record.
            raise errors.InvalidType("The record has no attributes.type", [])
        sobject = self.org.schema.get(type_name)
        if sobject is None:
            raise errors.InvalidType(
                f"sObject type '{type_name}' is not supported.", []
            )
        return sobject

    def _create_one(self, record: dict[str, Any]) -> dict[str, Any]:
        sobject = self._record_type(record)
        record_id = self.org.store.insert(sobject, record)
        return {"id": record_id, "success": True, "errors": []}

    def _update_one(self, record: dict[str, Any]) -> dict[str, Any]:
        sobject = self._record_type(record)
        values = dict(record)
        keys = [k for k in values if k.lower() == "id"]
        record_id = values.pop(keys[0]) if keys else None
        if not isinstance(record_id, str) or not record_id:
            # SOAP's update() answers the same code and words for a missing Id.
            raise errors.MissingArgument("Id not specified in an update call", [])
        self.org.store.update(sobject, record_id, values)
        return {"id": to_18(record_id), "success": True, "errors": []}

    def _upsert_one(
        self, sobject: SObjectType, f: Field, record: dict[str, Any]
    ) -> dict[str, Any]:
        self._record_type(record)
        value = next(
            (v for k, v in record.items() if k.lower() == f.name.lower()), None
        )
        if value in (None, ""):
            raise errors.MissingArgument(
                f"{f.name} not specified in an upsert call", [f.name]
            )
        record_id, created = self.org.store.upsert(sobject, f, str(value), record)
        return {"id": record_id, "success": True, "errors": [], "created": created}

    def _collection_delete(self, call: ApiCall) -> ApiResult:
        ids = [i for i in call.params.get("ids", "").split(",") if i.strip()]
        if not ids:
            raise errors.MissingArgument("ids is required", [])
        if len(ids) > MAX_COLLECTION_RECORDS:
            raise _too_many_records(MAX_COLLECTION_RECORDS)
        all_or_none = call.params.get("allOrNone", "false").lower() == "true"
        schema, store = self.org.schema, self.org.store

        def delete_one(record: dict[str, Any]) -> dict[str, Any]:
            record_id = record["Id"].strip()
            sobject = schema.by_prefix(record_id[:3])
            if sobject is None or len(record_id) not in (15, 18):
                raise errors.MalformedId(f"malformed id {record_id}", [])
            store.delete(sobject, record_id)
            return {"id": to_18(record_id), "success": True, "errors": []}

        records = [{"Id": record_id} for record_id in ids]
        return ApiResult(200, self._save_each(records, all_or_none, delete_one))

    def _collection_retrieve(self, call: ApiCall, sobject: SObjectType) -> ApiResult:
        """``GET ?ids=&fields=`` (or ``POST {ids, fields}``): records or nulls."""
        if call.method == "POST":
            payload = _json_object(call, "SObjectCollectionRetrieve")
            ids, fields = payload.get("ids"), payload.get("fields")
            if not isinstance(ids, list) or not isinstance(fields, list):
                raise errors.MissingArgument("ids and fields are required", [])
            ids, fields = [str(i) for i in ids], ",".join(map(str, fields))
            most = MAX_COLLECTION_RETRIEVE_IDS
        else:
            ids = [i for i in call.params.get("ids", "").split(",") if i.strip()]
            fields = call.params.get("fields", "")
            most = MAX_COLLECTION_RETRIEVE_IDS
        if not ids or not fields.strip():
            raise errors.MissingArgument("ids and fields are required", [])
        if len(ids) > most:
            raise _too_many_records(most)
        names = _field_names(sobject, fields)
        store = self.org.store
        answer: list[dict[str, Any] | None] = []
        for record_id in ids:
            row = store.find(sobject, record_id.strip())
            if row is None:
                answer.append(None)
                continue
            record = store.to_json(sobject, row)
            answer.append(
                {
                    "attributes": {
                        "type": sobject.name,
                        "url": f"{sobject.url(call.version)}/{row['Id']}",
                    },
                    **{name: record[name] for name in names},
                }
            )
        return ApiResult(200, answer)


# --- composite helpers -----------------------------------------------------------


def _subrequests(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The composite request's subrequests, checked before any of them runs."""
    subrequests = payload.get("compositeRequest")
    if not isinstance(subrequests, list) or not subrequests:
        raise errors.InvalidInput("compositeRequest is required and can't be empty")
    # The limits are documented; the error's code and wording are not (UNVERIFIED).
    if len(subrequests) > MAX_SUBREQUESTS:
        raise errors.LimitExceeded(
            f"A composite request can have at most {MAX_SUBREQUESTS} subrequests; "
            f"this one has {len(subrequests)}"
        )
    seen: set[str] = set()
    heavy = 0
    for sub in subrequests:
        _check_subrequest_shape(sub, batch=False)
        reference_id = sub["referenceId"]
        if reference_id in seen:
            raise errors.InvalidInput(f"Duplicate referenceId: {reference_id}")
        seen.add(reference_id)
        path = [p for p in urlsplit(sub["url"]).path.split("/") if p][3:]
        if path[:1] in (["query"], ["queryAll"]) or path[:2] == [
            "composite",
            "sobjects",
        ]:
            heavy += 1
    if heavy > MAX_QUERY_OR_COLLECTION_SUBREQUESTS:
        raise errors.LimitExceeded(
            "A composite request can have at most "
            f"{MAX_QUERY_OR_COLLECTION_SUBREQUESTS} query or sObject Collections "
            f"subrequests; this one has {heavy}"
        )
    return subrequests


def _check_subrequest_shape(sub: Any, batch: bool) -> None:
    """Check a subrequest's method, url, referenceId and headers: a bad one fails
    the whole request before any subrequest runs."""
    if not isinstance(sub, dict):
        raise errors.JsonParserError("Each subrequest must be a JSON object")
    if sub.get("method") not in SUBREQUEST_METHODS:
        raise errors.InvalidInput(
            f"Invalid method: {sub.get('method')}. Use one of GET, POST, PUT, PATCH, "
            "DELETE (case-sensitive)"
        )
    url = sub.get("url")
    if not isinstance(url, str) or not url:
        raise errors.InvalidInput("Each subrequest needs a url")
    if not batch:
        if not url.startswith("/services/data/"):
            raise errors.InvalidInput(
                f"The url must start with /services/data/vXX.X/: {url}"
            )
        reference_id = sub.get("referenceId")
        # From v52.0, an illegal character in a referenceId fails the whole request.
        if not isinstance(reference_id, str) or not REFERENCE_ID.match(reference_id):
            raise errors.InvalidInput(
                f"Provided referenceId ('{reference_id}') must start with a letter or "
                "a number, and it can contain only letters, numbers and underscores "
                "('_')."
            )
        headers = sub.get("httpHeaders", {})
        if not isinstance(headers, dict):
            raise errors.JsonParserError("httpHeaders must be a JSON object")
        inherited = sorted(k for k in headers if str(k).lower() in INHERITED_HEADERS)
        if inherited:
            raise errors.InvalidInput(
                f"A subrequest can't set the {', '.join(inherited)} header; it is "
                "inherited from the composite request"
            )


def _composite_resource(rest: list[str]) -> bool:
    return rest[:1] in (["sobjects"], ["query"], ["queryAll"]) or rest[:2] == [
        "composite",
        "sobjects",
    ]


def _resolve(value: Any, results: dict[str, Any], as_text: bool = False) -> Any:
    """Replace ``@{ref.field}`` and ``@{ref.records[0].Id}`` with earlier results."""
    if isinstance(value, dict):
        return {k: _resolve(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, results) for v in value]
    if not isinstance(value, str) or "@{" not in value:
        return value
    whole = REFERENCE.fullmatch(value)
    if whole and not as_text:
        return _reference(whole.group(1), results)
    return REFERENCE.sub(lambda m: _as_text(_reference(m.group(1), results)), value)


def _reference(expression: str, results: dict[str, Any]) -> Any:
    """The value an ``@{...}`` expression names, or the platform's error."""
    match = REFERENCE_PATH.match(expression)
    reference_id = match.group(1) if match else expression.split(".")[0]
    if match and reference_id in results:
        node = results[reference_id]
        for name, index in REFERENCE_STEP.findall(match.group(2)):
            if name and isinstance(node, dict) and name in node:
                node = node[name]
            elif index and isinstance(node, list) and int(index) < len(node):
                node = node[int(index)]
            else:
                break
        else:
            return node
    # Wording from the REST API guide's composite examples and public client fixtures
    # (e.g. CumulusCI's tests): "No value for X found in Y" is what a learner sees.
    raise errors.ProcessingHalted(
        f"Invalid reference specified. No value for {expression} found in "
        f"{reference_id}. Provided referenceId ('{expression}') must start with a "
        "letter or a number, and it can contain only letters, numbers and "
        "underscores ('_')."
    )


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _collection_body(call: ApiCall) -> tuple[list[Any], bool]:
    payload = _json_object(call, "SObjectCollection")
    all_or_none = _flag(payload.get("allOrNone", False), "allOrNone")
    records = payload.get("records")
    if not isinstance(records, list):
        raise errors.JsonParserError("records must be a JSON array of sObjects")
    if len(records) > MAX_COLLECTION_RECORDS:
        raise _too_many_records(MAX_COLLECTION_RECORDS)
    return records, all_or_none


def _too_many_records(most: int) -> errors.ExceededIdLimit:
    # Observed wording (jsforce users quote it for more than 200 records).
    return errors.ExceededIdLimit(
        f"record limit reached. cannot submit more than {most} records into this call",
        [],
    )


def _save_error(error: errors.SalesforceError) -> dict[str, Any]:
    """A SaveResult error: ``statusCode`` (not ``errorCode``), message, fields."""
    return {
        "statusCode": error.error_code,
        "message": error.message,
        "fields": list(error.fields or []),
    }


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise errors.JsonParserError(
            f"Cannot deserialize instance of boolean from {json.dumps(value)} value "
            f"for {name}"
        )
    return value


# --- request helpers -------------------------------------------------------------


def _to_response(result: ApiResult) -> Response:
    if result.content is not None:
        return StreamingResponse(
            result.content,
            status_code=result.status,
            headers=result.headers,
            media_type=result.media_type,
        )
    if result.body is None and result.status == 204:
        return Response(status_code=204, headers=result.headers)
    return SalesforceJSONResponse(
        result.body, status_code=result.status, headers=result.headers
    )


def _allow(method: str, allowed: list[str]) -> None:
    if method not in allowed:
        raise errors.MethodNotAllowed(method, [m for m in allowed if m != "HEAD"])


def _is_id_lookup(f: Field) -> bool:
    """Can the field address a record in a URL? External ID fields can, and so can
    idLookup fields of standard objects such as Email (the docs' own example is
    ``/sobjects/Lead/Email/<address>``)."""
    return f.external_id or f.name == "Email"


def _field_names(sobject: SObjectType, wanted: str) -> list[str]:
    """Canonical names of a ``fields=`` list, or INVALID_FIELD for an unknown one."""
    names = []
    for name in (n.strip() for n in wanted.split(",") if n.strip()):
        f = sobject.field(name)
        if f is None:
            raise errors.InvalidField(
                f"No such column '{name}' on entity '{sobject.name}'. If you "
                "are attempting to use a custom field, be sure to append the "
                "'__c' after the custom field name. Please reference your WSDL "
                "or the describe call for the appropriate names."
            )
        names.append(f.name)
    return names


def _batch_size(headers: Mapping[str, str]) -> int:
    """The batch size from ``Sforce-Query-Options: batchSize=N`` (200 to 2,000)."""
    options = headers.get("sforce-query-options", "")
    for option in options.split(","):
        name, _, value = option.strip().partition("=")
        if name.strip() == "batchSize" and value.strip().isdigit():
            return max(MIN_BATCH, min(DEFAULT_BATCH, int(value)))
    return DEFAULT_BATCH


def _json_object(call: ApiCall, type_name: str) -> dict[str, Any]:
    """The request body as a JSON object, or the platform's error for it."""
    media_type = call.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type in {"application/xml", "text/xml"}:
        raise errors.NotEmulated("XML request bodies (Content-Type: application/xml)")
    if media_type != "application/json":
        raise errors.UnsupportedMediaType(media_type or "null")
    body = call.body
    if not body.strip():
        raise errors.JsonParserError(
            "The HTTP entity body is required, but this request has no entity body."
        )
    value = read_json(body)
    if not isinstance(value, dict):
        token = "START_ARRAY" if isinstance(value, list) else "VALUE_STRING"
        raise errors.JsonParserError(
            f"Cannot deserialize instance of {type_name} from {token} value "
            f"{body.decode().strip()[:1]} or request may be missing a required field "
            "at [line:1, column:1]"
        )
    return value


# The platform reads JSON with Jackson, whose StreamReadConstraints (2.15 and later)
# stop a number longer than 1,000 characters and nesting deeper than 1,000 levels;
# the wordings below are Jackson's. The sandbox stops nesting at 500: Python's own
# recursion limit (1,000 frames) leaves no room for 1,000 levels plus the server.
MAX_JSON_NUMBER_LENGTH = 1000
MAX_JSON_DEPTH = 500
_JSON_STRING = r'"(?:[^"\\]|\\.)*"'
_JSON_NESTING = re.compile(_JSON_STRING + r"|[\[{\]}]")
_JSON_CONSTANT = re.compile(_JSON_STRING + r"|-?Infinity|NaN")
# json.loads joins escaped surrogate pairs; a surrogate left in a string is unpaired.
_SURROGATE = re.compile("[\ud800-\udfff]")


class _NonStandardToken(Exception):
    """NaN, Infinity or -Infinity: Python's json reads them, JSON has no such thing."""


def read_json(data: str | bytes) -> Any:
    """A request body's JSON, read as strictly as the platform's parser reads it.

    JSON_PARSER_ERROR for bytes that are not UTF-8, bad syntax, NaN and Infinity,
    numbers longer than 1,000
    characters, nesting deeper than ``MAX_JSON_DEPTH`` and unpaired surrogates;
    NUMBER_OUTSIDE_VALID_RANGE for a number beyond a double's range (``1e400``). So
    every value that comes out can be stored and written back as valid JSON.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise errors.JsonParserError(
                "Invalid UTF-8 start byte in the request body"
            ) from None
    text = data
    _check_nesting(text)
    try:
        value = json.loads(
            text,
            parse_constant=_non_standard_token,
            parse_float=_json_float,
            parse_int=_json_int,
        )
    except json.JSONDecodeError as error:
        raise errors.JsonParserError(_jackson_message(error)) from None
    except _NonStandardToken as token:
        # Jackson's wording when ALLOW_NON_NUMERIC_NUMBERS is off (its default).
        tokens = _JSON_CONSTANT.finditer(text)
        where = next(m for m in tokens if not m.group().startswith('"'))
        raise errors.JsonParserError(
            f"Non-standard token '{token}': enable "
            "JsonParser.Feature.ALLOW_NON_NUMERIC_NUMBERS to allow "
            f"{_where(text, where.start())}"
        ) from None
    if "\\u" in text:
        _check_strings(value)
    return value


def _check_nesting(text: str) -> None:
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return
    depth = 0
    for match in _JSON_NESTING.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise errors.JsonParserError(
                    f"Document nesting depth ({depth}) exceeds the maximum allowed "
                    f"({MAX_JSON_DEPTH}, from `StreamReadConstraints."
                    f"getMaxNestingDepth()`) {_where(text, match.start())}"
                )
        elif token in ("]", "}"):
            depth -= 1


def _non_standard_token(name: str) -> Any:
    raise _NonStandardToken(name)


def _check_number_length(text: str) -> None:
    if len(text) > MAX_JSON_NUMBER_LENGTH:
        raise errors.JsonParserError(
            f"Number value length ({len(text)}) exceeds the maximum allowed "
            f"({MAX_JSON_NUMBER_LENGTH}, from `StreamReadConstraints."
            "getMaxNumberLength()`)"
        )


def _json_int(text: str) -> int:
    _check_number_length(text)
    return int(text)


def _json_float(text: str) -> float:
    _check_number_length(text)
    value = float(text)
    if not math.isfinite(value):
        # Past a double's range; the parser knows no field, so none is named. The
        # save's own wording, from captured messages (see store.check_value).
        raise errors.NumberOutsideValidRange(
            f"value outside of valid range on numeric field: {text}"
        )
    return value


def _check_strings(value: Any) -> None:
    """Refuse an unpaired UTF-16 surrogate (``"\\ud800"``) in any key or string.

    Jackson reads one without complaint and what the platform then stores is not
    documented (UNVERIFIED); the sandbox refuses it, since it is no character at all
    and cannot be encoded as UTF-8 for the store or for a response.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str) and (found := _SURROGATE.search(item)):
            raise errors.JsonParserError(
                "Invalid UTF-16 in a JSON string: unpaired surrogate "
                f"\\u{ord(found.group()):04x}"
            )


def _where(text: str, pos: int) -> str:
    """Jackson's location as the platform prints it, 1-based."""
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"at [line:{line}, column:{column}]"


def _jackson_message(error: json.JSONDecodeError) -> str:
    """A JSON syntax error worded as the platform's parser words it."""
    where = f"at [line:{error.lineno}, column:{error.colno}]"
    if error.pos >= len(error.doc):
        return f"Unexpected end-of-input: expected close marker {where}"
    char = error.doc[error.pos]
    return (
        f"Unexpected character ('{char}' (code {ord(char)})): {error.msg.lower()} "
        f"{where}"
    )


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
