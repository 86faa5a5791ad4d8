"""Bad input gets the platform's error, in its shape and status, and changes nothing.

Each row: what is sent, the status and error code expected, and (optionally) a piece of
the message. After every request the whole store must be byte-for-byte as before.
"""

from __future__ import annotations

import hashlib
import json
import ssl
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sfsandbox import Sandbox
from sfsandbox.org.rest import SalesforceJSONResponse

API = "/services/data/v62.0"
APEX = "/services/apexrest"
JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TOKEN_URL = "/services/oauth2/token"
ACCOUNTS = f"{API}/sobjects/Account/"
ACCOUNT = f"{API}/sobjects/Account/{{account_id}}"
NO_TOKEN = object()
COMPOSITE = f"{API}/composite"
COLLECTION = f"{API}/composite/sobjects"
SEED_LEAD_EMAIL = "Samantha.Hunter0@yahoo.com"  # the first seed Lead's, other case
JWT_BODY = b"grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion="


@dataclass
class Case:
    name: str
    method: str
    path: str
    status: int
    code: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    token: Any = None  # None: a valid token; NO_TOKEN: no header; str: that header
    message: str = ""
    fields: list[str] | None = None
    all_or_none_body: bool = False  # the answer must show the others rolled back


def composite(*subrequests: dict[str, Any], all_or_none: bool = False) -> bytes:
    """A composite request body; each subrequest gets a referenceId of its own."""
    numbered = [{"referenceId": f"r{i}", **s} for i, s in enumerate(subrequests)]
    body = {"allOrNone": all_or_none, "compositeRequest": numbered}
    return json.dumps(body).encode()


def collection(*records: dict[str, Any], all_or_none: bool = False) -> bytes:
    """An sObject Collections body of Accounts."""
    typed = [{"attributes": {"type": "Account"}, **r} for r in records]
    return json.dumps({"allOrNone": all_or_none, "records": typed}).encode()


NEW_ACCOUNT = {"method": "POST", "url": ACCOUNTS, "body": {"Name": "A"}}
QUERY = {"method": "GET", "url": f"{API}/query?q=SELECT+Id+FROM+Account+LIMIT+1"}


def soql(name: str, q: str, status: int, code: str, message: str = "") -> Case:
    return Case(
        name, "GET", f"{API}/query", status, code, params={"q": q}, message=message
    )


