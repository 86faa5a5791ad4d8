"""One Apex transaction: DML and SOQL on the org's store, callouts, governor limits.

Every piece of "Apex" the sandbox runs, an Apex REST handler or a lab's block of code,
runs in one ``ApexTransaction``:

- DML (``insert``, ``update``, ``delete``) and SOQL (``query``, ``count_query``) on the
  org's records. The first DML statement opens the store's transaction; it commits when
  the Apex code ends normally and rolls back whole when an exception escapes.
- From that first DML statement on (even one that failed: an UNVERIFIED, plain
  choice), the transaction has *uncommitted work pending* and a callout raises
  ``CalloutException`` (Apex Developer Guide, "Callout Limits and Limitations"). The
  sandbox's store transaction and the platform's rule line up: a callout never runs
  while the store is locked for this transaction.
- Governor limits, counted per transaction (Apex Developer Guide, "Execution Governors
  and Limits"): 100 SOQL queries, 50,000 query rows, 150 DML statements, 10,000 DML
  rows, 100 callouts and 120,000 ms of cumulative callout time. Past a limit,
  ``System.LimitException``, which Apex code cannot catch: the transaction re-raises it
  at its end even if the code swallowed it, and rolls back.

The transaction running in this thread is ``current_transaction()``; ``Http``,
``Limits`` and ``Database`` act on it, as their Apex namesakes act on the running
transaction. While DML work is pending the store is locked for this thread, so other
API requests to the org wait until the transaction ends (keep such blocks short, and
make no HTTP request to the org's own API from inside one: it would wait for itself).

Work that the platform does only once a transaction has committed (a Platform Event
published "after commit", an ``@future`` call, a Queueable job, an Outbound Message)
registers with ``transaction.after_commit(callback)``: the callbacks run in the order
they were registered, after the commit and outside the transaction (each may run Apex
of its own), and are discarded when the transaction rolls back.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from sfsandbox.apex.exceptions import (
    DmlException,
    DmlFailure,
    LimitException,
    QueryException,
    SObjectException,
    StringException,
    TypeException,
)
from sfsandbox.org import errors, soql
from sfsandbox.org.ids import is_valid_id

if TYPE_CHECKING:
    from sfsandbox.org.org import Org

logger = logging.getLogger(__name__)

# Per-transaction governor limits (Apex Developer Guide, "Execution Governors and
# Limits", synchronous limits; the callout limits are the same for asynchronous Apex).
SOQL_QUERY_LIMIT = 100
ASYNC_SOQL_QUERY_LIMIT = 200  # asynchronous Apex (@future, Queueable)
QUERY_ROW_LIMIT = 50_000
DML_STATEMENT_LIMIT = 150
DML_ROW_LIMIT = 10_000
CALLOUT_LIMIT = 100
# Apex Developer Guide, "Execution Governors and Limits": @future calls per
# transaction, and System.enqueueJob calls (50 synchronous, 1 asynchronous).
FUTURE_CALL_LIMIT = 50
QUEUEABLE_JOB_LIMIT = 50
ASYNC_QUEUEABLE_JOB_LIMIT = 1
CALLOUT_TIME_LIMIT_MS = 120_000
# "Maximum size of callout request or response": 6 MB synchronous, 12 MB asynchronous.
# The platform's message counts bytes in decimal ("Exceeded max size limit of 6000000").
CALLOUT_SIZE_LIMIT = 6_000_000
ASYNC_CALLOUT_SIZE_LIMIT = 12_000_000

_current: contextvars.ContextVar[ApexTransaction | None] = contextvars.ContextVar(
    "sfsandbox_apex_transaction", default=None
)


class NoApexTransaction(RuntimeError):
    """Apex-only code (``Http().send``, ``Limits``, ``Database``) ran outside any
    Apex transaction: a Python-side mistake, not a platform error."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} runs inside an Apex transaction: put it in a "
            "`with org.apex.transaction():` block (or an Apex REST handler)."
        )


def current_transaction(what: str = "This Apex code") -> ApexTransaction:
    """The Apex transaction running in this thread, or ``NoApexTransaction``."""
    transaction = _current.get()
    if transaction is None:
        raise NoApexTransaction(what)
    return transaction


def in_transaction() -> bool:
    """Is an Apex transaction running in this thread?"""
    return _current.get() is not None


@dataclasses.dataclass(frozen=True)
class CalloutRecord:
    """One callout of a transaction, as a lab may show it: what was asked, what came
    back (or the exception), and the simulated milliseconds it was charged."""

    method: str
    endpoint: str
    url: str
    status_code: int | None
    charged_ms: int
    error: str = ""


