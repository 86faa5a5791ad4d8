"""simple-salesforce, a real client, works against the sandbox unchanged.

It builds its own URLs (``https://<instance>/services/data/v62.0/...``), reads the
platform's JSON and headers, and maps status codes to its own exceptions.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from sfsandbox import Sandbox


def connect(sandbox: Sandbox, token: str) -> Salesforce:
    org = sandbox.org
    return Salesforce(
        session_id=token,
        instance_url=org.instance_url,
        session=org.requests_session(),
        version="62.0",
    )


@pytest.fixture(scope="module")
def sf(sandbox: Sandbox, token: str) -> Salesforce:
    return connect(sandbox, token)


def test_query_and_query_all_follow_next_records_url(
    sandbox: Sandbox, sf: Salesforce
) -> None:
    total = sandbox.org.store.count(sandbox.org.schema.get("Contact"))
    assert total > 2000
    first = sf.query("SELECT Id, Name FROM Contact")
    assert first["totalSize"] == total
    assert first["done"] is False and len(first["records"]) == 2000

    everything = sf.query_all("SELECT Id, Name FROM Contact")
    assert len(everything["records"]) == total
    assert len({r["Id"] for r in everything["records"]}) == total


def test_create_get_update_delete(sf: Salesforce) -> None:
    created = sf.Account.create({"Name": "Simple Co", "Industry": "Retail"})
    assert created["success"] is True
    account_id = created["id"]
    assert sf.Account.get(account_id)["Name"] == "Simple Co"
    assert sf.Account.update(account_id, {"Rating": "Hot"}) == 204
    assert sf.Account.get(account_id)["Rating"] == "Hot"
    assert sf.Account.delete(account_id) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(account_id)


def test_upsert_by_external_id(sf: Salesforce) -> None:
    data = {"LastName": "Upsert", "Company": "Simple Co", "Email": "up@example.org"}
    assert sf.Lead.upsert("External_Id__c/SS-1", data) == 201
    assert sf.Lead.upsert("External_Id__c/SS-1", {"Title": "CTO"}) == 200
    lead = sf.Lead.get_by_custom_id("External_Id__c", "SS-1")
    assert lead["Title"] == "CTO"
    assert lead["Email"] == "up@example.org"


def test_usage_header_is_parsed(sf: Salesforce) -> None:
    sf.query("SELECT Id FROM Account LIMIT 1")
    usage = sf.api_usage["api-usage"]
    assert usage.total == 15_000
    assert 0 < usage.used < usage.total
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 15_000


def test_several_matches_raise_more_than_one_record(sf: Salesforce) -> None:
    for name in ("Same A", "Same B"):
        sf.Contact.create({"LastName": name, "Email": "same@example.org"})
    with pytest.raises(SalesforceMoreThanOneRecord) as raised:
        sf.Contact.upsert("Email/same@example.org", {"Title": "Twin"})
    assert raised.value.status == 300
    assert len(raised.value.content) == 2


def test_bad_input_raises_malformed_request(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Contact.create({"FirstName": "No last name"})
    assert raised.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Lead.create({"LastName": "Web", "Company": "C", "LeadSource": "Web"})
    assert raised.value.content[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"


def test_unknown_object_raises_resource_not_found(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        sf.Widget__c.describe()


def test_forged_token_raises_expired_session(sandbox: Sandbox) -> None:
    forged = connect(sandbox, "00Dxx0000000001!forged")
    with pytest.raises(SalesforceExpiredSession):
        forged.query("SELECT Id FROM Account")


@pytest.fixture()
def small_allocation(sandbox: Sandbox) -> Iterator[None]:
    limits = sandbox.org.limits
    saved = limits.daily_api_requests
    limits.daily_api_requests = limits.api_requests_used
    yield
    limits.daily_api_requests = saved


def test_spent_allocation_raises_refused_request(
    sf: Salesforce, small_allocation: None
) -> None:
    with pytest.raises(SalesforceRefusedRequest) as raised:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert raised.value.status == 403
    assert raised.value.content == [
        {
            "message": "TotalRequests Limit exceeded.",
            "errorCode": "REQUEST_LIMIT_EXCEEDED",
        }
    ]


def test_expired_session_raises_with_the_array_body() -> None:
    # A sandbox of its own: moving its clock must not expire the module's token.
    with Sandbox.start(seed=0) as sandbox:
        sf = connect(sandbox, sandbox.org.access_token())
        assert sf.query("SELECT Id FROM Lead LIMIT 1")["totalSize"] == 1

        sandbox.clock.advance(sandbox.org.session_timeout * 2)
        with pytest.raises(SalesforceExpiredSession) as raised:
            sf.query("SELECT Id FROM Lead LIMIT 1")
        assert raised.value.status == 401
        assert raised.value.content == [
            {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
        ]


def test_apexecute_calls_an_apex_rest_service(sandbox: Sandbox, sf: Salesforce) -> None:
    @sandbox.org.rest_resource("/Echo/*")
    class Echo:
        @staticmethod
        def http_post(context, word):
            return {"word": word, "path": context.request.requestURI}

        @staticmethod
        def http_get(context):
            return context.request.params

    try:
        answer = sf.apexecute("Echo/hello", method="POST", data={"word": "hi"})
        assert answer == {"word": "hi", "path": "/Echo/hello"}
        assert sf.apexecute("Echo/x?a=1", method="GET") == {"a": "1"}
        with pytest.raises(SalesforceResourceNotFound):
            sf.apexecute("Nowhere", method="GET")
    finally:
        sandbox.org.unregister_rest_resource("/Echo/*")