CASES = [
    # Authentication
    Case("no token", "GET", f"{API}/sobjects/", 401, "INVALID_SESSION_ID",
         token=NO_TOKEN, message="Session expired or invalid"),
    Case("forged token", "GET", f"{API}/sobjects/", 401, "INVALID_SESSION_ID",
         token="Bearer 00Dxx!forged"),
    Case("basic instead of bearer", "GET", f"{API}/query", 401, "INVALID_SESSION_ID",
         token="Basic dXNlcjpwYXNz", params={"q": "SELECT Id FROM Account"}),
    Case("create without token", "POST", ACCOUNTS, 401,
         "INVALID_SESSION_ID", body=b'{"Name": "X"}', headers=JSON, token=NO_TOKEN),
    # OAuth token endpoint
    Case("unknown client", "POST", TOKEN_URL, 400, "invalid_client_id",
         body=b"grant_type=client_credentials&client_id=nope&client_secret=x",
         headers=FORM, token=NO_TOKEN),
    Case("wrong secret", "POST", TOKEN_URL, 400, "invalid_client",
         body=b"grant_type=client_credentials&client_id={client_id}&client_secret=x",
         headers=FORM, token=NO_TOKEN),
    Case("no grant type", "POST", TOKEN_URL, 400, "unsupported_grant_type",
         body=b"client_id=x", token=NO_TOKEN,
         headers=FORM),
    Case("password grant not emulated", "POST", TOKEN_URL, 400,
         "unsupported_grant_type", body=b"grant_type=password&username=a&password=b",
         headers=FORM, token=NO_TOKEN,
         message="not emulated"),
    Case("GET on token endpoint", "GET", TOKEN_URL, 405,
         "METHOD_NOT_ALLOWED", token=NO_TOKEN),
    # JWT bearer flow (SOAP login() bad input, answered in XML, is in test_auth.py)
    Case("expired JWT", "POST", TOKEN_URL, 400, "invalid_grant",
         body=JWT_BODY + b"{expired_jwt}", headers=FORM, token=NO_TOKEN,
         message="expired authorization code"),
    Case("forged JWT", "POST", TOKEN_URL, 400, "invalid_grant",
         body=JWT_BODY + b"{forged_jwt}", headers=FORM, token=NO_TOKEN,
         message="invalid assertion"),
    Case("JWT for the wrong audience", "POST", TOKEN_URL, 400, "invalid_grant",
         body=JWT_BODY + b"{wrong_audience_jwt}", headers=FORM, token=NO_TOKEN,
         message="audience is invalid"),
    # Malformed bodies and content types
    Case("malformed JSON", "POST", ACCOUNTS, 400, "JSON_PARSER_ERROR",
         body=b'{"Name": "Acme",}', headers=JSON, message="Unexpected character"),
    Case("truncated JSON", "POST", ACCOUNTS, 400, "JSON_PARSER_ERROR",
         body=b'{"Name": "Acme"', headers=JSON, message="end-of-input"),
    Case("empty body", "POST", ACCOUNTS, 400, "JSON_PARSER_ERROR",
         body=b"", headers=JSON, message="no entity body"),
    Case("array body", "POST", ACCOUNTS, 400, "JSON_PARSER_ERROR",
         body=b'[{"Name": "Acme"}]', headers=JSON, message="START_ARRAY"),
    Case("not UTF-8", "POST", ACCOUNTS, 400, "JSON_PARSER_ERROR",
         body=b'{"Name": "\xff\xfe"}', headers=JSON),
    Case("text/plain body", "POST", ACCOUNTS, 415,
         "UNSUPPORTED_MEDIA_TYPE", body=b'{"Name": "Acme"}',
         headers={"Content-Type": "text/plain"},
         message="MediaType of 'text/plain' is not supported by this resource"),
    Case("form body", "POST", ACCOUNTS, 415, "UNSUPPORTED_MEDIA_TYPE",
         body=b"Name=Acme", headers=FORM),
    Case("XML body not emulated", "POST", ACCOUNTS, 400,
         "FUNCTIONALITY_NOT_ENABLED", body=b"<Account><Name>A</Name></Account>",
         headers={"Content-Type": "application/xml"}, message="not emulated"),
    # Unknown objects, fields and resources
    Case("unknown sObject", "GET", f"{API}/sobjects/Acount/describe", 404, "NOT_FOUND"),
    Case("create unknown sObject", "POST", f"{API}/sobjects/Widget__c/", 404,
         "NOT_FOUND", body=b'{"Name": "A"}', headers=JSON),
    Case("unknown field on create", "POST", ACCOUNTS, 400,
         "INVALID_FIELD", body=b'{"Name": "A", "Colour__c": "red"}', headers=JSON,
         message="No such column 'Colour__c' on sobject of type Account"),
    Case("unknown field on update", "PATCH", ACCOUNT, 400,
         "INVALID_FIELD", body=b'{"Nmae": "A"}', headers=JSON),
    Case("unknown field in ?fields", "GET", ACCOUNT, 400,
         "INVALID_FIELD", params={"fields": "Name,Revenue"}),
    Case("unknown resource", "GET", f"{API}/nothing-here", 404, "NOT_FOUND"),
    Case("unknown API version", "GET", "/services/data/v12.0/sobjects/", 404,
         "NOT_FOUND"),
    Case("record that does not exist", "GET", ACCOUNTS + "001000000000000AAA", 404,
         "NOT_FOUND"),
    Case("ID of another object", "GET", f"{API}/sobjects/Account/{{contact_id}}", 404,
         "NOT_FOUND"),
    Case("not an ID", "GET", f"{API}/sobjects/Account/xyz", 404, "NOT_FOUND",
         message="Provided external ID field does not exist or is not accessible: xyz"),
    Case("PUT on a record", "PUT", ACCOUNT, 405,
         "METHOD_NOT_ALLOWED", body=b"{}", headers=JSON),
    Case("unknown outbound WSDL", "GET", "/sfsandbox/wsdl/outbound/Nope.wsdl", 404,
         "NOT_FOUND", token=NO_TOKEN),
    Case("outbound WSDL without .wsdl", "GET", "/sfsandbox/wsdl/outbound/Nope", 404,
         "NOT_FOUND", token=NO_TOKEN),
    Case("POST to an outbound WSDL", "POST", "/sfsandbox/wsdl/outbound/Nope.wsdl",
         405, "METHOD_NOT_ALLOWED", body=b"{}", headers=JSON, token=NO_TOKEN),
    # Real resources the sandbox does not serve: named, not a bare 404
    Case("SOSL search", "GET", f"{API}/search", 400, "FUNCTIONALITY_NOT_ENABLED",
         params={"q": "FIND {Acme}"}, message="SOSL search"),
    Case("Tooling API", "GET", f"{API}/tooling/sobjects", 400,
         "FUNCTIONALITY_NOT_ENABLED", message="Tooling API"),
    Case("layouts", "GET", f"{API}/sobjects/Account/describe/layouts", 400,
         "FUNCTIONALITY_NOT_ENABLED", message="describe/layouts"),
    Case("identity URL", "GET", "/id/00D000000000000AAA/005000000000000AAA", 400,
         "FUNCTIONALITY_NOT_ENABLED", message="identity URL"),
    Case("OAuth revoke", "POST", "/services/oauth2/revoke", 400,
         "FUNCTIONALITY_NOT_ENABLED", body=b"token=x", headers=FORM, token=NO_TOKEN,
         message="/services/oauth2/revoke"),
    # Values the save rejects
    Case("required field missing", "POST", f"{API}/sobjects/Contact/", 400,
         "REQUIRED_FIELD_MISSING", body=b'{"FirstName": "Ada"}', headers=JSON,
         message="Required fields are missing: [LastName]", fields=["LastName"]),
    Case("required field blanked", "PATCH", ACCOUNT, 400,
         "REQUIRED_FIELD_MISSING", body=b'{"Name": null}', headers=JSON),
    Case("Id in the body", "POST", ACCOUNTS, 400, "INVALID_FIELD",
         body=b'{"Id": "001000000000000AAA", "Name": "A"}', headers=JSON,
         message="The Id field should not be specified in the sobject data."),
    Case("read-only field", "POST", ACCOUNTS, 400,
         "INVALID_FIELD_FOR_INSERT_UPDATE",
         body=b'{"Name": "A", "CreatedDate": "2020-01-01T00:00:00Z"}',
         headers=JSON, fields=["CreatedDate"]),
    Case("number as text", "POST", ACCOUNTS, 400, "JSON_PARSER_ERROR",
         body=b'{"Name": "A", "AnnualRevenue": "lots"}', headers=JSON,
         message="Cannot deserialize instance of double from VALUE_STRING value lots"),
    Case("bad boolean", "PATCH", f"{API}/sobjects/User/{{user_id}}", 400,
         "JSON_PARSER_ERROR", body=b'{"IsActive": "yes"}', headers=JSON),
    Case("bad date", "POST", f"{API}/sobjects/Opportunity/", 400, "JSON_PARSER_ERROR",
         body=b'{"Name": "O", "StageName": "Prospecting", "CloseDate": "2026-02-30"}',
         headers=JSON),
    Case("string too long", "POST", ACCOUNTS, 400, "STRING_TOO_LONG",
         body=b'{"Name": "' + b"x" * 256 + b'"}', headers=JSON, fields=["Name"]),
    Case("bad email", "POST", f"{API}/sobjects/Contact/", 400, "INVALID_EMAIL_ADDRESS",
         body=b'{"LastName": "B", "Email": "not-an-email"}', headers=JSON),
    Case("lookup of the wrong type", "POST", f"{API}/sobjects/Contact/", 400,
         "MALFORMED_ID", body=b'{"LastName": "B", "AccountId": "{contact_id}"}',
         headers=JSON, fields=["AccountId"]),
    Case("lookup to nothing", "POST", f"{API}/sobjects/Contact/", 400,
         "INVALID_CROSS_REFERENCE_KEY",
         body=b'{"LastName": "B", "AccountId": "001000000000000AAA"}', headers=JSON),
    Case("delete twice", "DELETE", f"{API}/sobjects/Account/{{deleted_id}}", 404,
         "ENTITY_IS_DELETED"),
    # SOQL
    soql("missing q", "", 400, "MALFORMED_QUERY", "A query string has to be specified"),
    soql("syntax error", "SELECT Id FRM Account", 400, "MALFORMED_QUERY",
         "unexpected token: 'FRM'"),
    soql("unknown object in SOQL", "SELECT Id FROM Acount", 400, "INVALID_TYPE",
         "sObject type 'Acount' is not supported"),
    soql("unknown field in SOQL", "SELECT Id, Nme FROM Account", 400, "INVALID_FIELD",
         "No such column 'Nme' on entity 'Account'"),
    soql("unterminated string", "SELECT Id FROM Account WHERE Name = 'Acme", 400,
         "MALFORMED_QUERY"),
    soql("bad date literal",
         "SELECT Id FROM Opportunity WHERE CloseDate > 2026-13-45", 400,
         "MALFORMED_QUERY", "Invalid date: 2026-13-45"),
    soql("dateTime literal on a date field",
         "SELECT Id FROM Opportunity WHERE CloseDate > 2026-01-01T00:00:00Z", 400,
         "INVALID_FIELD", "must be of type date"),
    soql("unknown relative date literal",
         "SELECT Id FROM Opportunity WHERE CloseDate = LAST_N_WEEKZ:3", 400,
         "MALFORMED_QUERY", "unexpected token: 'LAST_N_WEEKZ:3'"),
    soql("unknown relationship", "SELECT Acount.Name FROM Contact", 400,
         "INVALID_FIELD", "Didn't understand relationship 'Acount'"),
    soql("unknown child relationship",
         "SELECT Name, (SELECT Id FROM Contactz) FROM Account", 400, "INVALID_TYPE"),
    soql("only garbage", "%%%", 400, "MALFORMED_QUERY"),
    Case("bad query locator", "GET", f"{API}/query/01gNOPE-2000", 400,
         "INVALID_QUERY_LOCATOR"),
    # Apex REST (a typed POST handler is registered at /BadInput/* below)
    Case("unknown Apex REST URL", "GET", f"{APEX}/NoSuchService/1", 404, "NOT_FOUND",
         message="Could not find a match for URL /NoSuchService/1"),
    Case("Apex REST mapping is case-sensitive", "POST", f"{APEX}/badinput/1", 404,
         "NOT_FOUND", body=b'{"lastName": "L"}', headers=JSON),
    Case("Apex REST without token", "POST", f"{APEX}/BadInput/1", 401,
         "INVALID_SESSION_ID", body=b'{"lastName": "L"}', headers=JSON,
         token=NO_TOKEN),
    Case("Apex REST method without handler", "PUT", f"{APEX}/BadInput/1", 405,
         "METHOD_NOT_ALLOWED", body=b"{}", headers=JSON,
         message="HTTP Method 'PUT' not allowed. Allowed are POST"),
    Case("Apex REST malformed JSON", "POST", f"{APEX}/BadInput/1", 400,
         "JSON_PARSER_ERROR", body=b'{"lastName": "L",}', headers=JSON,
         message="Unexpected character"),
    Case("Apex REST unknown parameter", "POST", f"{APEX}/BadInput/1", 400,
         "JSON_PARSER_ERROR", body=b'{"lastName": "L", "colour": "red"}',
         headers=JSON, message="Unexpected parameter encountered during "
         "deserialization: colour"),
    Case("Apex REST DML error rolls back", "POST", f"{APEX}/BadInput/1", 500,
         "APEX_ERROR", body=b'{"lastName": "L"}', headers=JSON,
         message="System.DmlException: Insert failed. First exception on row 1; "
         "first error: REQUIRED_FIELD_MISSING"),
]  # fmt: skip

