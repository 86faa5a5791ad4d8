"""Apex-like after insert / after update triggers, from Apex DML and the REST API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sfsandbox import Sandbox
from sfsandbox.apex import CalloutException, Database, DmlException, Http, HttpRequest
from sfsandbox.apex.triggers import Trigger
from sfsandbox.org import errors

API = "/services/data/v62.0"


@pytest.fixture(autouse=True)
def no_triggers(sandbox: Sandbox) -> Iterator[None]:
    sandbox.org.apex.triggers.clear()
    yield
    sandbox.org.apex.triggers.clear()


class Recorder:
    """A trigger handler that remembers each invocation's context."""

    def __init__(self) -> None:
        self.calls: list[Trigger] = []

    def __call__(self, trigger: Trigger) -> None:
        self.calls.append(trigger)


def opportunity(name: str, stage: str = "Prospecting") -> dict[str, Any]:
    return {"Name": name, "StageName": stage, "CloseDate": "2026-12-31"}


def count(sandbox: Sandbox, sobject: str, where: str) -> int:
    with sandbox.org.apex.transaction() as tx:
        return tx.count_query(f"SELECT COUNT() FROM {sobject} WHERE {where}")


def test_apex_dml_fires_after_insert_and_after_update(sandbox: Sandbox) -> None:
    seen = Recorder()
    sandbox.org.apex.triggers.register(
        "Opportunity", ["after insert", "after update"], seen, name="OppTrigger"
    )
    with sandbox.org.apex.transaction():
        opp_id = Database.insert("Opportunity", opportunity("Trig A"))
        Database.update("Opportunity", {"Id": opp_id, "StageName": "Closed Won"})
    inserted, updated = seen.calls
    assert (inserted.isInsert, inserted.isUpdate, inserted.isAfter) == (
        True,
        False,
        True,
    )
    assert inserted.operationType == "AFTER_INSERT" and inserted.old is None
    assert inserted.new[0]["Id"] == opp_id and inserted.name == "OppTrigger"
    assert inserted.new[0]["attributes"] == {"type": "Opportunity"}
    assert updated.isUpdate and updated.size == 1
    assert updated.oldMap[opp_id]["StageName"] == "Prospecting"
    assert updated.newMap[opp_id]["StageName"] == "Closed Won"
    assert updated.newMap[opp_id]["IsWon"] is True


def test_triggers_run_in_chunks_of_200(sandbox: Sandbox) -> None:
    seen = Recorder()
    sandbox.org.apex.triggers.register("Lead", "after insert", seen)
    with sandbox.org.apex.transaction():
        Database.insert(
            "Lead", [{"LastName": f"Chunk{i}", "Company": "C"} for i in range(450)]
        )
    assert [call.size for call in seen.calls] == [200, 200, 50]
    names = [r["LastName"] for call in seen.calls for r in call.new]
    assert names == [f"Chunk{i}" for i in range(450)]


def test_an_update_only_trigger_ignores_inserts(sandbox: Sandbox) -> None:
    seen = Recorder()
    sandbox.org.apex.triggers.register("Opportunity", "after update", seen)
    with sandbox.org.apex.transaction():
        Database.insert("Opportunity", opportunity("Insert only"))
    assert seen.calls == []


def test_rest_writes_fire_triggers(sandbox: Sandbox, api: httpx.Client) -> None:
    seen = Recorder()
    sandbox.org.apex.triggers.register(
        "Account", ["after insert", "after update"], seen
    )
    created = api.post(f"{API}/sobjects/Account/", json={"Name": "Trig REST"})
    account_id = created.json()["id"]
    assert api.patch(
        f"{API}/sobjects/Account/{account_id}", json={"Rating": "Hot"}
    ).is_success
    upsert = api.patch(
        f"{API}/sobjects/Account/External_Id__c/TRIG-1", json={"Name": "Up"}
    )
    assert upsert.status_code == 201
    collection = api.post(
        f"{API}/composite/sobjects",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "Name": "Coll 1"},
                {"attributes": {"type": "Account"}, "Name": "Coll 2"},
            ],
        },
    )
    assert all(r["success"] for r in collection.json())
    composite = api.post(
        f"{API}/composite",
        json={
            "compositeRequest": [
                {
                    "method": "PATCH",
                    "url": f"{API}/sobjects/Account/{account_id}",
                    "referenceId": "u",
                    "body": {"Rating": "Cold"},
                }
            ]
        },
    )
    assert composite.json()["compositeResponse"][0]["httpStatusCode"] == 204
    summary = [(c.operationType, [r["Name"] for r in c.new]) for c in seen.calls]
    assert summary == [
        ("AFTER_INSERT", ["Trig REST"]),
        ("AFTER_UPDATE", ["Trig REST"]),
        ("AFTER_INSERT", ["Up"]),
        ("AFTER_INSERT", ["Coll 1", "Coll 2"]),
        ("AFTER_UPDATE", ["Trig REST"]),
    ]
    assert seen.calls[-1].oldMap[account_id]["Rating"] == "Hot"


def fail_on_closed_won(trigger: Trigger) -> None:
    for opp in trigger.new:
        if opp["StageName"] == "Closed Won":
            _ = 1 / 0


