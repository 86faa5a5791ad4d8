"""``Continuation``: asynchronous callouts for a page (Visualforce, Aura, LWC).

An ``@AuraEnabled(continuation=true)`` Apex method returns a ``Continuation`` instead
of calling out itself; the platform makes its callouts outside any Apex transaction and
then calls the callback method in a new transaction, where
``Continuation.getResponse(label)`` gives each response::

    Continuation con = new Continuation(40);     con = Continuation(40)
    con.continuationMethod = 'processResponse';  con.continuationMethod = process
    con.state = accountId;                       con.state = account_id
    String label = con.addHttpRequest(req);      label = con.addHttpRequest(req)
    return con;                                  return con

    public static Object processResponse(        def process(labels, state):
            List<String> labels, Object state) {
        HttpResponse res =                           res = Continuation.getResponse(
            Continuation.getResponse(labels[0]);         labels[0])
        return res.getBody();                        return res.getBody()
    }

and the lab runs it with ``org.apex.invoke_continuation(start_request, ...)``, which
returns what the callback returns. The limits (Apex Developer Guide, "Continuation
Limits", and the Continuation class):

- at most 3 requests per continuation, made in parallel, and at most 3 continuations
  chained (a callback may return another ``Continuation``);
- the continuation's timeout, 1 to 120 seconds, applies to every request; the
  ``HttpRequest``'s own timeout is ignored;
- a response of more than 1 MB is not delivered;
- the method that returns the continuation may not do DML: the transaction is rolled
  back and an error returned (Lightning Components Developer Guide,
  "Continuation-Specific Limits"). The callback may.

A failed request is not an exception: its response carries one of the Continuation
class's error status codes, 2000 (timed out), 2001 (connection failed), 2002 (an
exception occurred), 2003 (no response yet) or 2004 (response too large).

The endpoints are resolved as for ``Http().send`` (named credentials, remote site
settings), and the latency contract is the one in ``sfsandbox.apex.callout``: each
request is charged the simulated latency its service declares, capped by the
continuation's timeout; since the requests run in parallel, ``org.clock`` advances by
the longest of them. Continuation callouts do not count toward the calling
transaction's callout limits. Deterministic: the requests are sent one after another,
in the order they were added, and only their simulated time overlaps.

Not emulated: Visualforce view state and controller state, ``state`` serialization (the
object is passed as it is), and WSDL2Apex asynchronous stubs.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sfsandbox.apex.callout import (
    HttpRequest,
    HttpResponse,
    check_method,
    resolve,
)
from sfsandbox.apex.exceptions import CalloutException

if TYPE_CHECKING:
    from sfsandbox.apex.runtime import ApexRuntime

MAX_REQUESTS = 3
MAX_CHAINED = 3
MAX_TIMEOUT_SECONDS = 120
MAX_RESPONSE_BYTES = 1_000_000  # "Maximum HTTP response size: 1 MB"
# Continuation class, getResponse: "Sample of Error Status Codes".
TIMED_OUT = 2000
CONNECTION_FAILED = 2001
EXCEPTION_OCCURRED = 2002
RESPONSE_TOO_LARGE = 2004
FAILURE_STATUS = {
    "timeout": TIMED_OUT,
    "unreachable": CONNECTION_FAILED,
    "untrusted": EXCEPTION_OCCURRED,
    "no_response": EXCEPTION_OCCURRED,
    "size": RESPONSE_TOO_LARGE,
}

_responses: contextvars.ContextVar[dict[str, HttpResponse] | None] = (
    contextvars.ContextVar("sfsandbox_continuation_responses", default=None)
)


class Continuation:
    """``System.Continuation``: up to three callouts made for a page, then a callback.

    ``continuationMethod`` is the callback itself (a function of ``labels`` and
    ``state``), where Apex names the method in a string.
    """

    def __init__(self, timeout: int) -> None:
        self.timeout = timeout
        self.continuationMethod: Callable[[list[str], Any], Any] | None = None
        self.state: Any = None
        self._requests: dict[str, HttpRequest] = {}

    @property
    def timeout(self) -> int:
        """The continuation's timeout in seconds, 1 to 120."""
        return self._timeout

    @timeout.setter
    def timeout(self, seconds: int) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int):
            raise TypeError("Continuation timeout takes an Integer of seconds")
        if not 1 <= seconds <= MAX_TIMEOUT_SECONDS:
            # UNVERIFIED wording; the maximum is documented (120 seconds).
            raise CalloutException(
                f"Continuation timeout must be between 1 and {MAX_TIMEOUT_SECONDS} "
                "seconds"
            )
        self._timeout = seconds

    def addHttpRequest(self, request: HttpRequest) -> str:  # noqa: N802 - Apex names
        """Add a request; returns its label (``Continuation-1``, ``-2``, ``-3``)."""
        if len(self._requests) >= MAX_REQUESTS:
            # UNVERIFIED wording; the limit of three is documented.
            raise CalloutException(
                f"A continuation can have at most {MAX_REQUESTS} requests"
            )
        label = f"Continuation-{len(self._requests) + 1}"
        self._requests[label] = request
        return label

    def getRequests(self) -> dict[str, HttpRequest]:  # noqa: N802
        return dict(self._requests)

    @staticmethod
    def getResponse(request_label: str) -> HttpResponse | None:  # noqa: N802
        """The response for a label, inside the continuation's callback."""
        responses = _responses.get()
        if responses is None:
            raise CalloutException(
                "Continuation.getResponse is available in the continuation's callback"
            )
        return responses.get(request_label)