CASES += [
    # Upsert by external ID
    Case("upsert by a field that is not an external ID", "PATCH",
         f"{API}/sobjects/Account/Name/Acme", 404, "NOT_FOUND",
         body=b'{"Rating": "Hot"}', headers=JSON,
         message="external ID field does not exist or is not accessible: Name"),
    Case("upsert with updateOnly and no match", "PATCH",
         f"{API}/sobjects/Account/External_Id__c/NONE-1", 404, "NOT_FOUND",
         body=b'{"Name": "A"}', headers=JSON, params={"updateOnly": "true"}),
    Case("external ID in the body differs from the URL", "PATCH",
         f"{API}/sobjects/Account/External_Id__c/X-1", 400, "INVALID_FIELD",
         body=b'{"Name": "A", "External_Id__c": "X-2"}', headers=JSON),
    # Lead rules
    Case("web lead without email or phone", "POST", f"{API}/sobjects/Lead", 400,
         "FIELD_CUSTOM_VALIDATION_EXCEPTION", fields=["Email"], headers=JSON,
         body=b'{"LastName": "L", "Company": "C", "LeadSource": "Web"}',
         message="A web lead needs an email address or a phone number"),
    Case("lead with the email of another lead", "POST", f"{API}/sobjects/Lead", 400,
         "DUPLICATES_DETECTED", headers=JSON, message="Use one of these records?",
         body=b'{"LastName": "L", "Company": "C", "Email": "%s"}'
         % SEED_LEAD_EMAIL.encode()),
    # Composite
    Case("broken JSON in composite", "POST", COMPOSITE, 400, "JSON_PARSER_ERROR",
         body=b'{"compositeRequest": [', headers=JSON, message="end-of-input"),
    Case("too many subrequests", "POST", COMPOSITE, 400, "LIMIT_EXCEEDED",
         body=composite(*[NEW_ACCOUNT] * 26), headers=JSON,
         message="at most 25 subrequests"),
    Case("too many query subrequests", "POST", COMPOSITE, 400, "LIMIT_EXCEEDED",
         body=composite(*[QUERY] * 6), headers=JSON, message="at most 5 query"),
    Case("subrequest sets Authorization", "POST", COMPOSITE, 400, "INVALID_INPUT",
         body=composite({**QUERY, "httpHeaders": {"Authorization": "Bearer x"}}),
         headers=JSON),
    Case("referenceId with illegal characters", "POST", COMPOSITE, 400,
         "INVALID_INPUT", headers=JSON,
         body=json.dumps({"compositeRequest": [{**QUERY, "referenceId": "a.b"}]})
         .encode(), message="must start with a letter or a number"),
    Case("bad reference in composite", "POST", COMPOSITE, 200, "PROCESSING_HALTED",
         headers=JSON, body=composite({"method": "GET",
                                       "url": f"{API}/sobjects/Account/@{{nope.id}}"}),
         message="Invalid reference specified. No value for nope.id found in nope"),
    Case("allOrNone rollback leaves nothing written", "POST", COMPOSITE, 200,
         "REQUIRED_FIELD_MISSING", headers=JSON, all_or_none_body=True,
         body=composite(NEW_ACCOUNT, {"method": "POST",
                                      "url": f"{API}/sobjects/Contact", "body": {}},
                        NEW_ACCOUNT, all_or_none=True)),
    Case("composite batch over 25", "POST", f"{COMPOSITE}/batch", 400,
         "LIMIT_EXCEEDED", headers=JSON, message="at most 25 subrequests",
         body=json.dumps({"batchRequests": [{"method": "GET", "url": "v62.0/limits"}]
                          * 26}).encode()),
    Case("sObject Tree not emulated", "POST", f"{COMPOSITE}/tree/Account", 400,
         "FUNCTIONALITY_NOT_ENABLED", body=b'{"records": []}', headers=JSON,
         message="sObject Tree"),
    # sObject Collections
    Case("collection over 200 records", "POST", COLLECTION, 400, "EXCEEDED_ID_LIMIT",
         body=collection(*[{"Name": "A"}] * 201), headers=JSON,
         message="cannot submit more than 200 records into this call"),
    Case("unknown field in a collection record", "POST", COLLECTION, 200,
         "INVALID_FIELD", body=collection({"Name": "A", "Colour__c": "red"}),
         headers=JSON, message="No such column 'Colour__c' on sobject of type Account"),
    Case("field not writable in a collection", "POST", COLLECTION, 200,
         "INVALID_FIELD_FOR_INSERT_UPDATE", headers=JSON, fields=["CreatedDate"],
         body=collection({"Name": "A", "CreatedDate": "2020-01-01T00:00:00Z"})),
    Case("wrong type in a collection", "POST", COLLECTION, 200, "JSON_PARSER_ERROR",
         body=collection({"Name": "A", "AnnualRevenue": "lots"}), headers=JSON,
         message="Cannot deserialize instance of double"),
    Case("collection allOrNone rollback leaves nothing written", "POST", COLLECTION,
         200, "REQUIRED_FIELD_MISSING", headers=JSON, all_or_none_body=True,
         body=collection({"Name": "A"}, {"Rating": "Hot"}, all_or_none=True)),
    Case("collection update without Id", "PATCH", COLLECTION, 200, "MISSING_ARGUMENT",
         body=collection({"Name": "A"}), headers=JSON,
         message="Id not specified in an update call"),
    Case("collection delete of a malformed id", "DELETE", COLLECTION, 200,
         "MALFORMED_ID", params={"ids": "nonsense"}, message="malformed id nonsense"),
    Case("collection retrieve of an unknown field", "GET",
         f"{COLLECTION}/Account", 400, "INVALID_FIELD",
         params={"ids": "{account_id}", "fields": "Name,Revenue"}),
]  # fmt: skip


