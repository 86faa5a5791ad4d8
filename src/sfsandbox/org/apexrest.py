"""Apex REST: Python classes served as ``@RestResource`` Apex classes.

On the platform a developer exposes a custom endpoint by writing an Apex class; in the
sandbox a lab registers a Python class that plays the same part. The two read side by
side, line for line::

    @RestResource(urlMapping='/LeadIntake/*')     @org.rest_resource("/LeadIntake/*")
    global with sharing class LeadIntake {        class LeadIntake:
        @HttpPost                                     @staticmethod
        global static String doPost(                  def http_post(context,
                String lastName, String company) {            lastName, company):
            RestRequest req = RestContext.request;        req = context.request
            Lead lead = new Lead(                         lead_id = context.insert(
                LastName = lastName,                          "Lead",
                Company = company);                           {"LastName": lastName,
            insert lead;                                       "Company": company})
            return lead.Id;                               return lead_id
        }
    }

The correspondences:

- ``@RestResource(urlMapping=...)``: ``org.rest_resource(url_mapping)``, checked when
  it is registered (the platform checks it when the class compiles). Served at
  ``/services/apexrest<urlMapping>``; the sandbox org has no namespace.
- ``@HttpGet``, ``@HttpPost``, ``@HttpPut``, ``@HttpPatch``, ``@HttpDelete``: the
  methods ``http_get``, ``http_post``, ``http_put``, ``http_patch``, ``http_delete``
  (``HEAD`` is answered by ``http_get``). A method without one answers 405.
- ``RestContext.request`` and ``RestContext.response``: the handler's first argument,
  a ``RestContext``, with ``request`` (``httpMethod``, ``requestURI``,
  ``resourcePath``, ``params``, ``headers``, ``requestBody``, ``remoteAddress``) and
  ``response`` (``statusCode``, ``headers``, ``responseBody``, ``addHeader``).
- Apex method parameters (``doPost(String lastName, String company)``): the handler's
  parameters after ``context``. The body, a JSON object, is deserialized into them by
  name, as the platform does; a key that names no parameter, or a body that is not
  JSON, answers 400 ``JSON_PARSER_ERROR`` before the handler runs. A handler without
  such parameters reads ``context.request.requestBody`` (bytes) itself.
- A return value: serialized as JSON (dicts as objects without their ``None`` values,
  lists, strings, numbers, booleans, dates, dataclasses as objects, bytes as base64).
  Returning ``None`` is Apex's ``void``: the body is ``response.responseBody``.
- DML and SOQL: ``context.insert``, ``context.update``, ``context.delete``,
  ``context.query`` and ``context.count_query`` (``Database.countQuery``), in the one
  transaction of the request: an uncaught exception rolls every change back. A failed
  DML statement raises ``DmlException`` with ``getDmlType(i)``, ``getDmlMessage(i)``,
  ``getDmlFieldNames(i)`` and ``getNumDml()``; a bad query raises ``QueryException``.
  The context *is* the request's ``sfsandbox.apex.ApexTransaction``, the transaction
  model every piece of sandbox Apex shares, so a handler may also call out
  (``Http().send(req)``) before its first DML statement, and ``Limits`` and
  ``Database`` act on the request's transaction.
- An uncaught exception: HTTP 500 with ``errorCode`` ``APEX_ERROR`` and the message
  ``"<Type>: <message>\\n\\nClass.<Class>.<method>: line N, column C"``. The sandbox's
  Apex exceptions are named as in Apex (``System.DmlException``); a Python built-in
  exception is named ``Python.<name>`` (``Python.KeyError``), since Apex has no such
  type; an exception class of the lab's own is named by its qualified name, as Apex
  names user-defined exceptions. Lines and columns are those of the Python source.
- Governor limits of one transaction: 100 SOQL queries, 50,000 query rows, 150 DML
  statements, 10,000 DML rows and the callout limits; past one,
  ``System.LimitException``, which a handler cannot catch (the sandbox reports it even
  if the handler swallowed it).

Not emulated: XML request and response bodies answer ``NotEmulated``. There are no
namespaced URLs (the org has none), no ``Database.Savepoint``/``Database.rollback`` and
no partial-success DML (``Database.insert(records, false)``), and no sharing: ``with
sharing`` makes no difference, every record is visible, as for the REST API. A handler
runs on the org server's own thread: a callout from it to the org's own API would wait
for itself until the callout times out.
"""

