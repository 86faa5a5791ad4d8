"""The REST API for Remote Call-In: upsert by external ID, API limits, composite,
sObject Collections, and the Lead validation and duplicate rules."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx
import pytest

from sfsandbox import Sandbox

API = "/services/data/v62.0"


def lead(last: str, email: str | None = None, **more: object) -> dict[str, object]:
    values: dict[str, object] = {"LastName": last, "Company": "Kettle & Co", **more}
    if email:
        values["Email"] = email
    return values


def count(api: httpx.Client, soql: str) -> int:
    return api.get(f"{API}/query", params={"q": soql}).json()["totalSize"]


# --- upsert and access by external ID ---------------------------------------------


def test_upsert_creates_then_updates_by_external_id(api: httpx.Client) -> None:
    url = f"{API}/sobjects/Lead/External_Id__c/WEB-1001"
    created = api.patch(url, json=lead("Okafor", "ada.okafor@example.org"))
    assert created.status_code == 201
    body = created.json()
    assert body == {"id": body["id"], "success": True, "errors": [], "created": True}
    assert created.headers["location"] == f"{API}/sobjects/Lead/{body['id']}"

    # The match ignores case, as external ID text fields do by default.
    updated = api.patch(url.lower(), json={"Title": "CFO"})
    assert updated.status_code == 200
    assert updated.json() == {
        "id": body["id"],
        "success": True,
        "errors": [],
        "created": False,
    }

    record = api.get(url, params={"fields": "Title,External_Id__c"})
    assert record.status_code == 200
    assert record.json() == {
        "attributes": {"type": "Lead", "url": f"{API}/sobjects/Lead/{body['id']}"},
        "Id": body["id"],
        "Title": "CFO",
        "External_Id__c": "WEB-1001",
    }


def test_upsert_on_api_45_answers_204_for_an_update(api: httpx.Client) -> None:
    old = "/services/data/v45.0/sobjects/Account/External_Id__c/ERP-77"
    created = api.patch(old, json={"Name": "Old Client Ltd"})
    assert created.status_code == 201
    assert "created" not in created.json()
    updated = api.patch(old, json={"Rating": "Warm"})
    assert updated.status_code == 204
    assert updated.content == b""


def test_several_matches_answer_300_with_the_record_urls(api: httpx.Client) -> None:
    ids = [
        api.post(
            f"{API}/sobjects/Contact", json={"LastName": n, "Email": "twin@example.org"}
        ).json()["id"]
        for n in ("Twin A", "Twin B")
    ]
    url = f"{API}/sobjects/Contact/Email/twin@example.org"
    before = count(api, "SELECT Id FROM Contact")

    answer = api.patch(url, json={"Title": "Engineer"})
    assert answer.status_code == 300
    assert sorted(answer.json()) == sorted(f"{API}/sobjects/Contact/{i}" for i in ids)
    assert api.get(url).status_code == 300
    assert count(api, "SELECT Id FROM Contact WHERE Title = 'Engineer'") == 0
    assert count(api, "SELECT Id FROM Contact") == before


def test_idlookup_email_finds_one_record_but_is_not_an_external_id(
    api: httpx.Client,
) -> None:
    fields = {
        f["name"]: f for f in api.get(f"{API}/sobjects/Lead/describe").json()["fields"]
    }
    assert fields["Email"]["idLookup"] is True
    assert fields["Email"]["externalId"] is False
    assert fields["External_Id__c"]["externalId"] is True
    assert fields["External_Id__c"]["unique"] is True
    assert fields["External_Id__c"]["custom"] is True

    lead_id = api.post(
        f"{API}/sobjects/Lead", json=lead("Moreau", "c.moreau@example.org")
    ).json()["id"]
    found = api.get(f"{API}/sobjects/Lead/Email/C.Moreau@example.org")
    assert found.json()["Id"] == lead_id


@pytest.mark.parametrize("field", ["Name", "Nope__c"])
def test_a_field_that_is_not_an_external_id_is_404(
    api: httpx.Client, field: str
) -> None:
    answer = api.patch(f"{API}/sobjects/Account/{field}/Acme", json={"Rating": "Hot"})
    assert answer.status_code == 404
    assert answer.json() == [
        {
            "message": "Provided external ID field does not exist or is not "
            f"accessible: {field}",
            "errorCode": "NOT_FOUND",
        }
    ]


def test_update_only_never_creates(api: httpx.Client) -> None:
    url = f"{API}/sobjects/Account/External_Id__c/ERP-NEW"
    missing = api.patch(url, params={"updateOnly": "true"}, json={"Name": "Nobody"})
    assert missing.status_code == 404
    assert missing.json()[0]["errorCode"] == "NOT_FOUND"
    assert count(api, "SELECT Id FROM Account WHERE Name = 'Nobody'") == 0

    api.patch(url, json={"Name": "Somebody"})
    updated = api.patch(url, params={"updateOnly": "true"}, json={"Rating": "Cold"})
    assert updated.status_code == 200 and updated.json()["created"] is False


def test_external_id_in_the_body_must_match_the_url(api: httpx.Client) -> None:
    url = f"{API}/sobjects/Account/External_Id__c/ERP-9"
    same = api.patch(url, json={"Name": "Nine", "External_Id__c": "erp-9"})
    assert same.status_code == 201
    other = api.patch(url, json={"Name": "Nine", "External_Id__c": "ERP-10"})
    assert other.status_code == 400
    assert other.json()[0]["errorCode"] == "INVALID_FIELD"
    assert api.get(f"{API}/sobjects/Account/External_Id__c/ERP-10").status_code == 404


def test_external_id_is_unique(api: httpx.Client) -> None:
    first = api.post(
        f"{API}/sobjects/Account", json={"Name": "U1", "External_Id__c": "UNIQ-1"}
    ).json()["id"]
    second = api.post(
        f"{API}/sobjects/Account", json={"Name": "U2", "External_Id__c": "uniq-1"}
    )
    assert second.status_code == 400
    error = second.json()[0]
    assert error["errorCode"] == "DUPLICATE_VALUE"
    assert error["message"] == (
        "duplicate value found: External_Id__c duplicates value on record with id: "
        f"{first}"
    )


def test_delete_by_external_id(api: httpx.Client) -> None:
    url = f"{API}/sobjects/Account/External_Id__c/ERP-DEL"
    api.patch(url, json={"Name": "Short-lived"})
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404


# --- API request allocation ---------------------------------------------------------


@pytest.fixture()
def small_org() -> Iterator[tuple[Sandbox, httpx.Client]]:
    """A sandbox of its own, so spending its allocation touches no other test."""
    with Sandbox.start(seed=1) as running:
        token = running.org.access_token()
        with httpx.Client(
            base_url=running.org.instance_url,
            verify=ssl.create_default_context(cafile=running.ca_file),
            trust_env=False,
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            yield running, client


def usage(response: httpx.Response) -> tuple[int, int]:
    used, _, most = (
        response.headers["sforce-limit-info"].removeprefix("api-usage=").partition("/")
    )
    return int(used), int(most)


def test_every_data_request_counts_and_reports_usage(
    small_org: tuple[Sandbox, httpx.Client],
) -> None:
    sandbox, client = small_org
    first = client.get(f"{API}/sobjects/")
    used, most = usage(first)
    assert most == 15_000  # a Developer Edition org's daily allocation
    assert usage(client.get(f"{API}/query", params={"q": "SELECT Id FROM Lead"})) == (
        used + 1,
        most,
    )
    # Errors count too; the version list and the token endpoint do not.
    assert usage(client.get(f"{API}/sobjects/Nope")) == (used + 2, most)
    assert "sforce-limit-info" not in client.get("/services/data/").headers
    sandbox.org.access_token()
    limits = client.get(f"{API}/limits")
    assert usage(limits) == (used + 3, most)
    body = limits.json()
    assert body["DailyApiRequests"] == {"Max": 15_000, "Remaining": 15_000 - used - 3}
    assert body["DailyBulkV2QueryJobs"]["Max"] == 10_000
    assert body["DailyAsyncApexExecutions"]["Max"] == 250_000
    assert list(body) == sorted(body)


def test_spent_allocation_answers_403_until_the_window_rolls(
    small_org: tuple[Sandbox, httpx.Client],
) -> None:
    sandbox, client = small_org
    sandbox.org.limits.daily_api_requests = 3
    for _ in range(3 - sandbox.org.limits.api_requests_used):
        assert client.get(f"{API}/limits").status_code == 200

    refused = client.post(f"{API}/sobjects/Account", json={"Name": "Too many"})
    assert refused.status_code == 403
    assert refused.json() == [
        {
            "message": "TotalRequests Limit exceeded.",
            "errorCode": "REQUEST_LIMIT_EXCEEDED",
        }
    ]
    assert refused.headers["sforce-limit-info"] == "api-usage=3/3"
    assert sandbox.org.store.count(sandbox.org.schema.get("Account")) == 600

    # A new token each time: a session ends after two idle hours.
    sandbox.clock.advance(hours=23, minutes=59)
    fresh = {"Authorization": f"Bearer {sandbox.org.access_token()}"}
    assert client.get(f"{API}/limits", headers=fresh).status_code == 403
    sandbox.clock.advance(minutes=2)
    again = client.get(f"{API}/limits", headers=fresh)
    assert again.status_code == 200
    assert again.json()["DailyApiRequests"] == {"Max": 3, "Remaining": 2}


def test_a_composite_request_counts_once(
    small_org: tuple[Sandbox, httpx.Client],
) -> None:
    _, client = small_org
    used, _ = usage(client.get(f"{API}/limits"))
    answer = client.post(
        f"{API}/composite",
        json={
            "compositeRequest": [
                {"method": "GET", "url": f"{API}/limits", "referenceId": f"r{i}"}
                for i in range(3)
            ]
        },
    )
    assert usage(answer)[0] == used + 1


# --- Composite ------------------------------------------------------------------------


def test_composite_passes_references_between_subrequests(api: httpx.Client) -> None:
    answer = api.post(
        f"{API}/composite",
        json={
            "allOrNone": True,
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": f"{API}/sobjects/Account",
                    "referenceId": "newAccount",
                    "body": {"Name": "Composite Bakery"},
                },
                {
                    "method": "POST",
                    "url": f"{API}/sobjects/Contact",
                    "referenceId": "newContact",
                    "body": {"LastName": "Baker", "AccountId": "@{newAccount.id}"},
                },
                {
                    "method": "GET",
                    "url": f"{API}/query?q=SELECT+Id,Name+FROM+Contact+WHERE+"
                    "AccountId='@{newAccount.id}'",
                    "referenceId": "contacts",
                },
                {
                    "method": "PATCH",
                    "url": f"{API}/sobjects/Contact/@{{contacts.records[0].Id}}",
                    "referenceId": "retitle",
                    "body": {"Title": "Head Baker"},
                },
            ],
        },
    )
    assert answer.status_code == 200
    results = answer.json()["compositeResponse"]
    assert [r["referenceId"] for r in results] == [
        "newAccount", "newContact", "contacts", "retitle",
    ]  # fmt: skip
    assert [r["httpStatusCode"] for r in results] == [201, 201, 200, 204]
    account_id = results[0]["body"]["id"]
    assert results[0]["httpHeaders"] == {
        "Location": f"{API}/sobjects/Account/{account_id}"
    }
    assert results[2]["body"]["records"][0]["Name"] == "Baker"
    assert results[3]["body"] is None
    contact = api.get(f"{API}/sobjects/Contact/{results[1]['body']['id']}").json()
    assert contact["AccountId"] == account_id
    assert contact["Title"] == "Head Baker"


def test_composite_all_or_none_rolls_everything_back(api: httpx.Client) -> None:
    before = count(api, "SELECT Id FROM Account WHERE Name LIKE 'Rollback%'")
    answer = api.post(
        f"{API}/composite",
        json={
            "allOrNone": True,
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": f"{API}/sobjects/Account",
                    "referenceId": "good",
                    "body": {"Name": "Rollback Ltd"},
                },
                {
                    "method": "POST",
                    "url": f"{API}/sobjects/Contact",
                    "referenceId": "bad",
                    "body": {"FirstName": "No last name"},
                },
                {
                    "method": "POST",
                    "url": f"{API}/sobjects/Account",
                    "referenceId": "after",
                    "body": {"Name": "Rollback Two"},
                },
            ],
        },
    ).json()["compositeResponse"]
    halted = [
        {
            "message": "The transaction was rolled back since another operation in "
            "the same transaction failed.",
            "errorCode": "PROCESSING_HALTED",
        }
    ]
    assert [(r["httpStatusCode"], r["body"]) for r in answer] == [
        (400, halted),
        (400, answer[1]["body"]),
        (400, halted),
    ]
    assert answer[1]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert count(api, "SELECT Id FROM Account WHERE Name LIKE 'Rollback%'") == before


def test_composite_all_or_none_overrides_a_partial_collection(
    api: httpx.Client,
) -> None:
    """The docs' case: outer allOrNone true, inner false, one record fails."""
    answer = api.post(
        f"{API}/composite",
        json={
            "allOrNone": True,
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": f"{API}/composite/sobjects",
                    "referenceId": "collection1",
                    "body": {
                        "allOrNone": False,
                        "records": records(
                            lead("Case Four", "case.four@example.org"),
                            lead("Case Four", "CASE.FOUR@example.org"),
                        ),
                    },
                },
                {
                    "method": "POST",
                    "url": f"{API}/sobjects/Contact",
                    "referenceId": "newContact",
                    "body": {"FirstName": "John", "LastName": "Smith-Four"},
                },
            ],
        },
    ).json()["compositeResponse"]
    collection, contact = answer
    assert collection["httpStatusCode"] == 200
    assert collection["body"][0]["success"] is True
    assert collection["body"][1]["errors"][0]["statusCode"] == "DUPLICATES_DETECTED"
    assert contact["httpStatusCode"] == 400
    assert contact["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert count(api, "SELECT Id FROM Lead WHERE LastName = 'Case Four'") == 0
    assert count(api, "SELECT Id FROM Contact WHERE LastName = 'Smith-Four'") == 0


def test_composite_without_all_or_none_skips_only_dependants(
    api: httpx.Client,
) -> None:
    answer = api.post(
        f"{API}/composite",
        json={
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": f"{API}/sobjects/Account",
                    "referenceId": "broken",
                    "body": {"Name": "x" * 300},
                },
                {
                    "method": "POST",
                    "url": f"{API}/sobjects/Contact",
                    "referenceId": "child",
                    "body": {"LastName": "Orphan", "AccountId": "@{broken.id}"},
                },
                {
                    "method": "POST",
                    "url": f"{API}/sobjects/Account",
                    "referenceId": "independent",
                    "body": {"Name": "Independent Ltd"},
                },
            ]
        },
    ).json()["compositeResponse"]
    assert [r["httpStatusCode"] for r in answer] == [400, 400, 201]
    assert answer[0]["body"][0]["errorCode"] == "STRING_TOO_LONG"
    assert answer[1]["body"] == [
        {
            "message": "Invalid reference specified. No value for broken.id found in "
            "broken. Provided referenceId ('broken.id') must start with a letter or a "
            "number, and it can contain only letters, numbers and underscores ('_').",
            "errorCode": "PROCESSING_HALTED",
        }
    ]
    assert count(api, "SELECT Id FROM Account WHERE Name = 'Independent Ltd'") == 1