def nested(depth: int) -> bytes:
    """An Account body whose Description is a JSON array ``depth`` levels deep."""
    return b'{"Name": "N", "Description": ' + b"[" * depth + b"]" * depth + b"}"


def long_query(length: int) -> str:
    """A valid query padded with spaces to ``length`` characters."""
    text = "SELECT Id FROM Account WHERE Name = 'x'"
    return text + " " * (length - len(text))


CASES += [
    # Values no field and no JSON parser can hold (none may reach the store)
    Case("int beyond the field's digits", "POST", ACCOUNTS, 400,
         "NUMBER_OUTSIDE_VALID_RANGE", headers=JSON, fields=["NumberOfEmployees"],
         body=b'{"Name": "n", "NumberOfEmployees": 99999999999999999999999999}',
         message="Employees: value outside of valid range on numeric field: 9999"),
    Case("currency beyond its precision", "PATCH", ACCOUNT, 400,
         "NUMBER_OUTSIDE_VALID_RANGE", headers=JSON, fields=["AnnualRevenue"],
         body=b'{"AnnualRevenue": 1e18}',
         message="Annual Revenue: value outside of valid range on numeric field"),
    Case("number beyond a double", "POST", ACCOUNTS, 400,
         "NUMBER_OUTSIDE_VALID_RANGE", headers=JSON,
         body=b'{"Name": "n", "AnnualRevenue": 1e400}',
         message="value outside of valid range on numeric field: 1e400"),
    Case("NaN is not JSON", "POST", ACCOUNTS, 400, "JSON_PARSER_ERROR", headers=JSON,
         body=b'{"Name": "n", "AnnualRevenue": NaN}',
         message="Non-standard token 'NaN'"),
    Case("Infinity in a composite body", "POST", COMPOSITE, 400, "JSON_PARSER_ERROR",
         headers=JSON, message="Non-standard token '-Infinity'",
         body=b'{"compositeRequest": [{"method": "POST", "url": "%s", '
         b'"referenceId": "a", "body": {"Name": "n", "AnnualRevenue": -Infinity}}]}'
         % ACCOUNTS.encode()),
    Case("number over 1,000 characters", "POST", ACCOUNTS, 400, "JSON_PARSER_ERROR",
         headers=JSON, body=b'{"Name": "n", "AnnualRevenue": 1' + b"0" * 1000 + b"}",
         message="Number value length (1001) exceeds the maximum allowed (1000"),
    Case("lone surrogate in a string", "POST", ACCOUNTS, 400, "JSON_PARSER_ERROR",
         body=b'{"Name": "bad \\ud800 x"}', headers=JSON,
         message="unpaired surrogate \\ud800"),
    Case("JSON nested 1,000 deep", "POST", ACCOUNTS, 400, "JSON_PARSER_ERROR",
         body=nested(1000), headers=JSON,
         message="Document nesting depth (501) exceeds the maximum allowed (500"),
    Case("composite nested 1,000 deep", "POST", COMPOSITE, 400, "JSON_PARSER_ERROR",
         body=b'{"compositeRequest": ' + b"[" * 1000 + b"]" * 1000 + b"}",
         headers=JSON, message="Document nesting depth"),
    soql("LAST_N_DAYS past a Java int",
         "SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS:999999999999", 400,
         "MALFORMED_QUERY", "ERROR at Row:1:Column:44\nNumber too large in "
         "'LAST_N_DAYS:999999999999'"),
    soql("LAST_N_DAYS past year 1",
         "SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS:2000000000", 400,
         "MALFORMED_QUERY", "years 1 to 9999"),
    soql("number literal beyond a double",
         "SELECT Id FROM Account WHERE AnnualRevenue > 1" + "0" * 400, 400,
         "NUMBER_OUTSIDE_VALID_RANGE", "ERROR at Row:1:Column:46\nNumber outside"),
    soql("LIMIT of 5,000 digits", "SELECT Id FROM Account LIMIT " + "9" * 5000, 400,
         "MALFORMED_QUERY", "the largest allowed is 2147483647"),
    soql("lone surrogate in a SOQL string",
         "SELECT Id FROM Account WHERE Name = '\\ud800'", 400, "MALFORMED_QUERY",
         "Unpaired surrogate"),
    # A query too long for a URL (414 on the platform) goes in a composite body.
    Case("SOQL over 100,000 characters", "POST", COMPOSITE, 200, "MALFORMED_QUERY",
         headers=JSON, body=composite({"method": "GET",
                                       "url": f"{API}/query?q={long_query(100_001)}"}),
         message="SOQL statements can not be longer than 100000 characters"),
]  # fmt: skip


