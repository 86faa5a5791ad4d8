"""The org's HTTP layer: maps REST API requests onto the store, SOQL and auth.

Paths, methods, status codes and bodies follow the REST API. Every error is raised as a
``SalesforceError`` (or ``OAuthError``) and rendered in ``OrgApp.__call__`` alone.
"""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sfsandbox.org import errors, soql
from sfsandbox.org.schema import SObjectType

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

# Real resources the sandbox does not serve (yet): they answer FUNCTIONALITY_NOT_ENABLED
# naming the resource, so a learner can tell a gap from a typo (which gets NOT_FOUND).
# Each is listed on the book's page "What the sandbox does not emulate".
UNEMULATED_DATA_RESOURCES = {
    "search": "SOSL search (the search resource)",
    "parameterizedSearch": "SOSL search (the parameterizedSearch resource)",
    "tooling": "The Tooling API",
    "composite": "Composite resources (/composite)",
    "limits": "The limits resource (/limits)",
    "jobs": "Bulk API 2.0 (/jobs)",
    "recent": "The recently viewed items resource (/recent)",
    "ui-api": "The User Interface API (/ui-api)",
    "actions": "Invocable actions (/actions)",
    "analytics": "The Reports and Dashboards API (/analytics)",
    "connect": "Connect REST API (/connect)",
    "chatter": "Connect REST API (/chatter)",
    "process": "Processes and approvals (/process)",
}
UNEMULATED_SERVICES = {
    "Soap": "The SOAP API (/services/Soap)",
    "apexrest": "Apex REST services (/services/apexrest)",
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
    """JSON as the platform sends it: compact, UTF-8, no escaping of non-ASCII."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class QueryCursor:
    """A query's remaining pages, behind a query locator."""

    compiled: Any
    total: int
    batch_size: int


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
        request = Request(scope, receive)
        body = await request.body()
        try:
            response = self.handle(request, body)
        except errors.SalesforceError as error:
            response = SalesforceJSONResponse(
                error.body(), status_code=error.status, headers=error.headers()
            )
        except errors.OAuthError as error:
            response = SalesforceJSONResponse(error.body(), status_code=error.status)
        except Exception:
            log.exception(
                "Unexpected error for %s %s", request.method, request.url.path
            )
            response = SalesforceJSONResponse(
                [
                    {
                        "message": "An unexpected error occurred in sfsandbox. "
                        "This is a bug in the sandbox, not in your request.",
                        "errorCode": "UNKNOWN_EXCEPTION",
                    }
                ],
                status_code=500,
            )
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
        if parts[:1] == ["services"] and parts[1:2] and parts[1] in UNEMULATED_SERVICES:
            raise errors.NotEmulated(UNEMULATED_SERVICES[parts[1]].format(path=path))
        if parts[:2] != ["services", "data"]:
            raise errors.NotFound()

        match = VERSION_PATH.match(parts[2])
        if not match or match.group(1) not in SERVED_VERSIONS:
            raise errors.NotFound()
        version = match.group(1)
        self.org.auth.session(request.headers.get("authorization"))
        rest = parts[3:]

        if not rest:
            _allow(method, ["GET", "HEAD"])
            return SalesforceJSONResponse(self.resources(version))
        if rest[0] == "sobjects":
            return self.sobjects(request, body, version, rest[1:])
        if rest[0] in {"query", "queryAll"}:
            _allow(method, ["GET", "HEAD"])
            return self.query(request, version, rest)
        if rest[0] in UNEMULATED_DATA_RESOURCES:
            raise errors.NotEmulated(UNEMULATED_DATA_RESOURCES[rest[0]])
        raise errors.NotFound()

    def resources(self, version: str) -> dict[str, str]:
        base = f"/services/data/v{version}"
        return {
            "sobjects": f"{base}/sobjects",
            "query": f"{base}/query",
            "queryAll": f"{base}/queryAll",
        }

    # --- sObjects ------------------------------------------------------------------

    def sobjects(
        self, request: Request, body: bytes, version: str, rest: list[str]
    ) -> Response:
        method = request.method
        store, schema = self.org.store, self.org.schema
        if not rest:
            _allow(method, ["GET", "HEAD"])
            return SalesforceJSONResponse(
                {
                    "encoding": "UTF-8",
                    "maxBatchSize": 200,
                    "sobjects": [o.describe_global(version) for o in schema],
                }
            )
        sobject = schema.get(rest[0])
        if sobject is None:
            raise errors.NotFound()

        if len(rest) == 1:
            _allow(method, ["GET", "HEAD", "POST"])
            if method == "POST":
                values = _json_object(request, body, sobject)
                with store.transaction():
                    record_id = store.insert(sobject, values)
                return SalesforceJSONResponse(
                    {"id": record_id, "success": True, "errors": []}, status_code=201
                )
            return SalesforceJSONResponse(
                {"objectDescribe": sobject.describe_global(version), "recentItems": []}
            )

        if len(rest) == 2 and rest[1] == "describe":
            _allow(method, ["GET", "HEAD"])
            return SalesforceJSONResponse(sobject.describe(version))
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
            return self.record(request, body, version, sobject, rest[1])

        if len(rest) == 3:
            raise errors.NotEmulated(
                f"Access by external ID (/sobjects/{sobject.name}/{rest[1]}/...)"
            )
        raise errors.NotFound()

    def record(
        self,
        request: Request,
        body: bytes,
        version: str,
        sobject: SObjectType,
        record_id: str,
    ) -> Response:
        method = request.method
        store = self.org.store
        _allow(method, ["GET", "HEAD", "PATCH", "DELETE"])
        if len(record_id) not in (15, 18):
            # The platform reads any other segment as the name of an external ID field.
            raise errors.NotFound(
                "Provided external ID field does not exist or is not accessible: "
                f"{record_id}"
            )
        if method == "PATCH":
            values = _json_object(request, body, sobject)
            with store.transaction():
                store.update(sobject, record_id, values)
            return Response(status_code=204)
        if method == "DELETE":
            with store.transaction():
                store.delete(sobject, record_id)
            return Response(status_code=204)

        row = store.find(sobject, record_id)
        if row is None:
            raise errors.NotFound()
        record = store.to_json(sobject, row)
        wanted = request.query_params.get("fields")
        if wanted:
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
            record = {n: record[n] for n in ["Id", *names] if n in record}
        attributes = {
            "type": sobject.name,
            "url": f"{sobject.url(version)}/{row['Id']}",
        }
        return SalesforceJSONResponse({"attributes": attributes, **record})

    # --- SOQL ----------------------------------------------------------------------

    def query(self, request: Request, version: str, rest: list[str]) -> Response:
        store = self.org.store
        if len(rest) == 2:
            locator, _, offset_text = rest[1].rpartition("-")
            cursor = self._cursors.get(locator)
            if cursor is None or not offset_text.isdigit():
                raise errors.InvalidQueryLocator()
            return self._page(rest[0], version, locator, cursor, int(offset_text))
        if len(rest) > 2:
            raise errors.NotFound()

        text = request.query_params.get("q")
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
        cursor = QueryCursor(compiled, total, _batch_size(request))
        return self._page(rest[0], version, None, cursor, 0)

    def _page(
        self,
        resource: str,
        version: str,
        locator: str | None,
        cursor: QueryCursor,
        offset: int,
    ) -> Response:
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
        return SalesforceJSONResponse(result)


# --- request helpers -------------------------------------------------------------


def _allow(method: str, allowed: list[str]) -> None:
    if method not in allowed:
        raise errors.MethodNotAllowed(method, [m for m in allowed if m != "HEAD"])


def _batch_size(request: Request) -> int:
    """The batch size from ``Sforce-Query-Options: batchSize=N`` (200 to 2,000)."""
    options = request.headers.get("sforce-query-options", "")
    for option in options.split(","):
        name, _, value = option.strip().partition("=")
        if name.strip() == "batchSize" and value.strip().isdigit():
            return max(MIN_BATCH, min(DEFAULT_BATCH, int(value)))
    return DEFAULT_BATCH


def _json_object(request: Request, body: bytes, sobject: SObjectType) -> dict[str, Any]:
    """The request body as a JSON object, or the platform's error for it."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type in {"application/xml", "text/xml"}:
        raise errors.NotEmulated("XML request bodies (Content-Type: application/xml)")
    if media_type != "application/json":
        raise errors.UnsupportedMediaType(media_type or "null")
    if not body.strip():
        raise errors.JsonParserError(
            "The HTTP entity body is required, but this request has no entity body."
        )
    try:
        text = body.decode("utf-8")
        value = json.loads(text)
    except UnicodeDecodeError:
        raise errors.JsonParserError(
            "Invalid UTF-8 start byte in the request body"
        ) from None
    except json.JSONDecodeError as error:
        raise errors.JsonParserError(_jackson_message(error)) from None
    if not isinstance(value, dict):
        token = "START_ARRAY" if isinstance(value, list) else "VALUE_STRING"
        raise errors.JsonParserError(
            f"Cannot deserialize instance of {sobject.name} from {token} value "
            f"{text.strip()[:1]} or request may be missing a required field "
            "at [line:1, column:1]"
        )
    return value


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
