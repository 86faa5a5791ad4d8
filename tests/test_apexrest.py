"""Apex REST: URL mappings, methods, RestContext, JSON, DML and SOQL, errors."""

from __future__ import annotations

import contextlib
import inspect
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import httpx
import pytest

from sfsandbox import Sandbox
from sfsandbox.org.apexrest import DmlException, QueryException, UrlMappingError

API = "/services/data/v62.0"
APEX = "/services/apexrest"


class IntakeError(Exception):
    """A lab's own exception class: Apex names such a class by its name."""


@pytest.fixture
def register(sandbox: Sandbox) -> Iterator:
    """Register classes for one test and remove them after it."""
    registered: list[type] = []

    def add(url_mapping: str, cls: type) -> type:
        sandbox.org.rest_resource(url_mapping)(cls)
        registered.append(cls)
        return cls

    yield add
    for cls in registered:
        sandbox.org.unregister_rest_resource(cls)


def named(name: str) -> type:
    """A class whose GET answers its own name."""

    def http_get(context):
        return name

    return type(name, (), {"http_get": staticmethod(http_get)})


def line_of(function, text: str) -> int:
    """The source line number of the first line of ``function`` containing ``text``."""
    lines, start = inspect.getsourcelines(function)
    return start + next(i for i, line in enumerate(lines) if text in line)


def soql_count(api: httpx.Client, where: str) -> int:
    q = f"SELECT COUNT() FROM Lead WHERE {where}"
    return api.get(f"{API}/query", params={"q": q}).json()["totalSize"]


# --- urlMapping rules ----------------------------------------------------------------


@pytest.mark.parametrize(
    "mapping",
    ["LeadIntake", "", "/Lead*", "/*Lead", "/a/*b/c", "/a/b*", "/" + "x" * 255],
)
def test_invalid_url_mappings_fail_at_registration(
    sandbox: Sandbox, mapping: str
) -> None:
    with pytest.raises(UrlMappingError):
        sandbox.org.rest_resource(mapping)(named("Bad"))
    assert all(r.url_mapping != mapping for r in sandbox.org.rest_resources)


@pytest.mark.parametrize("mapping", ["/", "/*", "/a/*", "/a/*/b", "/" + "x" * 254])
def test_valid_url_mappings_register(sandbox: Sandbox, register, mapping: str) -> None:
    register(mapping, named("Good"))
    assert mapping in {r.url_mapping for r in sandbox.org.rest_resources}


def test_a_class_without_handlers_or_with_get_parameters_is_refused(
    sandbox: Sandbox,
) -> None:
    with pytest.raises(UrlMappingError, match="no handler"):
        sandbox.org.rest_resource("/Empty")(type("Empty", (), {}))

    class GetWithBody:
        @staticmethod
        def http_get(context, name):
            return name

    with pytest.raises(UrlMappingError, match="@HttpGet"):
        sandbox.org.rest_resource("/GetWithBody")(GetWithBody)

    class NoContext:
        def http_post():
            return None

    with pytest.raises(UrlMappingError, match="RestContext"):
        sandbox.org.rest_resource("/NoContext")(NoContext)


def test_a_mapping_in_use_is_refused(register) -> None:
    register("/Taken/*", named("First"))
    with pytest.raises(UrlMappingError, match="already used by First"):
        register("/Taken/*", named("Second"))


def test_a_new_version_of_the_same_class_replaces_the_old(sandbox) -> None:
    first, second = named("Same"), named("Same")
    org = sandbox.org
    org.rest_resource("/Versioned/*")(first)
    org.rest_resource("/Versioned/*")(second)  # a re-run cell makes a new class object
    try:
        classes = [r.cls for r in org.rest_resources if r.url_mapping == "/Versioned/*"]
        assert classes == [second]
    finally:
        org.unregister_rest_resource("/Versioned/*")


# --- matching ---------------------------------------------------------------------