def the_error(answer: Any, all_or_none: bool) -> dict[str, Any]:
    """The one error a response reports, from any of the API's error shapes: an
    error array, a SaveResult array (``statusCode``) or a composite response.

    With allOrNone, every other record or subrequest must report the rollback."""
    if isinstance(answer, dict) and "compositeResponse" in answer:
        bodies = [r["body"][0] for r in answer["compositeResponse"]]
        real = [b for b in bodies if b["errorCode"] != "PROCESSING_HALTED"] or bodies
        if all_or_none:
            assert len(real) == 1 and len(bodies) > 1, answer
        return real[0]
    if isinstance(answer, list) and answer and "success" in answer[0]:
        failed = [e for r in answer if not r["success"] for e in r["errors"]]
        rolled = "ALL_OR_NONE_OPERATION_ROLLED_BACK"
        real = [e for e in failed if e["statusCode"] != rolled]
        if all_or_none:
            assert len(real) == 1 and len(failed) == len(answer) > 1, answer
        assert len(real) == 1, answer
        error = dict(real[0])
        error["errorCode"] = error.pop("statusCode")
        return error
    assert isinstance(answer, list) and len(answer) == 1, answer
    return answer[0]


@pytest.mark.parametrize(
    ("units", "reason"),
    [
        ({"hours": 1e20}, "at most 999,999,999 days"),
        ({"seconds": float("nan")}, "finite step"),
        ({"days": float("inf")}, "finite step"),
        ({"days": 999_999_999}, "cannot pass 9999-12-31"),
    ],
)
def test_clock_refuses_steps_it_cannot_take(
    sandbox: Sandbox, units: dict[str, float], reason: str
) -> None:
    before = sandbox.clock.now()
    with pytest.raises(ValueError, match=reason):
        sandbox.clock.advance(**units)
    assert sandbox.clock.now() == before


