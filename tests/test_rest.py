"""The org's REST API on its happy paths: OAuth, describe, CRUD, SOQL and paging."""

from __future__ import annotations

import httpx

from sfsandbox import Sandbox
from sfsandbox.org.ids import is_valid_id

API = "/services/data/v62.0"


def test_versions_need_no_token_and_include_62(sandbox: Sandbox) -> None:
    versions = sandbox.org.http.get("/services/data/").json()
    assert {
        "label": "Winter '25",
        "url": "/services/data/v62.0",
        "version": "62.0",
    } in versions
    assert {
        "label": "Summer '14",
        "url": "/services/data/v31.0",
        "version": "31.0",
    } in versions
    assert versions[-1]["version"] == "62.0"


def test_client_credentials_token_has_the_platform_fields(sandbox: Sandbox) -> None:
    org = sandbox.org
    response = org.http.post(
        "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": org.client_id,
            "client_secret": org.client_secret,
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {
        "access_token", "signature", "scope", "instance_url", "id", "token_type",
        "issued_at",
    }  # fmt: skip
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == org.instance_url
    assert body["id"].endswith(f"/id/{org.org_id}/{org.user_id}")
    assert body["access_token"].startswith(org.org_id[:15] + "!")
    assert "refresh_token" not in body


def test_client_credentials_through_http_basic(sandbox: Sandbox) -> None:
    org = sandbox.org
    response = org.http.post(
        "/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(org.client_id, org.client_secret),
    )
    assert response.status_code == 200


def test_global_describe_lists_objects_with_key_prefixes(api: httpx.Client) -> None:
    body = api.get(f"{API}/sobjects/").json()
    prefixes = {o["name"]: o["keyPrefix"] for o in body["sobjects"]}
    assert prefixes["Account"] == "001"
    assert prefixes["Contact"] == "003"
    assert prefixes["Opportunity"] == "006"
    assert prefixes["Lead"] == "00Q"
    assert body["maxBatchSize"] == 200


def test_object_describe_lists_fields_and_types(api: httpx.Client) -> None:
    body = api.get(f"{API}/sobjects/Opportunity/describe").json()
    fields = {f["name"]: f for f in body["fields"]}
    assert fields["Amount"]["type"] == "currency"
    assert fields["CloseDate"]["type"] == "date"
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert fields["AccountId"]["relationshipName"] == "Account"
    assert fields["Name"]["nillable"] is False
    assert "Closed Won" in [v["value"] for v in fields["StageName"]["picklistValues"]]
    assert api.get(f"{API}/sobjects/account/describe/").json()["name"] == "Account"


def test_create_retrieve_update_delete(api: httpx.Client) -> None:
    created = api.post(
        f"{API}/sobjects/Account/",
        json={"Name": "Kettle & Co", "Industry": "Retail", "AnnualRevenue": 125000},
    )
    assert created.status_code == 201
    body = created.json()
    assert body == {"id": body["id"], "success": True, "errors": []}
    record_id = body["id"]
    assert record_id.startswith("001") and is_valid_id(record_id)

    record = api.get(f"{API}/sobjects/Account/{record_id}").json()
    assert record["attributes"] == {
        "type": "Account",
        "url": f"{API}/sobjects/Account/{record_id}",
    }
    assert record["Name"] == "Kettle & Co"
    assert record["AnnualRevenue"] == 125000.0
    assert record["IsDeleted"] is False
    assert record["CreatedDate"].endswith("+0000")

    # A 15-character ID finds the same record, and ?fields= narrows the answer.
    narrow = api.get(
        f"{API}/sobjects/Account/{record_id[:15]}", params={"fields": "name"}
    )
    assert list(narrow.json()) == ["attributes", "Id", "Name"]

    updated = api.patch(f"{API}/sobjects/Account/{record_id}", json={"Rating": "Hot"})
    assert updated.status_code == 204 and updated.content == b""
    assert api.get(f"{API}/sobjects/Account/{record_id}").json()["Rating"] == "Hot"

    assert api.delete(f"{API}/sobjects/Account/{record_id}").status_code == 204
    gone = api.get(f"{API}/sobjects/Account/{record_id}")
    assert gone.status_code == 404
    assert gone.json()[0]["errorCode"] == "NOT_FOUND"


def test_contact_name_is_computed_and_lookup_checked(api: httpx.Client) -> None:
    account = api.get(f"{API}/query", params={"q": "SELECT Id FROM Account LIMIT 1"})
    account_id = account.json()["records"][0]["Id"]
    created = api.post(
        f"{API}/sobjects/Contact",
        json={"FirstName": "Ada", "LastName": "Byron", "AccountId": account_id},
    )
    assert created.status_code == 201
    contact = api.get(f"{API}/sobjects/Contact/{created.json()['id']}").json()
    assert contact["Name"] == "Ada Byron"
    assert contact["AccountId"] == account_id


def test_soql_where_order_limit(api: httpx.Client) -> None:
    soql = (
        "SELECT Name, Industry, AnnualRevenue FROM Account "
        "WHERE Industry = 'energy' AND AnnualRevenue > 1000000 "
        "ORDER BY AnnualRevenue DESC LIMIT 5"
    )
    body = api.get(f"{API}/query", params={"q": soql}).json()
    assert body["done"] is True
    assert body["totalSize"] == len(body["records"]) == 5
    revenues = [r["AnnualRevenue"] for r in body["records"]]
    assert revenues == sorted(revenues, reverse=True)
    first = body["records"][0]
    assert list(first) == ["attributes", "Name", "Industry", "AnnualRevenue"]
    assert first["Industry"] == "Energy"
    assert first["attributes"]["type"] == "Account"


def test_soql_pages_of_2000_with_next_records_url(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    total = sandbox.org.store.count(sandbox.org.schema.get("Contact"))
    assert total > 2000
    first = api.get(f"{API}/query", params={"q": "SELECT Id, Name FROM Contact"}).json()
    assert first["totalSize"] == total
    assert first["done"] is False
    assert len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith(f"{API}/query/01g")
    assert first["nextRecordsUrl"].endswith("-2000")

    second = api.get(first["nextRecordsUrl"]).json()
    assert second["done"] is True
    assert "nextRecordsUrl" not in second
    assert len(second["records"]) == total - 2000
    ids = {r["Id"] for r in first["records"] + second["records"]}
    assert len(ids) == total


def test_batch_size_header_is_honoured_within_its_range(api: httpx.Client) -> None:
    body = api.get(
        f"{API}/query",
        params={"q": "SELECT Id FROM Contact"},
        headers={"Sforce-Query-Options": "batchSize=500"},
    ).json()
    assert len(body["records"]) == 500
    tiny = api.get(
        f"{API}/query",
        params={"q": "SELECT Id FROM Contact"},
        headers={"Sforce-Query-Options": "batchSize=10"},
    ).json()
    assert len(tiny["records"]) == 200  # the platform's minimum


def test_older_api_version_works_and_unknown_is_404(api: httpx.Client) -> None:
    assert api.get("/services/data/v59.0/sobjects/Account/describe").status_code == 200
    missing = api.get("/services/data/v99.0/sobjects/")
    assert missing.status_code == 404
    assert missing.json() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]


def test_query_all_includes_deleted_records(api: httpx.Client) -> None:
    doomed = api.post(
        f"{API}/sobjects/Lead/", json={"LastName": "Gone", "Company": "X"}
    )
    lead_id = doomed.json()["id"]
    assert api.delete(f"{API}/sobjects/Lead/{lead_id}").status_code == 204

    q = f"SELECT Id, IsDeleted FROM Lead WHERE Id = '{lead_id}'"
    assert api.get(f"{API}/query", params={"q": q}).json()["totalSize"] == 0
    everything = api.get(f"{API}/queryAll", params={"q": q}).json()
    assert everything["totalSize"] == 1
    assert everything["records"][0]["IsDeleted"] is True