def test_a_trigger_exception_fails_a_rest_update_and_rolls_it_back(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    sandbox.org.apex.triggers.register(
        "Opportunity", "after update", fail_on_closed_won, name="OppTrigger"
    )
    opp_id = api.post(
        f"{API}/sobjects/Opportunity/", json=opportunity("Trig fail")
    ).json()["id"]
    answer = api.patch(
        f"{API}/sobjects/Opportunity/{opp_id}", json={"StageName": "Closed Won"}
    )
    assert answer.status_code == 400
    assert answer.json() == [
        {
            "message": "OppTrigger: execution of AfterUpdate\n\ncaused by: "
            "Python.ZeroDivisionError: division by zero",
            "errorCode": "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
        }
    ]
    stored = api.get(f"{API}/sobjects/Opportunity/{opp_id}").json()
    assert stored["StageName"] == "Prospecting"


def test_a_trigger_exception_fails_every_record_of_a_collection(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    sandbox.org.apex.triggers.register(
        "Opportunity", "after insert", fail_on_closed_won, name="OppTrigger"
    )
    answer = api.post(
        f"{API}/composite/sobjects",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Opportunity"}, **opportunity("Coll ok")},
                {
                    "attributes": {"type": "Opportunity"},
                    **opportunity("Coll won", "Closed Won"),
                },
                {"attributes": {"type": "Opportunity"}, "Name": "No stage"},
            ],
        },
    ).json()
    codes = [r["errors"][0]["statusCode"] for r in answer]
    assert codes == [
        "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
        "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
        "REQUIRED_FIELD_MISSING",
    ]
    assert count(sandbox, "Opportunity", "Name LIKE 'Coll %'") == 0


def test_a_trigger_exception_is_a_dml_exception_in_apex(sandbox: Sandbox) -> None:
    sandbox.org.apex.triggers.register(
        "Opportunity", "after insert", fail_on_closed_won, name="OppTrigger"
    )
    with sandbox.org.apex.transaction():
        kept = Database.insert("Opportunity", opportunity("Apex kept"))
        with pytest.raises(DmlException) as caught:
            Database.insert("Opportunity", opportunity("Apex won", "Closed Won"))
        assert caught.value.getDmlType(0) == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
        assert caught.value.getMessage().startswith(
            "Insert failed. First exception on row 0; first error: "
            "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY, OppTrigger: execution of AfterInsert"
        )
    assert count(sandbox, "Opportunity", "Name = 'Apex won'") == 0
    assert count(sandbox, "Opportunity", f"Id = '{kept}'") == 1


def test_trigger_dml_commits_and_rolls_back_with_the_rest_call(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    def follow_up(trigger: Trigger) -> None:
        Database.insert(
            "Lead",
            [{"LastName": f"Follow {r['Name']}", "Company": "F"} for r in trigger.new],
        )
        if any(r["Name"] == "Explode" for r in trigger.new):
            raise CalloutException("boom")

    sandbox.org.apex.triggers.register("Account", "after insert", follow_up)
    assert api.post(f"{API}/sobjects/Account/", json={"Name": "Calm"}).is_success
    failed = api.post(f"{API}/sobjects/Account/", json={"Name": "Explode"})
    assert failed.status_code == 400
    assert failed.json()[0]["message"].endswith(
        "caused by: System.CalloutException: boom"
    )
    assert count(sandbox, "Lead", "LastName = 'Follow Calm'") == 1
    assert count(sandbox, "Lead", "LastName = 'Follow Explode'") == 0
    assert count(sandbox, "Account", "Name = 'Explode'") == 0


def test_a_callout_from_a_trigger_is_refused(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    messages: list[str] = []

    def call_out(trigger: Trigger) -> None:
        request = HttpRequest()
        request.setEndpoint("https://127.0.0.1:9/x")
        request.setMethod("GET")
        try:
            Http().send(request)
        except CalloutException as error:
            messages.append(error.getMessage())

    sandbox.org.apex.triggers.register("Account", "after insert", call_out)
    assert api.post(f"{API}/sobjects/Account/", json={"Name": "Caller"}).is_success
    assert messages == ["Callout from triggers are currently not supported."]


def test_unemulated_trigger_events_say_so(sandbox: Sandbox) -> None:
    with pytest.raises(errors.NotEmulated, match="before insert"):
        sandbox.org.apex.triggers.register("Account", "before insert", Recorder())
    with pytest.raises(ValueError, match="Unknown sObject"):
        sandbox.org.apex.triggers.register("Nope__c", "after insert", Recorder())


def test_recursive_triggers_stop_at_depth_16(sandbox: Sandbox) -> None:
    def again(trigger: Trigger) -> None:
        Database.update("Lead", [{"Id": r["Id"], "Company": "X"} for r in trigger.new])

    sandbox.org.apex.triggers.register(
        "Lead", ["after insert", "after update"], again, name="LeadLoop"
    )
    too_deep = pytest.raises(DmlException, match="maximum trigger depth exceeded")
    with too_deep, sandbox.org.apex.transaction():
        Database.insert("Lead", {"LastName": "Loop", "Company": "L"})
    assert count(sandbox, "Lead", "LastName = 'Loop'") == 0