def test_long_or_chain_runs(sandbox: Sandbox, api: httpx.Client) -> None:
    """2,000 OR terms (35 kB of SOQL, sent in a composite body) run, as on the
    platform, where SQLite alone would refuse an expression 2,000 deep."""
    first = "SELECT Name FROM Account ORDER BY Name LIMIT 1"
    name = api.get(f"{API}/query", params={"q": first}).json()["records"][0]["Name"]
    terms = " OR ".join(f"Name = 'n{i}'" for i in range(2000))
    q = f"SELECT Name FROM Account WHERE {terms} OR Name = '{name}' ORDER BY Name"
    before = fingerprint(sandbox)
    body = composite({"method": "GET", "url": f"{API}/query?q={q}"})
    answer = api.post(COMPOSITE, content=body, headers=JSON).json()
    result = answer["compositeResponse"][0]
    assert result["httpStatusCode"] == 200, result
    assert [r["Name"] for r in result["body"]["records"]][:1] == [name]
    assert fingerprint(sandbox) == before


def test_responses_are_strict_json() -> None:
    """A non-finite number can never go out as ``NaN`` or ``Infinity``."""
    with pytest.raises(ValueError, match="not JSON compliant"):
        SalesforceJSONResponse({"AnnualRevenue": float("inf")})