def invoke(
    runtime: ApexRuntime, action: Callable[..., Any], *args: Any, **kwargs: Any
) -> Any:
    """Run ``action``; while it returns a ``Continuation``, make its callouts and run
    its callback, each in a transaction of its own. Returns the final result."""
    with runtime.transaction() as transaction:
        result = action(*args, **kwargs)
        if isinstance(result, Continuation) and transaction.has_pending_work:
            # UNVERIFIED wording; the rule is documented.
            raise CalloutException(
                "A method that returns a Continuation cannot perform DML operations"
            )

    chained = 0
    while isinstance(result, Continuation):
        chained += 1
        if chained > MAX_CHAINED:
            # UNVERIFIED wording; the limit of three chained callouts is documented.
            raise CalloutException(
                f"A continuation chain can have at most {MAX_CHAINED} continuations"
            )
        continuation = result
        if continuation.continuationMethod is None:
            raise CalloutException(
                "Set continuationMethod to the callback that processes the responses"
            )
        responses = _call_out(runtime, continuation)
        token = _responses.set(responses)
        try:
            with runtime.transaction():
                result = continuation.continuationMethod(
                    list(responses), continuation.state
                )
        finally:
            _responses.reset(token)
    return result


def _call_out(
    runtime: ApexRuntime, continuation: Continuation
) -> dict[str, HttpResponse]:
    """Every request of a continuation, in parallel in simulated time."""
    timeout_ms = continuation.timeout * 1000
    responses: dict[str, HttpResponse] = {}
    longest = 0
    for label, request in continuation.getRequests().items():
        method = check_method(request)
        target = resolve(runtime, request)
        exchange = runtime.exchange(
            method, target, request, timeout_ms, MAX_RESPONSE_BYTES
        )
        failure = exchange.failure
        if exchange.response is not None and exchange.latency_ms > timeout_ms:
            failure = "timeout"
        charged = timeout_ms if failure == "timeout" else exchange.latency_ms
        longest = max(longest, min(charged, timeout_ms))
        if failure or exchange.response is None:
            responses[label] = HttpResponse(FAILURE_STATUS.get(failure, 2002))
        else:
            responses[label] = exchange.response
    if longest:
        runtime.org.clock.advance(timedelta(milliseconds=longest))
    return responses