from __future__ import annotations

import base64
import dataclasses
import inspect
import json
import math
import re
import sysconfig
import threading
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from sfsandbox.apex.exceptions import ApexException as ApexException
from sfsandbox.apex.exceptions import DmlException as DmlException
from sfsandbox.apex.exceptions import DmlFailure as DmlFailure
from sfsandbox.apex.exceptions import JSONException
from sfsandbox.apex.exceptions import LimitException as LimitException
from sfsandbox.apex.exceptions import QueryException as QueryException
from sfsandbox.apex.exceptions import SObjectException as SObjectException
from sfsandbox.apex.exceptions import StringException as StringException
from sfsandbox.apex.exceptions import TypeException as TypeException
from sfsandbox.apex.transaction import ApexTransaction, running
from sfsandbox.org import errors
from sfsandbox.org.rest import read_json
from sfsandbox.runtime.clock import format_datetime

if TYPE_CHECKING:
    from sfsandbox.org.org import Org

APEX_REST_PREFIX = "/services/apexrest"
MAX_URL_MAPPING = 255  # RestResource annotation, "URL Guidelines"
HANDLERS = {
    "GET": "http_get",
    "POST": "http_post",
    "PUT": "http_put",
    "PATCH": "http_patch",
    "DELETE": "http_delete",
}
ANNOTATIONS = {
    "http_get": "@HttpGet",
    "http_post": "@HttpPost",
    "http_put": "@HttpPut",
    "http_patch": "@HttpPatch",
    "http_delete": "@HttpDelete",
}
# RestResponse class, "Status Codes": any other value answers 500.
VALID_STATUS_CODES = frozenset(
    {200, 201, 202, 204, 206, 300, 301, 302, 304, 400, 401, 403, 404, 405, 406}
    | {409, 410, 412, 413, 414, 415, 417, 500, 503}
)
JSON_CONTENT_TYPE = "application/json;charset=UTF-8"

# Frames in these folders are "(System Code)" in an APEX_ERROR stack trace.
SYSTEM_CODE = tuple(
    {Path(__file__).resolve().parent.parent}
    | {Path(sysconfig.get_path(name)).resolve() for name in ("stdlib", "purelib")}
    | {Path(sysconfig.get_path(name)).resolve() for name in ("platstdlib", "platlib")}
)


class UrlMappingError(ValueError):
    """An invalid ``urlMapping`` or handler: on the platform the class would not
    compile."""


# --- RestContext ---------------------------------------------------------------------


@dataclasses.dataclass
class RestRequest:
    """``RestContext.request``: what the caller sent.

    ``requestURI`` is the path after ``/services/apexrest`` and ``resourcePath`` the
    mapping under ``/services/apexrest`` (RestRequest class, Apex Reference Guide).
    ``requestBody`` is empty when the handler takes parameters, as on the platform.
    """

    httpMethod: str  # noqa: N815 - the Apex property names, so chapters read alike
    requestURI: str  # noqa: N815
    resourcePath: str  # noqa: N815
    params: dict[str, str]
    headers: Headers
    requestBody: bytes  # noqa: N815
    remoteAddress: str  # noqa: N815


@dataclasses.dataclass
class RestResponse:
    """``RestContext.response``: what a handler sends besides its return value."""

    statusCode: int = 200  # noqa: N815
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    responseBody: bytes | str | None = None  # noqa: N815

    def addHeader(self, name: str, value: str) -> None:  # noqa: N802
        self.headers[name] = value