def fingerprint(sandbox: Sandbox) -> str:
    """A digest of every stored row: equal digests mean nothing changed."""
    store = sandbox.org.store
    with store.lock:
        dump = "\n".join(store.conn.iterdump())
    return hashlib.sha256(dump.encode()).hexdigest()


@pytest.fixture(scope="module", autouse=True)
def apex_rest_service(sandbox: Sandbox) -> None:
    """An Apex REST class with typed parameters that inserts two Leads (one bad)."""

    @sandbox.org.rest_resource("/BadInput/*")
    class BadInput:
        @staticmethod
        def http_post(context, lastName, company=None):
            context.insert(
                "Lead",
                [{"LastName": lastName, "Company": "C"}, {"LastName": lastName}],
            )


@pytest.fixture(scope="module")
def ids(sandbox: Sandbox, api: httpx.Client) -> dict[str, str]:
    def first(object_name: str) -> str:
        q = f"SELECT Id FROM {object_name} LIMIT 1"
        return api.get(f"{API}/query", params={"q": q}).json()["records"][0]["Id"]

    doomed = api.post(ACCOUNTS, json={"Name": "Doomed"}).json()["id"]
    assert api.delete(f"{API}/sobjects/Account/{doomed}").status_code == 204
    return {
        "account_id": first("Account"),
        "contact_id": first("Contact"),
        "user_id": sandbox.org.user_id,
        "deleted_id": doomed,
        "client_id": sandbox.org.client_id,
        **jwt_assertions(sandbox),
    }


