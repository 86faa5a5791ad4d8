"""Asynchronous Apex: ``@future`` methods and Queueable jobs, and the job queue.

::

    from sfsandbox.apex import Http, HttpRequest, Queueable, System, future

    @future(callout=True)
    def send_order(opportunity_id: str) -> None:      # Apex: static void, primitives
        req = HttpRequest(); ...; Http().send(req)      # a callout is allowed here

    class SyncAccount(Queueable, AllowsCallouts):
        def __init__(self, account_id: str) -> None:
            self.account_id = account_id
        def execute(self, context: QueueableContext) -> None:
            ...

    with org.apex.transaction():                        # or in a trigger
        Database.update("Opportunity", {...})
        send_order(opp_id)                              # queued, returns None
        job_id = System.enqueueJob(SyncAccount(acc_id)) # an AsyncApexJob Id (707...)

    org.apex.jobs.run_pending()                         # the lab drains the queue
    org.apex.jobs.get(job_id)["Status"]                 # "Completed"

Following the platform (Apex Developer Guide, "Future Methods", "Queueable Apex" and
"Execution Governors and Limits"):

- the work is queued when the transaction commits, and never if it rolls back;
- each job runs in an asynchronous transaction of its own, with asynchronous limits
  (200 SOQL queries, 12 MB callouts); its exception fails the job (Status
  ``Failed``, ``NumberOfErrors`` 1, ``ExtendedStatus`` with the message) and rolls back
  its own work only;
- at most 50 ``@future`` calls per transaction (the 51st raises
  ``System.LimitException: Too many future calls: 51``), and none from a ``@future``
  method or a batch (``System.AsyncException: Future method cannot be called from a
  future or batch method: <method>(<types>)``);
- at most 50 ``System.enqueueJob`` calls per synchronous transaction and 1 per
  asynchronous one (``Too many queueable jobs added to the queue: 2``);
- a ``@future`` method calls out only with ``callout=True``; a Queueable only if it
  also derives from ``AllowsCallouts`` (``Database.AllowsCallouts``).

The arguments of a ``@future`` call and the state of a Queueable are copied when they
are queued (the platform serializes them), so later changes do not reach the job.

The platform runs queued jobs when resources allow, in no promised order. The sandbox
keeps them in a queue that runs only when asked: ``org.apex.jobs.run_pending()`` runs
every queued job in the order queued (jobs queued by a job run after it, in the same
call), so a lab's output does not depend on timing. ``org.apex.jobs.jobs()`` lists the
``AsyncApexJob`` rows (Id, JobType, ApexClassName, MethodName, Status,
NumberOfErrors, ExtendedStatus, CreatedDate, CompletedDate), as a SOQL query on
``AsyncApexJob`` would; SOQL on ``AsyncApexJob`` itself is not emulated.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import decimal
import functools
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sfsandbox.apex.exceptions import ApexException, AsyncException, TypeException
from sfsandbox.apex.transaction import (
    FUTURE_CALL_LIMIT,
    ApexTransaction,
    current_transaction,
    in_transaction,
    running,
)
from sfsandbox.runtime.clock import format_datetime

if TYPE_CHECKING:
    from sfsandbox.org.org import Org

logger = logging.getLogger(__name__)

ASYNC_APEX_JOB_PREFIX = "707"  # AsyncApexJob's key prefix
STATUSES = ("Queued", "Processing", "Completed", "Failed")
_APEX_TYPES: dict[type, str] = {
    str: "String",
    bool: "Boolean",
    int: "Integer",
    float: "Double",
    decimal.Decimal: "Decimal",
    dt.datetime: "Datetime",
    dt.date: "Date",
    dt.time: "Time",
}


class QueueableContext:
    """``QueueableContext``: what ``execute`` receives; ``getJobId()`` is its job."""

    def __init__(self, job_id: str) -> None:
        self._job_id = job_id

    def getJobId(self) -> str:  # noqa: N802 - Apex names
        return self._job_id


class Queueable:
    """``implements Queueable``: subclass it and define ``execute(self, context)``."""

    def execute(self, context: QueueableContext) -> None:
        raise TypeException(_missing_execute(type(self).__name__))


def _missing_execute(class_name: str) -> str:
    # On the platform such a class does not compile; the wording follows the Apex
    # compiler's "must implement the method" error (UNVERIFIED in its details).
    return (
        f"Class {class_name} must implement the method: "
        "void System.Queueable.execute(System.QueueableContext)"
    )


class AllowsCallouts:
    """``Database.AllowsCallouts``: a Queueable that derives from it may call out."""


@dataclasses.dataclass
class AsyncApexJob:
    """One queued ``@future`` call or Queueable job, as ``AsyncApexJob`` shows it."""

    Id: str
    JobType: str  # "Future" or "Queueable"
    ApexClassName: str
    MethodName: str | None
    CreatedDate: str
    run: Callable[[ApexTransaction], None] = dataclasses.field(repr=False)
    callouts: bool = dataclasses.field(repr=False)
    Status: str = "Queued"
    NumberOfErrors: int = 0
    ExtendedStatus: str | None = None
    CompletedDate: str | None = None
    error: BaseException | None = dataclasses.field(repr=False, default=None)

    def row(self) -> dict[str, Any]:
        """The job as a SOQL query on AsyncApexJob would return it."""
        return {
            "attributes": {"type": "AsyncApexJob"},
            "Id": self.Id,
            "JobType": self.JobType,
            "ApexClassName": self.ApexClassName,
            "MethodName": self.MethodName,
            "Status": self.Status,
            "NumberOfErrors": self.NumberOfErrors,
            "ExtendedStatus": self.ExtendedStatus,
            "JobItemsProcessed": 1 if self.Status in ("Completed", "Failed") else 0,
            "TotalJobItems": 1,
            "CreatedDate": self.CreatedDate,
            "CompletedDate": self.CompletedDate,
        }


class AsyncJobs:
    """``org.apex.jobs``: the org's queue of asynchronous Apex jobs."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self._jobs: dict[str, AsyncApexJob] = {}
        self._queue: deque[AsyncApexJob] = deque()
        self._lock = threading.RLock()

    # --- queueing (called by @future and System.enqueueJob) -------------------------

    def _new_job(
        self,
        job_type: str,
        class_name: str,
        method: str | None,
        run: Callable[[ApexTransaction], None],
        callouts: bool,
    ) -> AsyncApexJob:
        return AsyncApexJob(
            Id=self.org.ids.new(ASYNC_APEX_JOB_PREFIX),
            JobType=job_type,
            ApexClassName=class_name,
            MethodName=method,
            CreatedDate=format_datetime(self.org.clock.now()),
            run=run,
            callouts=callouts,
        )

    def _queue_after_commit(
        self, transaction: ApexTransaction, job: AsyncApexJob
    ) -> None:
        def queue() -> None:
            with self._lock:
                job.CreatedDate = format_datetime(self.org.clock.now())
                self._jobs[job.Id] = job
                self._queue.append(job)

        transaction.after_commit(queue)

    # --- what a lab calls -------------------------------------------------------------

    def run_pending(self, max_jobs: int | None = None) -> list[AsyncApexJob]:
        """Run queued jobs in the order queued, each in its own asynchronous
        transaction, until the queue is empty (or ``max_jobs`` ran); returns them."""
        if in_transaction():
            raise RuntimeError(
                "run_pending() runs each job in a transaction of its own: call it "
                "outside the Apex transaction (the queued work starts after commit)."
            )
        ran: list[AsyncApexJob] = []
        while max_jobs is None or len(ran) < max_jobs:
            with self._lock:
                if not self._queue:
                    break
                job = self._queue.popleft()
                job.Status = "Processing"
            self._run(job)
            ran.append(job)
        return ran

    def _run(self, job: AsyncApexJob) -> None:
        transaction = ApexTransaction(self.org, context=job.JobType)
        transaction.callouts_allowed = job.callouts
        try:
            with running(transaction):
                job.run(transaction)
        except Exception as error:
            type_name = (
                error.type_name
                if isinstance(error, ApexException)
                else f"Python.{type(error).__name__}"
            )
            message = error.message if isinstance(error, ApexException) else str(error)
            job.Status = "Failed"
            job.NumberOfErrors = 1
            # UNVERIFIED wording: the platform fills ExtendedStatus with the message.
            job.ExtendedStatus = f"First error: {type_name}: {message}"
            job.error = error
            logger.debug("Async Apex job %s failed: %s", job.Id, job.ExtendedStatus)
        else:
            job.Status = "Completed"
        job.CompletedDate = format_datetime(self.org.clock.now())

    def get(self, job_id: str) -> dict[str, Any]:
        """The ``AsyncApexJob`` row of ``job_id`` (KeyError if it was never queued,
        as a job from a rolled-back transaction never is)."""
        with self._lock:
            return self._jobs[job_id].row()

    def jobs(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every ``AsyncApexJob`` row, oldest first (optionally one ``Status``)."""
        with self._lock:
            rows = [job.row() for job in self._jobs.values()]
        return [r for r in rows if status is None or r["Status"] == status]

    @property
    def pending(self) -> int:
        """How many jobs wait in the queue."""
        with self._lock:
            return len(self._queue)

    def clear(self) -> None:
        """Forget every job (queued ones never run)."""
        with self._lock:
            self._queue.clear()
            self._jobs.clear()


# --- @future ---------------------------------------------------------------------


def future(
    function: Callable[..., None] | None = None, *, callout: bool = False
) -> Any:
    """``@future`` / ``@future(callout=True)``: calling the function inside an Apex
    transaction queues it to run after the commit, and returns None."""

    def decorate(target: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(target)
        def call(*args: Any, **kwargs: Any) -> None:
            transaction = current_transaction(f"The @future method {target.__name__}")
            signature = _signature(target, args, kwargs)
            if transaction.context in ("Future", "Batch"):
                raise AsyncException(
                    "Future method cannot be called from a future or batch method: "
                    + signature
                )
            transaction.future_calls += 1
            if transaction.future_calls > FUTURE_CALL_LIMIT:
                transaction.limit(f"Too many future calls: {transaction.future_calls}")
            frozen_args = copy.deepcopy(args)
            frozen_kwargs = copy.deepcopy(kwargs)
            jobs = transaction.org.apex.jobs
            job = jobs._new_job(
                "Future",
                _class_name(target),
                target.__name__,
                lambda _tx: target(*frozen_args, **frozen_kwargs),
                callout,
            )
            jobs._queue_after_commit(transaction, job)

        call.is_future = True  # type: ignore[attr-defined]
        call.callout = callout  # type: ignore[attr-defined]
        return call

    if function is not None:
        return decorate(function)
    return decorate


def _signature(target: Callable[..., Any], args: tuple, kwargs: dict) -> str:
    """``Class.method(String, Integer)``, as the platform names a future method
    (UNVERIFIED: the parameter rendering), after checking the parameter types."""
    types = [_apex_type(value) for value in (*args, *kwargs.values())]
    return f"{_class_name(target)}.{target.__name__}({', '.join(types)})"


def _apex_type(value: Any) -> str:
    if value is None:
        return "Object"
    if isinstance(value, list | tuple):
        inner = {_apex_type(v) for v in value}
        return f"List<{inner.pop() if len(inner) == 1 else 'Object'}>"
    if isinstance(value, set | frozenset):
        inner = {_apex_type(v) for v in value}
        return f"Set<{inner.pop() if len(inner) == 1 else 'Object'}>"
    for python_type, apex_type in _APEX_TYPES.items():
        if isinstance(value, python_type):
            return apex_type
    # Apex refuses such a method at compile time ("Unsupported parameter type").
    raise TypeException(
        f"Unsupported parameter type {type(value).__name__}: a @future method takes "
        "primitive values and collections of them (pass record Ids, not records)"
    )


def _class_name(target: Callable[..., Any]) -> str:
    qualified = getattr(target, "__qualname__", target.__name__)
    return qualified.rsplit(".", 1)[0] if "." in qualified else target.__module__


# --- System.enqueueJob -------------------------------------------------------------


def enqueue_job(job: Queueable) -> str:
    """``System.enqueueJob(job)``: queue a Queueable after the commit; its job Id."""
    if not isinstance(job, Queueable):
        raise TypeException("System.enqueueJob takes an instance of a Queueable class")
    if type(job).execute is Queueable.execute:
        raise TypeException(_missing_execute(type(job).__name__))
    transaction = current_transaction("System.enqueueJob")
    transaction.queueable_jobs += 1
    if transaction.queueable_jobs > transaction.queueable_job_limit:
        transaction.limit(
            f"Too many queueable jobs added to the queue: {transaction.queueable_jobs}"
        )
    frozen = copy.deepcopy(job)
    jobs = transaction.org.apex.jobs
    record = jobs._new_job(
        "Queueable",
        type(job).__name__,
        None,
        lambda _tx: frozen.execute(QueueableContext(record.Id)),
        isinstance(job, AllowsCallouts),
    )
    jobs._queue_after_commit(transaction, record)
    return record.Id


class System:
    """``System`` methods that queue asynchronous work."""

    @staticmethod
    def enqueueJob(job: Queueable) -> str:  # noqa: N802 - Apex's name
        return enqueue_job(job)