class RestContext(ApexTransaction):
    """What a handler gets: the request, the response, and the request's Apex
    transaction (DML, SOQL, callouts and their limits; see ``sfsandbox.apex``)."""

    def __init__(self, org: Org, request: RestRequest) -> None:
        super().__init__(org)
        self.request = request
        self.response = RestResponse()


# --- registration and matching ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ApexRestResource:
    """A registered class: its mapping and its handler per HTTP method."""

    url_mapping: str
    cls: type
    handlers: dict[str, Callable[..., Any]]
    parameters: dict[str, tuple[str, ...]]

    @property
    def class_name(self) -> str:
        return self.cls.__name__

    def matches(self, path: str) -> bool:
        """Does ``path`` (after /services/apexrest) match this wildcard mapping?"""
        mapping = self.url_mapping.split("/")
        given = path.split("/")
        if mapping[-1] == "*":
            # A final "*" takes the rest of the path, or nothing (/Account/* serves
            # /Account too).
            head = mapping[:-1]
            return given[: len(head)] == head
        return len(given) == len(mapping) and all(
            m in ("*", g) for m, g in zip(mapping, given, strict=True)
        )


def check_url_mapping(url_mapping: str) -> None:
    """The RestResource annotation's URL guidelines, or ``UrlMappingError``."""
    if not isinstance(url_mapping, str) or not url_mapping.startswith("/"):
        raise UrlMappingError(
            f"urlMapping {url_mapping!r} must begin with a forward slash (/)"
        )
    if len(url_mapping) > MAX_URL_MAPPING:
        raise UrlMappingError(
            f"urlMapping is {len(url_mapping)} characters long; the limit is "
            f"{MAX_URL_MAPPING}"
        )
    for index, char in enumerate(url_mapping):
        if char != "*":
            continue
        before_ok = url_mapping[index - 1] == "/"
        after_ok = index == len(url_mapping) - 1 or url_mapping[index + 1] == "/"
        if not (before_ok and after_ok):
            raise UrlMappingError(
                f"urlMapping {url_mapping!r}: a wildcard (*) must be preceded by a "
                "forward slash and, unless it is the last character, followed by one"
            )