class ApexTransaction:
    """DML, SOQL and callouts of one Apex transaction on ``org``, with its limits.

    ``asynchronous`` is true for asynchronous Apex (``@future``, Queueable), where a
    callout may carry 12 MB instead of 6 MB and 200 SOQL queries run instead of 100.
    ``context`` names the asynchronous entry point ("Future", "Queueable"), or None
    for synchronous Apex; ``sfsandbox.apex.asynchronous`` reads it for its rules.
    """

    def __init__(
        self, org: Org, *, asynchronous: bool = False, context: str | None = None
    ) -> None:
        self.org = org
        self.asynchronous = asynchronous or context is not None
        self.context = context
        self.callouts_allowed = True  # a @future without callout=true sets False
        self.future_calls = 0
        self.queueable_jobs = 0
        self.limit_error: LimitException | None = None
        self.callout_log: list[CalloutRecord] = []
        self._queries = 0
        self._query_rows = 0
        self._dml_statements = 0
        self._dml_rows = 0
        self._callouts = 0
        self._callout_time_ms = 0
        self._store_work: ExitStack | None = None
        self._after_commit: list[Callable[[], Any]] = []
        self.after_commit_errors: list[BaseException] = []
        self.state = "Running"
        self.trigger_depth = 0  # > 0 while a trigger runs (callouts are refused)

    # --- state that callouts and Limits read -----------------------------------------

    @property
    def has_pending_work(self) -> bool:
        """Has a DML statement run (so a callout would raise ``CalloutException``)?"""
        return self._store_work is not None

    @property
    def callouts(self) -> int:
        return self._callouts

    @property
    def callout_time_ms(self) -> int:
        """Simulated milliseconds charged to this transaction's callouts so far."""
        return self._callout_time_ms

    @property
    def callout_size_limit(self) -> int:
        return ASYNC_CALLOUT_SIZE_LIMIT if self.asynchronous else CALLOUT_SIZE_LIMIT

    @property
    def queueable_job_limit(self) -> int:
        return ASYNC_QUEUEABLE_JOB_LIMIT if self.asynchronous else QUEUEABLE_JOB_LIMIT

    @property
    def query_limit(self) -> int:
        return ASYNC_SOQL_QUERY_LIMIT if self.asynchronous else SOQL_QUERY_LIMIT

    def count_callout(self) -> None:
        """Count one callout against the limit of 100 (101st: ``LimitException``)."""
        self._callouts += 1
        if self._callouts > CALLOUT_LIMIT:
            # Observed: "System.LimitException: Too many callouts: 101".
            self._limit(f"Too many callouts: {self._callouts}")

    def charge_callout_time(self, milliseconds: int) -> None:
        """Add simulated callout time to the cumulative total."""
        self._callout_time_ms += milliseconds

    # --- DML -------------------------------------------------------------------------

    def insert(
        self, sobject: str, records: Mapping[str, Any] | Iterable[Mapping[str, Any]]
    ) -> Any:
        """``insert``: one record (returns its Id) or a list (returns their Ids)."""
        return self._dml("Insert", sobject, records)

    def update(
        self, sobject: str, records: Mapping[str, Any] | Iterable[Mapping[str, Any]]
    ) -> None:
        """``update``: each record names its ``Id`` and the fields to change."""
        self._dml("Update", sobject, records)

    def delete(self, sobject: str, record_ids: str | Iterable[str]) -> None:
        """``delete``: by Id (or a list of Ids)."""
        rows = [record_ids] if isinstance(record_ids, str) else list(record_ids)
        self._dml("Delete", sobject, [{"Id": record_id} for record_id in rows])

    def _dml(self, operation: str, name: str, records: Any) -> Any:
        sobject = self.org.schema.get(name)
        if sobject is None:
            raise TypeException(f"Invalid sObject type: {name}")
        single = isinstance(records, Mapping)
        rows = [records] if single else list(records)
        self._count_dml(len(rows))
        self._begin_store_work()

        store = self.org.store
        failures: list[DmlFailure] = []
        new_ids: list[str] = []
        with store.lock:
            store.conn.execute("SAVEPOINT apex_dml")
            try:
                with store.recording_saves() as saved:
                    for number, values in enumerate(rows):
                        record_id = self._dml_row(operation, sobject, number, values)
                        if isinstance(record_id, DmlFailure):
                            failures.append(record_id)
                        else:
                            new_ids.append(record_id)
                if saved and not failures:
                    try:
                        self.org.apex.triggers.fire(saved)
                    except errors.CannotInsertUpdateActivateEntity as error:
                        # The trigger failed the whole statement: every row reports it.
                        failures = [
                            DmlFailure(
                                number,
                                error.error_code,
                                error.message,
                                (),
                                "" if operation == "Insert" else str(values.get("Id")),
                            )
                            for number, values in enumerate(rows)
                        ]
            except BaseException:
                store.conn.execute("ROLLBACK TO apex_dml")
                store.conn.execute("RELEASE apex_dml")
                raise
            # A DML statement is all or nothing (Apex: "allOrNone" by default).
            if failures:
                store.conn.execute("ROLLBACK TO apex_dml")
            store.conn.execute("RELEASE apex_dml")
        if failures:
            raise DmlException(operation, failures)
        if operation == "Insert":
            return new_ids[0] if single else new_ids
        return None

    def _dml_row(
        self, operation: str, sobject: Any, number: int, values: Mapping[str, Any]
    ) -> str | DmlFailure:
        """One row of a DML statement: its Id, or why the save rejected it."""
        values = dict(values)
        for key in values:
            if key != "attributes" and sobject.field(key) is None:
                # Apex: sObject.put() with an unknown field name.
                raise SObjectException(f"Invalid field {key} for {sobject.name}")
        record_id = values.pop("Id", None)
        if record_id is not None and not (
            isinstance(record_id, str) and is_valid_id(record_id)
        ):
            raise StringException(f"Invalid id: {record_id}")

        store = self.org.store
        try:
            if operation == "Insert":
                if record_id:
                    return DmlFailure(
                        number,
                        "INVALID_FIELD_FOR_INSERT_UPDATE",
                        "cannot specify Id in an insert call",
                        ("Id",),
                        record_id,
                    )
                return store.insert(sobject, values)
            if not record_id:
                return DmlFailure(
                    number,
                    "MISSING_ARGUMENT",
                    f"Id not specified in an {operation.lower()} call",
                )
            if operation == "Update":
                store.update(sobject, record_id, values)
            else:
                store.delete(sobject, record_id)
            return record_id
        except errors.NotEmulated:
            raise
        except errors.NotFound:
            # UNVERIFIED: the code Apex reports for a well-formed Id of no record.
            return DmlFailure(
                number,
                "INVALID_CROSS_REFERENCE_KEY",
                "invalid cross reference id",
                (),
                record_id or "",
            )
        except errors.JsonParserError as error:
            # A value of the wrong type: a compile or assignment error in Apex.
            raise SObjectException(error.message) from None
        except errors.SalesforceError as error:
            return DmlFailure(
                number,
                error.error_code,
                error.message,
                tuple(error.fields or ()),
                record_id or "",
            )

    def _count_dml(self, rows: int) -> None:
        self._dml_statements += 1
        self._dml_rows += rows
        if self._dml_statements > DML_STATEMENT_LIMIT:
            self._limit(f"Too many DML statements: {self._dml_statements}")
        if self._dml_rows > DML_ROW_LIMIT:
            self._limit(f"Too many DML rows: {self._dml_rows}")

    def _begin_store_work(self) -> None:
        """Open the store's transaction at the first DML statement."""
        if self._store_work is None:
            work = ExitStack()
            work.enter_context(self.org.store.transaction())
            self._store_work = work

    # --- SOQL ------------------------------------------------------------------------

    def query(self, text: str) -> list[dict[str, Any]]:
        """``Database.query``: the records, shaped as the REST API shows them."""
        compiled = self._compile(text)
        if compiled.is_count:
            raise QueryException(
                "SELECT COUNT() returns a number: use count_query() (Apex: "
                "Database.countQuery)"
            )
        store = self.org.store
        with store.lock:
            total = soql.count(store.conn, compiled)
            self._count_rows(total)
            return soql.run_page(
                store.conn, compiled, 0, max(total, 1), self.org.api_version
            )

    def count_query(self, text: str) -> int:
        """``Database.countQuery``: the number a ``SELECT COUNT()`` query counts."""
        compiled = self._compile(text)
        if not compiled.is_count:
            raise QueryException("count_query() takes a SELECT COUNT() query")
        with self.org.store.lock:
            total = soql.count(self.org.store.conn, compiled)
        self._count_rows(total)
        return total

    def _compile(self, text: str) -> soql.CompiledQuery:
        self._queries += 1
        if self._queries > self.query_limit:
            self._limit(f"Too many SOQL queries: {self._queries}")
        try:
            return soql.compile_query(
                soql.parse_soql(text), self.org.schema, self.org.clock.now()
            )
        except errors.NotEmulated:
            raise
        except errors.SalesforceError as error:
            raise QueryException(error.message) from None

    def _count_rows(self, rows: int) -> None:
        # COUNT() queries count each row they count towards the limit too.
        if self._query_rows + rows > QUERY_ROW_LIMIT:
            self._limit(f"Too many query rows: {self._query_rows + rows}")
        self._query_rows += rows

    def limit(self, message: str) -> None:
        """Raise ``LimitException(message)``: the transaction will end with it."""
        self._limit(message)

    def _limit(self, message: str) -> None:
        error = LimitException(message)
        if self.limit_error is None:
            # The platform ends the transaction at the first limit passed; code that
            # swallowed it and went on does not change what the transaction reports.
            self.limit_error = error
        raise error

    # --- Limits ----------------------------------------------------------------------

    def usage(self) -> dict[str, tuple[int, int]]:
        """Each limit's use and maximum, as ``Limits.getX()``/``getLimitX()`` say."""
        return {
            "Queries": (self._queries, self.query_limit),
            "QueryRows": (self._query_rows, QUERY_ROW_LIMIT),
            "DmlStatements": (self._dml_statements, DML_STATEMENT_LIMIT),
            "DmlRows": (self._dml_rows, DML_ROW_LIMIT),
            "Callouts": (self._callouts, CALLOUT_LIMIT),
            "FutureCalls": (self.future_calls, FUTURE_CALL_LIMIT),
            "QueueableJobs": (self.queueable_jobs, self.queueable_job_limit),
        }

    # --- after commit ----------------------------------------------------------------

    def after_commit(self, callback: Callable[[], Any]) -> None:
        """Run ``callback()`` once this transaction has committed.

        Callbacks run in the order they were registered, after the commit, outside
        this transaction (no Apex transaction is current while they run, so each may
        open one of its own), in the thread that ran the transaction. When the
        transaction rolls back they are discarded and never run. An exception from a
        callback does not undo the commit nor stop the callbacks after it: it is
        logged and kept in ``after_commit_errors``.
        """
        if self.state != "Running":
            raise RuntimeError(
                f"This Apex transaction has already ended ({self.state}): "
                "after_commit() takes work for a transaction that is still running."
            )
        self._after_commit.append(callback)

    def _run_after_commit(self) -> None:
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            try:
                callback()
            except Exception as error:  # the commit stands; the next callbacks run
                logger.exception("An after-commit callback failed")
                self.after_commit_errors.append(error)

    # --- the end of the transaction --------------------------------------------------

    def _end(self, error: BaseException | None) -> None:
        """Commit the store's work, or roll it back when ``error`` is set."""
        work, self._store_work = self._store_work, None
        if error is not None:
            self.state = "RolledBack"
            self._after_commit.clear()
        if work is None:
            if error is None:
                self.state = "Committed"
            return
        if error is None:
            try:
                work.close()
            except BaseException:
                self.state = "RolledBack"
                self._after_commit.clear()
                raise
            self.state = "Committed"
        else:
            work.__exit__(type(error), error, error.__traceback__)