def jwt_assertions(sandbox: Sandbox) -> dict[str, str]:
    """JWT bearer assertions that fail: expired, forged, for another audience."""
    key, _ = sandbox.org.connected_app_certificate()
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = sandbox.clock.now()
    claims = {
        "iss": sandbox.org.client_id,
        "sub": "integration@sfsandbox.example",
        "aud": "https://login.salesforce.com",
        "exp": int((now + timedelta(minutes=3)).timestamp()),
    }
    expired = {**claims, "exp": int((now - timedelta(minutes=1)).timestamp())}
    elsewhere = {**claims, "aud": "https://example.my.salesforce.com"}
    return {
        "expired_jwt": jwt.encode(expired, key, algorithm="RS256"),
        "forged_jwt": jwt.encode(claims, forger, algorithm="RS256"),
        "wrong_audience_jwt": jwt.encode(elsewhere, key, algorithm="RS256"),
    }


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(
    case: Case, sandbox: Sandbox, token: str, ids: dict[str, str]
) -> None:
    headers = dict(case.headers)
    if case.token is None:
        headers["Authorization"] = f"Bearer {token}"
    elif case.token is not NO_TOKEN:
        headers["Authorization"] = case.token
    body = case.body
    if body is not None:
        for key, value in ids.items():
            body = body.replace(b"{" + key.encode() + b"}", value.encode())
    path = case.path.format(**ids)
    params = dict(case.params)
    for key, value in ids.items():
        params = {k: v.replace("{" + key + "}", value) for k, v in params.items()}

    before = fingerprint(sandbox)
    with httpx.Client(
        verify=ssl.create_default_context(cafile=sandbox.ca_file), trust_env=False
    ) as client:
        response = client.request(
            case.method,
            sandbox.org.instance_url + path,
            content=body,
            headers=headers,
            params=params,
        )
    assert fingerprint(sandbox) == before, "a rejected request changed stored data"

    assert response.status_code == case.status, response.text
    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()
    if case.code.islower():  # OAuth errors: {"error", "error_description"}
        assert answer["error"] == case.code
        assert case.message in answer["error_description"]
        return
    error = the_error(answer, case.all_or_none_body)
    assert error["errorCode"] == case.code
    assert case.message in error["message"]
    if case.fields is not None:
        assert error["fields"] == case.fields
    if case.status == 401:
        assert response.headers["www-authenticate"] == "Token"