class ApexRest:
    """The org's Apex REST classes, and the HTTP layer that calls them."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self._resources: dict[str, ApexRestResource] = {}
        self._lock = threading.Lock()

    @property
    def resources(self) -> list[ApexRestResource]:
        with self._lock:
            return list(self._resources.values())

    def register(self, url_mapping: str, cls: type) -> ApexRestResource:
        """Register ``cls`` as ``@RestResource(urlMapping=url_mapping)``."""
        check_url_mapping(url_mapping)
        if not isinstance(cls, type):
            raise UrlMappingError("rest_resource decorates a class")
        handlers: dict[str, Callable[..., Any]] = {}
        parameters: dict[str, tuple[str, ...]] = {}
        for method, name in HANDLERS.items():
            handler = getattr(cls, name, None)
            if handler is None:
                continue
            if not callable(handler):
                raise UrlMappingError(f"{cls.__name__}.{name} is not a method")
            names = _handler_parameters(cls, name, handler)
            if names and method in {"GET", "DELETE"}:
                # Apex Developer Guide, "Exposing Apex Classes as REST Web Services":
                # GET and DELETE requests have no body to deserialize.
                raise UrlMappingError(
                    f"{cls.__name__}.{name}: {ANNOTATIONS[name]} methods take no "
                    "parameters besides the context"
                )
            handlers[method] = handler
            parameters[method] = names
        if not handlers:
            raise UrlMappingError(
                f"{cls.__name__} has no handler: define at least one of "
                f"{', '.join(HANDLERS.values())}"
            )
        resource = ApexRestResource(url_mapping, cls, handlers, parameters)
        with self._lock:
            existing = self._resources.get(url_mapping)
            # A class of the same name replaces the old one, as saving a new version
            # of an Apex class does (and as re-running a notebook cell needs).
            if existing is not None and existing.class_name != resource.class_name:
                raise UrlMappingError(
                    f"urlMapping {url_mapping!r} is already used by "
                    f"{existing.class_name}; unregister it first"
                )
            self._resources[url_mapping] = resource
        return resource

    def unregister(self, target: str | type) -> None:
        """Remove a class, by its urlMapping or the class itself."""
        with self._lock:
            for mapping, resource in list(self._resources.items()):
                if target in (mapping, resource.cls):
                    del self._resources[mapping]
                    return
        raise KeyError(f"no Apex REST class is registered as {target!r}")

    def find(self, path: str) -> ApexRestResource | None:
        """An exact match first, else the longest matching wildcard mapping."""
        with self._lock:
            resources = list(self._resources.values())
        key = path.rstrip("/") or "/"
        for resource in resources:
            if "*" not in resource.url_mapping and resource.url_mapping in (path, key):
                return resource
        wild = [r for r in resources if "*" in r.url_mapping and r.matches(key)]
        return max(wild, key=lambda r: len(r.url_mapping), default=None)

    # --- HTTP ------------------------------------------------------------------------

    def handle(self, request: Request, body: bytes) -> Response:
        """Answer a request under ``/services/apexrest`` (the token is checked)."""
        path = request.url.path[len(APEX_REST_PREFIX) :] or "/"
        resource = self.find(path)
        if resource is None:
            # Observed platform body (e.g. restforce issue #418, blog posts).
            raise errors.NotFound(f"Could not find a match for URL {path}")
        method = "GET" if request.method == "HEAD" else request.method
        handler = resource.handlers.get(method)
        if handler is None:
            raise errors.MethodNotAllowed(request.method, list(resource.handlers))
        _check_accept(request)

        names = resource.parameters[method]
        arguments = _deserialize_parameters(request, body, names) if names else {}
        apex_request = RestRequest(
            httpMethod=request.method,
            requestURI=path,
            resourcePath=APEX_REST_PREFIX + resource.url_mapping,
            params=dict(request.query_params),
            headers=request.headers,
            requestBody=b"" if names else body,
            remoteAddress=request.client.host if request.client else "",
        )
        context = RestContext(self.org, apex_request)
        try:
            with running(context):
                result = handler(context, **arguments)
                if context.limit_error is not None:
                    raise context.limit_error
                response = _render(context, result)
        except errors.SalesforceError:
            raise
        except Exception as error:
            raise errors.ApexError(_apex_error_message(error)) from error
        return response


# --- request and response ----------------------------------------------------------


def _handler_parameters(cls: type, name: str, handler: Any) -> tuple[str, ...]:
    """The names of a handler's Apex parameters (those after ``context``)."""
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):
        return ()
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    if not positional or positional[0].kind is inspect.Parameter.KEYWORD_ONLY:
        raise UrlMappingError(
            f"{cls.__name__}.{name} must take the RestContext as its first argument "
            "(did you forget @staticmethod?)"
        )
    return tuple(p.name for p in positional[1:])


def _check_accept(request: Request) -> None:
    accept = request.headers.get("accept", "")
    types = [t.split(";")[0].strip().lower() for t in accept.split(",") if t.strip()]
    if (
        types
        and "application/xml" in types
        and not any(t in {"application/json", "*/*", "application/*"} for t in types)
    ):
        raise errors.NotEmulated(
            "XML responses from Apex REST (Accept: application/xml)"
        )