@pytest.fixture
def things(register) -> None:
    register("/Things/*", named("AnyThing"))
    register("/Things/special", named("SpecialExact"))
    register("/Things/special/*", named("SpecialWild"))
    register("/Things/*/parts", named("Parts"))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/Things/special", "SpecialExact"),  # an exact match beats every wildcard
        ("/Things/special/1", "SpecialWild"),  # the longest wildcard mapping wins
        ("/Things/42/parts", "Parts"),
        ("/Things/42/parts/7", "AnyThing"),
        ("/Things/42", "AnyThing"),
        ("/Things", "AnyThing"),  # /Things/* also serves /Things
        ("/Things/", "AnyThing"),
    ],
)
def test_matching_picks_exact_then_longest_wildcard(
    api: httpx.Client, things, path: str, expected: str
) -> None:
    response = api.get(APEX + path)
    assert response.status_code == 200, response.text
    assert response.json() == expected


@pytest.mark.parametrize("path", ["/things/special", "/THINGS/1", "/Thing", "/Nope"])
def test_no_match_is_404_with_the_platform_message(
    api: httpx.Client, things, path: str
) -> None:
    response = api.get(APEX + path)
    assert response.status_code == 404
    assert response.json() == [
        {"message": f"Could not find a match for URL {path}", "errorCode": "NOT_FOUND"}
    ]