@contextmanager
def running(transaction: ApexTransaction) -> Iterator[ApexTransaction]:
    """Run Apex code in ``transaction``: commit at the end, roll back on an exception.

    A ``LimitException`` is raised at the end even if the code caught it. Apex has no
    nested transactions, so one thread runs one transaction at a time. After a commit,
    the transaction's ``after_commit`` callbacks run, outside it.
    """
    if _current.get() is not None:
        raise RuntimeError(
            "An Apex transaction is already running in this thread; Apex has no "
            "nested transactions."
        )
    token = _current.set(transaction)
    try:
        try:
            yield transaction
            if transaction.limit_error is not None:
                raise transaction.limit_error
        except BaseException as error:
            transaction._end(error)
            raise
        transaction._end(None)
    finally:
        _current.reset(token)
    transaction._run_after_commit()


@contextmanager
def api_call(org: Org) -> Iterator[ApexTransaction]:
    """The transaction of an API call that writes (see ``ApexRuntime.api_transaction``).

    Unlike ``running``, a ``LimitException`` that a trigger raised has already become
    the call's error answer; it is not raised again at the end.
    """
    running_now = _current.get()
    if running_now is not None:
        yield running_now
        return
    transaction = ApexTransaction(org)
    token = _current.set(transaction)
    try:
        transaction._begin_store_work()
        try:
            yield transaction
        except BaseException as error:
            transaction._end(error)
            raise
        transaction._end(None)
    finally:
        _current.reset(token)
    transaction._run_after_commit()