def _deserialize_parameters(
    request: Request, body: bytes, names: tuple[str, ...]
) -> dict[str, Any]:
    """The JSON body deserialized into the handler's parameters, by name."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type in {"application/xml", "text/xml"}:
        raise errors.NotEmulated("XML request bodies to Apex REST methods")
    arguments: dict[str, Any] = dict.fromkeys(names)
    if not body.strip():
        # UNVERIFIED: with no body every parameter is null (plain choice).
        return arguments
    # The REST layer's strict reader: bad UTF-8, NaN, deep nesting and lone
    # surrogates are refused here as they are for every other request body.
    value = read_json(body)
    if not isinstance(value, dict):
        token = "START_ARRAY" if isinstance(value, list) else "a scalar value"
        raise errors.JsonParserError(
            f"Unexpected token {token} for the method's parameters at [line:1, "
            "column:1]"
        )
    for key, item in value.items():
        if key not in arguments:
            # Observed: 400 JSON_PARSER_ERROR "Unexpected parameter encountered
            # during deserialization: SETTINGS at [line:1, column:14]"
            # (salesforce.stackexchange.com question 111321).
            raise errors.JsonParserError(
                "Unexpected parameter encountered during deserialization: "
                f"{key} at {_key_position(body.decode(), key)}"
            )
        arguments[key] = item
    return arguments


def _key_position(text: str, key: str) -> str:
    """Where the parser stands after reading ``"key":`` and its value's first byte."""
    match = re.search(re.escape(json.dumps(key)) + r"\s*:\s*", text)
    if match is None:
        return "[line:1, column:1]"
    end = match.end() + 1
    line = text.count("\n", 0, end) + 1
    column = end - (text.rfind("\n", 0, end) + 1) + 1
    return f"[line:{line}, column:{column}]"


def _render(context: RestContext, result: Any) -> Response:
    """The HTTP response, from the return value and ``RestContext.response``."""
    reply = context.response
    status = reply.statusCode
    if status not in VALID_STATUS_CODES:
        # RestResponse class: "an HTTP status of 500 is returned with the error
        # message 'Invalid status code for HTTP response: nnn'". The error code
        # is UNVERIFIED.
        raise errors.ApexError(f"Invalid status code for HTTP response: {status}")
    headers = {str(k): str(v) for k, v in reply.headers.items()}
    if result is None:
        raw = reply.responseBody
        content = raw.encode("utf-8") if isinstance(raw, str) else raw or b""
        return Response(content, status_code=status, headers=headers)
    content = json.dumps(
        to_json(result), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")
    headers.setdefault("Content-Type", JSON_CONTENT_TYPE)
    return Response(content, status_code=status, headers=headers)


def to_json(value: Any) -> Any:
    """A return value as Apex REST serializes it; null fields are left out."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise JSONException(f"Cannot serialize the number {value} as JSON")
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    # Observed: "System.JSONException: Apex Type unsupported in JSON: <type>".
    raise JSONException(f"Apex Type unsupported in JSON: Python.{type(value).__name__}")


def _apex_error_message(error: BaseException) -> str:
    """``"<Type>: <message>\\n\\n<stack>"`` as APEX_ERROR bodies show it."""
    if isinstance(error, ApexException):
        type_name, message = error.type_name, error.message
    else:
        module = type(error).__module__
        type_name = (
            f"Python.{type(error).__name__}"
            if module == "builtins"
            else type(error).__qualname__
        )
        message = str(error)
    lines = []
    trace = error.__traceback__
    while trace is not None:
        code = trace.tb_frame.f_code
        if _is_lab_code(code.co_filename):
            position = list(code.co_positions())[trace.tb_lasti // 2]
            column = (position[2] or 0) + 1
            name = code.co_qualname.replace(".<locals>", "")
            lines.append(f"Class.{name}: line {trace.tb_lineno}, column {column}")
        trace = trace.tb_next
    stack = "\n".join(reversed(lines)) or "(System Code)"
    return f"{type_name}: {message}\n\n{stack}"


def _is_lab_code(filename: str) -> bool:
    """Is this frame the lab's code, not the sandbox's, Python's or a library's?"""
    path = Path(filename).resolve()
    return not any(path.is_relative_to(root) for root in SYSTEM_CODE)