def test_unregistered_class_is_gone(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.org.rest_resource("/Temporary")(named("Temporary"))
    assert api.get(APEX + "/Temporary").status_code == 200
    sandbox.org.unregister_rest_resource("/Temporary")
    assert api.get(APEX + "/Temporary").status_code == 404
    with pytest.raises(KeyError):
        sandbox.org.unregister_rest_resource("/Temporary")


# --- methods and tokens -----------------------------------------------------------


def test_a_method_without_handler_is_405(api: httpx.Client, register) -> None:
    class PostOnly:
        @staticmethod
        def http_post(context):
            return "posted"

        @staticmethod
        def http_delete(context):
            return None

    register("/PostOnly", PostOnly)
    response = api.put(APEX + "/PostOnly", json={})
    assert response.status_code == 405
    assert response.json() == [
        {
            "message": "HTTP Method 'PUT' not allowed. Allowed are POST,DELETE",
            "errorCode": "METHOD_NOT_ALLOWED",
        }
    ]
    assert api.post(APEX + "/PostOnly").json() == "posted"
    assert api.delete(APEX + "/PostOnly").status_code == 200


@pytest.mark.parametrize("authorization", [None, "Bearer 00Dforged!x", "Basic eDp5"])
def test_every_call_needs_a_valid_token(
    sandbox: Sandbox, register, authorization: str | None
) -> None:
    register("/Guarded", named("Guarded"))
    headers = {"Authorization": authorization} if authorization else {}
    response = sandbox.org.http.get(APEX + "/Guarded", headers=headers)
    assert response.status_code == 401
    assert response.json()[0]["errorCode"] == "INVALID_SESSION_ID"


# --- RestContext ------------------------------------------------------------------


def test_the_context_carries_the_request(api: httpx.Client, register) -> None:
    class Echo:
        @staticmethod
        def http_patch(context):
            req = context.request
            return {
                "httpMethod": req.httpMethod,
                "requestURI": req.requestURI,
                "resourcePath": req.resourcePath,
                "params": req.params,
                "trace": req.headers.get("X-Trace-Id"),
                "body": req.requestBody.decode(),
                "remoteAddress": req.remoteAddress,
            }

    register("/Echo/*", Echo)
    response = api.patch(
        APEX + "/Echo/001/notes",
        params={"status": "new", "limit": "5"},
        content=b"plain text",
        headers={"X-Trace-Id": "abc-123", "Content-Type": "text/plain"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "httpMethod": "PATCH",
        "requestURI": "/Echo/001/notes",
        "resourcePath": "/services/apexrest/Echo/*",
        "params": {"status": "new", "limit": "5"},
        "trace": "abc-123",
        "body": "plain text",
        "remoteAddress": "127.0.0.1",
    }


def test_parameters_are_deserialized_by_name(api: httpx.Client, register) -> None:
    class Typed:
        @staticmethod
        def http_post(context, name, tags):
            return {"name": name, "tags": tags, "raw": len(context.request.requestBody)}

    register("/Typed", Typed)
    answer = api.post(APEX + "/Typed", json={"tags": ["a", "b"], "name": "Ada"})
    assert answer.json() == {"name": "Ada", "tags": ["a", "b"], "raw": 0}
    assert api.post(APEX + "/Typed", json={"name": "Ada"}).json() == {
        "name": "Ada",
        "raw": 0,
    }  # a missing parameter is null, and null fields are not serialized

    unknown = api.post(APEX + "/Typed", content=b'{"name": "A", "colour": "red"}')
    assert unknown.status_code == 400
    assert unknown.json() == [
        {
            "message": "Unexpected parameter encountered during deserialization: "
            "colour at [line:1, column:26]",
            "errorCode": "JSON_PARSER_ERROR",
        }
    ]
    malformed = api.post(APEX + "/Typed", content=b'{"name": "A",}')
    assert malformed.status_code == 400
    assert malformed.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


# --- serialization ----------------------------------------------------------------


@dataclass
class Receipt:
    lead_id: str
    score: int
    note: str | None = None


@pytest.mark.parametrize(
    ("value", "body"),
    [
        ("hello", '"hello"'),
        (42, "42"),
        (2.5, "2.5"),
        (True, "true"),
        ([1, "two", None], '[1,"two",null]'),
        ({"a": 1, "b": None, "c": {"d": None}}, '{"a":1,"c":{}}'),
        (Receipt("00Q1", 7), '{"lead_id":"00Q1","score":7}'),
        (datetime(2026, 1, 12, 9, 30, tzinfo=UTC), '"2026-01-12T09:30:00.000+0000"'),
        (date(2026, 1, 12), '"2026-01-12"'),
        ("Grüße", '"Grüße"'),
    ],
)
def test_return_values_are_serialized_as_json(
    api: httpx.Client, register, value, body: str
) -> None:
    register("/Value", type("Value", (), {"http_get": staticmethod(lambda c: value)}))
    response = api.get(APEX + "/Value")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json;charset=UTF-8"
    assert response.content.decode() == body


def test_void_sends_the_response_body_status_and_headers(
    api: httpx.Client, register
) -> None:
    class Raw:
        @staticmethod
        def http_post(context):
            context.response.statusCode = 202
            context.response.addHeader("Content-Type", "text/csv")
            context.response.responseBody = b"id,name\n1,Ada\n"

        @staticmethod
        def http_delete(context):
            pass

    register("/Raw", Raw)
    response = api.post(APEX + "/Raw")
    assert response.status_code == 202
    assert response.headers["content-type"] == "text/csv"
    assert response.content == b"id,name\n1,Ada\n"
    empty = api.delete(APEX + "/Raw")
    assert (empty.status_code, empty.content) == (200, b"")


def test_a_status_code_outside_the_list_is_500(api: httpx.Client, register) -> None:
    class Teapot:
        @staticmethod
        def http_get(context):
            context.response.statusCode = 418
            return "tea"

    register("/Teapot", Teapot)
    response = api.get(APEX + "/Teapot")
    assert response.status_code == 500
    assert response.json() == [
        {
            "message": "Invalid status code for HTTP response: 418",
            "errorCode": "APEX_ERROR",
        }
    ]


def test_an_unsupported_return_type_is_a_json_exception(
    api: httpx.Client, register
) -> None:
    register("/SetOf", type("SetOf", (), {"http_get": staticmethod(lambda c: {1})}))
    response = api.get(APEX + "/SetOf")
    assert response.status_code == 500
    assert response.json()[0]["message"] == (
        "System.JSONException: Apex Type unsupported in JSON: Python.set\n\n"
        "(System Code)"
    )


# --- DML and SOQL in one transaction ----------------------------------------------


def test_dml_and_soql_in_a_handler(api: httpx.Client, register) -> None:
    class LeadIntake:
        @staticmethod
        def http_post(context, lastName, company, email):
            lead_id = context.insert(
                "Lead", {"LastName": lastName, "Company": company, "Email": email}
            )
            context.update("Lead", {"Id": lead_id, "Rating": "Hot"})
            rows = context.query(
                f"SELECT Id, Name, Rating, LeadSource FROM Lead WHERE Id = '{lead_id}'"
            )
            context.response.statusCode = 201
            return rows[0]

    register("/LeadIntake/*", LeadIntake)
    response = api.post(
        APEX + "/LeadIntake/v1",
        json={"lastName": "Hopper", "company": "Navy", "email": "grace@navy.example"},
    )
    assert response.status_code == 201, response.text
    lead = response.json()
    assert lead["Name"] == "Hopper" and lead["Rating"] == "Hot"
    assert "LeadSource" not in lead  # null fields are left out
    assert lead["attributes"]["type"] == "Lead"

    stored = api.get(f"{API}/sobjects/Lead/{lead['Id']}").json()
    assert (stored["Company"], stored["Rating"]) == ("Navy", "Hot")


def test_an_uncaught_exception_rolls_back_and_answers_apex_error(
    api: httpx.Client, register
) -> None:
    class Failing:
        @staticmethod
        def http_post(context):
            context.insert("Lead", {"LastName": "Rollback", "Company": "Gone"})
            raise ValueError("no score for this lead")

    register("/Failing", Failing)
    response = api.post(APEX + "/Failing")
    assert response.status_code == 500
    line = line_of(Failing.http_post, "raise ValueError")
    where = Failing.http_post.__qualname__.replace(".<locals>", "")
    assert where.endswith(".Failing.http_post")  # the class, as Apex names it
    assert response.json() == [
        {
            "message": "Python.ValueError: no score for this lead\n\n"
            f"Class.{where}: line {line}, column 13",
            "errorCode": "APEX_ERROR",
        }
    ]
    assert soql_count(api, "LastName = 'Rollback'") == 0


def test_an_uncaught_dml_exception_has_the_apex_message(
    api: httpx.Client, register
) -> None:
    def helper(context):
        return context.insert("Lead", {"Company": "No Name Ltd"})

    class NoName:
        @staticmethod
        def http_post(context):
            return helper(context)

    register("/NoName", NoName)
    response = api.post(APEX + "/NoName")
    assert response.status_code == 500
    message = response.json()[0]["message"]
    outer = line_of(NoName.http_post, "return helper")
    inner = line_of(helper, "return context.insert")
    assert message == (
        "System.DmlException: Insert failed. First exception on row 0; first error: "
        "REQUIRED_FIELD_MISSING, Required fields are missing: [LastName]: "
        "[LastName]\n\n"
        f"Class.test_an_uncaught_dml_exception_has_the_apex_message.helper: line "
        f"{inner}, column 16\n"
        f"Class.test_an_uncaught_dml_exception_has_the_apex_message.NoName.http_post: "
        f"line {outer}, column 20"
    )


def test_a_caught_dml_exception_keeps_earlier_work(api: httpx.Client, register) -> None:
    class Partial:
        @staticmethod
        def http_post(context):
            kept = context.insert("Lead", {"LastName": "Kept", "Company": "K"})
            try:
                context.insert(
                    "Lead",
                    [
                        {"LastName": "Batch", "Company": "B"},
                        {"LastName": "Batch"},
                    ],
                )
            except DmlException as error:
                context.response.statusCode = 400
                return {
                    "kept": kept,
                    "num": error.getNumDml(),
                    "type": error.getDmlType(0),
                    "row": error.getDmlIndex(0),
                    "fields": error.getDmlFieldNames(0),
                    "message": error.getMessage(),
                }

    register("/Partial", Partial)
    response = api.post(APEX + "/Partial")
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["type"] == "REQUIRED_FIELD_MISSING"
    assert (answer["num"], answer["row"], answer["fields"]) == (1, 1, ["Company"])
    assert answer["message"].startswith("Insert failed. First exception on row 1;")
    assert soql_count(api, f"Id = '{answer['kept']}'") == 1
    assert soql_count(api, "LastName = 'Batch'") == 0  # the statement is all or none


def test_update_and_delete_failures_name_the_row_and_id(
    api: httpx.Client, register
) -> None:
    class Changes:
        @staticmethod
        def http_post(context, step):
            lead_id = context.insert("Lead", {"LastName": "Twice", "Company": "T"})
            try:
                if step == "update":
                    context.update("Lead", {"Rating": "Hot"})
                else:
                    context.delete("Lead", lead_id)
                    context.delete("Lead", lead_id)
            except DmlException as error:
                return error.getMessage().replace(lead_id, "<id>")

    register("/Changes", Changes)
    assert api.post(APEX + "/Changes", json={"step": "update"}).json() == (
        "Update failed. First exception on row 0; first error: MISSING_ARGUMENT, "
        "Id not specified in an update call: []"
    )
    assert api.post(APEX + "/Changes", json={"step": "delete"}).json() == (
        "Delete failed. First exception on row 0 with id <id>; first error: "
        "ENTITY_IS_DELETED, entity is deleted: []"
    )


def test_a_bad_query_raises_query_exception(api: httpx.Client, register) -> None:
    class Search:
        @staticmethod
        def http_get(context):
            try:
                context.query("SELECT Id FRM Lead")
            except QueryException as error:
                return error.getTypeName()

    register("/Search", Search)
    assert api.get(APEX + "/Search").json() == "System.QueryException"


def test_a_lab_exception_is_named_by_its_class(api: httpx.Client, register) -> None:
    class Picky:
        @staticmethod
        def http_get(context):
            raise IntakeError("unknown campaign")

    register("/Picky", Picky)
    message = api.get(APEX + "/Picky").json()[0]["message"]
    assert message.startswith("IntakeError: unknown campaign\n\nClass.")


def test_governor_limits_cannot_be_caught(api: httpx.Client, register) -> None:
    class Greedy:
        @staticmethod
        def http_get(context):
            for _ in range(101):
                with contextlib.suppress(Exception):  # Apex: catch (Exception e) {}
                    context.query("SELECT Id FROM Lead LIMIT 1")
            return "swallowed"

    register("/Greedy", Greedy)
    response = api.get(APEX + "/Greedy")
    assert response.status_code == 500
    message = response.json()[0]["message"]
    assert message.startswith("System.LimitException: Too many SOQL queries: 101\n\n")
    assert ".Greedy.http_get: line" in message


def test_responses_are_json_arrays_for_every_error(api: httpx.Client, register) -> None:
    register("/Shape", named("Shape"))
    for response in (api.get(APEX + "/Missing"), api.post(APEX + "/Shape")):
        body = json.loads(response.content)
        assert isinstance(body, list) and set(body[0]) == {"message", "errorCode"}


def test_count_query_counts_and_query_refuses_count(
    api: httpx.Client, register
) -> None:
    class Counter:
        @staticmethod
        def http_get(context):
            counted = context.count_query("SELECT COUNT() FROM Account")
            try:
                context.query("SELECT COUNT() FROM Account")
            except QueryException:
                return counted
            return -1

    register("/Counter", Counter)
    q = "SELECT COUNT() FROM Account"
    expected = api.get(f"{API}/query", params={"q": q}).json()["totalSize"]
    assert expected > 0
    assert api.get(APEX + "/Counter").json() == expected
