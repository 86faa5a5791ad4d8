"""@future methods and Queueable jobs: after commit, their own transaction, limits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sfsandbox import Sandbox
from sfsandbox.apex import (
    AllowsCallouts,
    AsyncException,
    CalloutException,
    Database,
    Http,
    HttpRequest,
    LimitException,
    Limits,
    Queueable,
    QueueableContext,
    System,
    future,
)
from sfsandbox.apex.exceptions import TypeException
from sfsandbox.apex.triggers import Trigger

API = "/services/data/v62.0"
ran: list[Any] = []


@pytest.fixture(autouse=True)
def fresh(sandbox: Sandbox) -> Iterator[None]:
    ran.clear()
    sandbox.org.apex.jobs.clear()
    sandbox.org.apex.triggers.clear()
    if not any(s.name == "Self" for s in sandbox.org.apex.remote_site_settings):
        sandbox.org.apex.remote_site_settings.new("Self", sandbox.org.instance_url)
    yield
    sandbox.org.apex.triggers.clear()


@future
def note(value: str) -> None:
    ran.append(("note", value, Limits.getLimitQueries()))


@future
def nested_future(value: str) -> None:
    note(value)


@future(callout=True)
def call_versions(url: str) -> None:
    request = HttpRequest()
    request.setEndpoint(url + "/services/data")
    request.setMethod("GET")
    ran.append(("callout", Http().send(request).getStatusCode()))


@future
def call_without_permission(url: str) -> None:
    request = HttpRequest()
    request.setEndpoint(url + "/services/data")
    request.setMethod("GET")
    Http().send(request)


@future
def fail(value: str) -> None:
    Database.insert("Lead", {"LastName": value, "Company": "F"})
    raise CalloutException(f"ERP said no to {value}")


class Chain(Queueable):
    def __init__(self, step: int, last: int) -> None:
        self.step = step
        self.last = last

    def execute(self, context: QueueableContext) -> None:
        ran.append(("chain", self.step, context.getJobId()))
        if self.step < self.last:
            System.enqueueJob(Chain(self.step + 1, self.last))


class Greedy(Queueable):
    def execute(self, context: QueueableContext) -> None:
        System.enqueueJob(Chain(1, 1))
        System.enqueueJob(Chain(2, 2))


class CallingQueueable(Queueable, AllowsCallouts):
    def __init__(self, url: str) -> None:
        self.url = url

    def execute(self, context: QueueableContext) -> None:
        call_versions.__wrapped__(self.url)  # the same body, called directly


def count(sandbox: Sandbox, where: str) -> int:
    with sandbox.org.apex.transaction() as tx:
        return tx.count_query(f"SELECT COUNT() FROM Lead WHERE {where}")


def test_a_future_call_runs_after_commit_in_an_async_transaction(
    sandbox: Sandbox,
) -> None:
    with sandbox.org.apex.transaction():
        note("one")
        assert Limits.getFutureCalls() == 1
        assert Limits.getLimitFutureCalls() == 50
    assert ran == []  # queued, not run
    assert sandbox.org.apex.jobs.pending == 1
    [job] = sandbox.org.apex.jobs.jobs()
    assert (job["JobType"], job["MethodName"], job["Status"]) == (
        "Future",
        "note",
        "Queued",
    )
    assert job["Id"].startswith("707")
    done = sandbox.org.apex.jobs.run_pending()
    assert ran == [("note", "one", 200)]  # asynchronous limits: 200 SOQL queries
    assert [j.Status for j in done] == ["Completed"]
    assert sandbox.org.apex.jobs.get(job["Id"])["Status"] == "Completed"
    assert sandbox.org.apex.jobs.run_pending() == []


def test_a_rolled_back_transaction_queues_nothing(sandbox: Sandbox) -> None:
    with pytest.raises(ZeroDivisionError), sandbox.org.apex.transaction():
        note("lost")
        job_id = System.enqueueJob(Chain(1, 1))
        _ = 1 / 0
    assert sandbox.org.apex.jobs.pending == 0
    with pytest.raises(KeyError):
        sandbox.org.apex.jobs.get(job_id)
    sandbox.org.apex.jobs.run_pending()
    assert ran == []


def test_the_51st_future_call_is_a_limit_exception(sandbox: Sandbox) -> None:
    with (
        pytest.raises(LimitException, match="^Too many future calls: 51$"),
        sandbox.org.apex.transaction(),
    ):
        for i in range(51):
            with contextlib.suppress(LimitException):  # uncatchable all the same
                note(str(i))
    assert sandbox.org.apex.jobs.pending == 0
    with sandbox.org.apex.transaction():
        for i in range(50):
            note(str(i))
    assert sandbox.org.apex.jobs.pending == 50


def test_no_future_from_a_future(sandbox: Sandbox) -> None:
    with sandbox.org.apex.transaction():
        nested_future("inner")
    [job] = sandbox.org.apex.jobs.run_pending()
    assert job.Status == "Failed" and job.NumberOfErrors == 1
    assert isinstance(job.error, AsyncException)
    assert job.error.getMessage() == (
        "Future method cannot be called from a future or batch method: "
        "test_async_apex.note(String)"
    )
    assert job.ExtendedStatus.startswith("First error: System.AsyncException: ")
    assert ran == []


def test_future_arguments_must_be_primitives(sandbox: Sandbox) -> None:
    refused = pytest.raises(TypeException, match="pass record Ids")
    with refused, sandbox.org.apex.transaction():
        note({"attributes": {"type": "Account"}, "Name": "A record"})


def test_a_failed_job_rolls_back_its_own_work_only(sandbox: Sandbox) -> None:
    with sandbox.org.apex.transaction():
        Database.insert("Lead", {"LastName": "BeforeFail", "Company": "B"})
        fail("FutureFail")
        note("after")
    first, second = sandbox.org.apex.jobs.run_pending()
    assert (first.Status, second.Status) == ("Failed", "Completed")
    assert first.ExtendedStatus == (
        "First error: System.CalloutException: ERP said no to FutureFail"
    )
    assert first.CompletedDate is not None
    assert count(sandbox, "LastName = 'BeforeFail'") == 1
    assert count(sandbox, "LastName = 'FutureFail'") == 0


def test_callouts_need_callout_true(sandbox: Sandbox) -> None:
    url = sandbox.org.instance_url
    with sandbox.org.apex.transaction():
        Database.insert("Lead", {"LastName": "Pending", "Company": "P"})
        call_versions(url)  # queued: no "uncommitted work pending"
        call_without_permission(url)
        System.enqueueJob(CallingQueueable(url))
    allowed, refused, queueable = sandbox.org.apex.jobs.run_pending()
    assert (allowed.Status, refused.Status, queueable.Status) == (
        "Completed",
        "Failed",
        "Completed",
    )
    assert ran == [("callout", 200), ("callout", 200)]
    assert refused.ExtendedStatus == (
        "First error: System.CalloutException: Callout not allowed from this future "
        "method. Please enable callout by annotating the future method. eg: "
        "@Future(callout=true)"
    )


def test_queueables_chain_one_job_each_in_order(sandbox: Sandbox) -> None:
    with sandbox.org.apex.transaction():
        first = System.enqueueJob(Chain(1, 3))
        assert Limits.getQueueableJobs() == 1
        assert Limits.getLimitQueueableJobs() == 50
    done = sandbox.org.apex.jobs.run_pending()
    assert [step for _, step, _ in ran] == [1, 2, 3]
    assert ran[0][2] == first
    assert [job.Id for job in done] == [job_id for _, _, job_id in ran]
    assert all(job.Status == "Completed" for job in done)


def test_a_queueable_may_enqueue_only_one_job(sandbox: Sandbox) -> None:
    with sandbox.org.apex.transaction():
        System.enqueueJob(Greedy())
    [greedy] = sandbox.org.apex.jobs.run_pending()
    assert greedy.Status == "Failed"
    assert greedy.ExtendedStatus == (
        "First error: System.LimitException: Too many queueable jobs added to the "
        "queue: 2"
    )
    assert sandbox.org.apex.jobs.pending == 0  # its one job rolled back with it


def test_the_51st_enqueue_job_in_a_synchronous_transaction(sandbox: Sandbox) -> None:
    too_many = pytest.raises(
        LimitException, match="^Too many queueable jobs added to the queue: 51$"
    )
    with too_many, sandbox.org.apex.transaction():
        for step in range(51):
            System.enqueueJob(Chain(step, 0))
    assert sandbox.org.apex.jobs.pending == 0


def test_queueable_state_is_copied_when_queued(sandbox: Sandbox) -> None:
    job = Chain(7, 0)
    with sandbox.org.apex.transaction():
        System.enqueueJob(job)
        job.step = 99
    sandbox.org.apex.jobs.run_pending()
    assert [step for _, step, _ in ran] == [7]


def test_a_trigger_hands_its_callout_to_a_future_method(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    url = sandbox.org.instance_url

    def on_close(trigger: Trigger) -> None:
        for opp in trigger.new:
            if opp["StageName"] == "Closed Won":
                call_versions(url)

    sandbox.org.apex.triggers.register("Opportunity", "after update", on_close)
    opp_id = api.post(
        f"{API}/sobjects/Opportunity/",
        json={"Name": "Async", "StageName": "Prospecting", "CloseDate": "2026-12-31"},
    ).json()["id"]
    closed = api.patch(
        f"{API}/sobjects/Opportunity/{opp_id}", json={"StageName": "Closed Won"}
    )
    assert closed.status_code == 204  # the REST caller does not wait for the ERP
    assert sandbox.org.apex.jobs.pending == 1 and ran == []
    sandbox.org.apex.jobs.run_pending()
    assert ran == [("callout", 200)]


def test_run_pending_inside_a_transaction_is_a_python_error(sandbox: Sandbox) -> None:
    with sandbox.org.apex.transaction():
        note("queued")
        with pytest.raises(RuntimeError, match="outside the Apex transaction"):
            sandbox.org.apex.jobs.run_pending()
    assert [job.Status for job in sandbox.org.apex.jobs.run_pending()] == ["Completed"]


class WithoutExecute(Queueable):
    """A Queueable that forgot its execute method (it would not compile in Apex)."""


def test_a_queueable_without_execute_is_refused_when_enqueued(sandbox: Sandbox) -> None:
    refused = pytest.raises(TypeException, match="must implement the method: void")
    with sandbox.org.apex.transaction(), refused:
        System.enqueueJob(WithoutExecute())
    assert sandbox.org.apex.jobs.pending == 0