def test_composite_batch_runs_independent_subrequests(api: httpx.Client) -> None:
    account_id = api.post(f"{API}/sobjects/Account", json={"Name": "Batch Co"}).json()[
        "id"
    ]
    answer = api.post(
        f"{API}/composite/batch",
        json={
            "batchRequests": [
                {
                    "method": "PATCH",
                    "url": f"v62.0/sobjects/Account/{account_id}",
                    "richInput": {"Rating": "Hot"},
                },
                {"method": "GET", "url": "v62.0/sobjects/Widget__c/describe"},
                {
                    "method": "GET",
                    "url": f"v62.0/sobjects/Account/{account_id}?fields=Rating",
                },
            ]
        },
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["hasErrors"] is True
    assert [r["statusCode"] for r in body["results"]] == [204, 404, 200]
    assert body["results"][0]["result"] is None
    assert body["results"][2]["result"]["Rating"] == "Hot"


def test_composite_batch_halts_on_error_when_asked(api: httpx.Client) -> None:
    body = api.post(
        f"{API}/composite/batch",
        json={
            "haltOnError": True,
            "batchRequests": [
                {"method": "GET", "url": "v62.0/sobjects/Widget__c/describe"},
                {"method": "GET", "url": "v62.0/limits"},
            ],
        },
    ).json()
    assert [r["statusCode"] for r in body["results"]] == [404, 412]
    assert body["results"][1]["result"][0]["errorCode"] == "BATCH_PROCESSING_HALTED"


def test_composite_lists_its_resources_and_names_the_missing_ones(
    api: httpx.Client,
) -> None:
    assert set(api.get(f"{API}/composite").json()) == {
        "tree", "batch", "sobjects", "graph",
    }  # fmt: skip
    graph = api.post(f"{API}/composite/graph", json={"graphs": []})
    assert graph.status_code == 400
    assert graph.json()[0]["errorCode"] == "FUNCTIONALITY_NOT_ENABLED"


# --- sObject Collections -------------------------------------------------------------


def records(*values: dict[str, object], kind: str = "Lead") -> list[dict[str, object]]:
    return [{"attributes": {"type": kind}, **v} for v in values]


def test_collection_create_reports_each_record(api: httpx.Client) -> None:
    answer = api.post(
        f"{API}/composite/sobjects",
        json={
            "records": records(
                lead("Col One", "col.one@example.org"),
                lead("Col Two", "col.two@example.org", Colour__c="red"),
                lead("Col Three", "col.three@example.org"),
            )
        },
    )
    assert answer.status_code == 200
    first, second, third = answer.json()
    assert first["success"] is True and first["errors"] == []
    assert second == {
        "success": False,
        "errors": [
            {
                "statusCode": "INVALID_FIELD",
                "message": "No such column 'Colour__c' on sobject of type Lead",
                "fields": [],
            }
        ],
    }
    assert third["success"] is True
    assert count(api, "SELECT Id FROM Lead WHERE LastName LIKE 'Col %'") == 2


def test_collection_all_or_none_rolls_back_every_record(api: httpx.Client) -> None:
    answer = api.post(
        f"{API}/composite/sobjects",
        json={
            "allOrNone": True,
            "records": records(
                lead("Aon One", "aon.one@example.org"),
                lead("Aon Two", "not-an-email"),
            ),
        },
    ).json()
    assert answer[0] == {
        "success": False,
        "errors": [
            {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and "
                "the request was using AllOrNone header",
                "fields": [],
            }
        ],
    }
    assert answer[1]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"
    assert count(api, "SELECT Id FROM Lead WHERE LastName LIKE 'Aon %'") == 0


def test_collection_update_retrieve_upsert_and_delete(api: httpx.Client) -> None:
    created = api.post(
        f"{API}/composite/sobjects",
        json={
            "records": records(
                {"Name": "Coll A", "External_Id__c": "COLL-A"},
                {"Name": "Coll B"},
                kind="Account",
            )
        },
    ).json()
    a, b = (r["id"] for r in created)

    updated = api.patch(
        f"{API}/composite/sobjects",
        json={
            "records": records(
                {"Id": a, "Rating": "Hot"}, {"Rating": "Cold"}, kind="Account"
            )
        },
    ).json()
    assert updated[0] == {"id": a, "success": True, "errors": []}
    assert updated[1]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"

    upserted = api.patch(
        f"{API}/composite/sobjects/Account/External_Id__c",
        json={
            "records": records(
                {"External_Id__c": "COLL-A", "Rating": "Warm"},
                {"External_Id__c": "COLL-C", "Name": "Coll C"},
                kind="Account",
            )
        },
    ).json()
    assert [(r["success"], r["created"]) for r in upserted] == [
        (True, False),
        (True, True),
    ]
    assert upserted[0]["id"] == a

    missing = "001000000000000AAA"
    fetched = api.get(
        f"{API}/composite/sobjects/Account",
        params={"ids": f"{a},{missing},{b}", "fields": "Name,rating"},
    ).json()
    assert fetched[1] is None
    assert fetched[0] == {
        "attributes": {"type": "Account", "url": f"{API}/sobjects/Account/{a}"},
        "Name": "Coll A",
        "Rating": "Warm",
    }

    deleted = api.delete(
        f"{API}/composite/sobjects", params={"ids": f"{a},{b},nonsense"}
    ).json()
    assert deleted[:2] == [
        {"id": a, "success": True, "errors": []},
        {"id": b, "success": True, "errors": []},
    ]
    assert deleted[2]["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert api.get(f"{API}/sobjects/Account/{a}").status_code == 404


def test_collection_over_200_records_is_refused_whole(api: httpx.Client) -> None:
    answer = api.post(
        f"{API}/composite/sobjects",
        json={"records": records(*[{"Name": f"Many {i}"} for i in range(201)])},
    )
    assert answer.status_code == 400
    assert answer.json() == [
        {
            "message": "record limit reached. cannot submit more than 200 records "
            "into this call",
            "errorCode": "EXCEEDED_ID_LIMIT",
            "fields": [],
        }
    ]


# --- validation rule and duplicate rule on Lead --------------------------------------


def test_web_lead_needs_email_or_phone(sandbox: Sandbox, api: httpx.Client) -> None:
    refused = api.post(f"{API}/sobjects/Lead", json=lead("Formless", LeadSource="Web"))
    assert refused.status_code == 400
    assert refused.json() == [
        {
            "message": "A web lead needs an email address or a phone number so that "
            "sales can follow up.",
            "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "fields": ["Email"],
        }
    ]
    by_phone = api.post(
        f"{API}/sobjects/Lead", json=lead("Caller", LeadSource="Web", Phone="555-0100")
    )
    assert by_phone.status_code == 201
    # Editing the record so that it breaks the rule is refused too.
    blanked = api.patch(
        f"{API}/sobjects/Lead/{by_phone.json()['id']}", json={"Phone": None}
    )
    assert blanked.json()[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"

    rule = sandbox.org.store.validation_rule("Web_Lead_Needs_Email_Or_Phone")
    rule.active = False
    try:
        assert (
            api.post(
                f"{API}/sobjects/Lead", json=lead("Formless", LeadSource="Web")
            ).status_code
            == 201
        )
    finally:
        rule.active = True


def test_duplicate_rule_blocks_a_lead_with_the_same_email(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    original = api.post(
        f"{API}/sobjects/Lead", json=lead("Nakamura", "k.nakamura@example.org")
    ).json()["id"]
    again = api.post(
        f"{API}/sobjects/Lead", json=lead("Nakamura", "K.Nakamura@Example.org")
    )
    assert again.status_code == 400
    (error,) = again.json()
    assert error["errorCode"] == "DUPLICATES_DETECTED"
    assert error["message"] == "Use one of these records?"
    result = error["duplicateResut"]
    assert result["allowSave"] is False
    assert result["duplicateRuleEntityType"] == "Lead"
    (match,) = result["matchResults"]
    assert [m["record"]["Id"] for m in match["matchRecords"]] == [original]
    assert match["matchRecords"][0]["record"]["attributes"]["url"] == (
        f"{API}/sobjects/Lead/{original}"
    )

    rule = sandbox.org.store.duplicate_rule("Lead_Email_Duplicate_Rule")
    rule.active = False
    try:
        allowed = api.post(
            f"{API}/sobjects/Lead", json=lead("Nakamura", "k.nakamura@example.org")
        )
        assert allowed.status_code == 201
    finally:
        rule.active = True
