"""The sandbox's Apex-like runtime: transactions, callouts and their governor limits.

Outbound integration patterns are Apex on the platform; in the sandbox a lab writes the
same steps in Python, with the Apex names, and the runtime enforces the platform's
limits and errors::

    from sfsandbox.apex import Database, Http, HttpRequest, JSON, Limits

    with org.apex.transaction():                         # one Apex transaction
        req = HttpRequest()
        req.setEndpoint("callout:CreditBureau/v1/scores/ACME-001")
        req.setMethod("GET")
        req.setTimeout(5000)                             # ms; default 10,000
        res = Http().send(req)                           # 4xx/5xx are responses
        score = JSON.deserializeUntyped(res.getBody())["score"]
        Database.update("Account", {"Id": account_id, "Rating": "Hot"})

Modules: ``transaction`` (DML, SOQL, limits, commit and rollback), ``callout``
(``Http``, ``HttpRequest``, ``HttpResponse`` and the simulated-latency contract that
simulated systems follow), ``credentials`` (named and external credentials, remote site
settings), ``continuation`` (``Continuation``), ``system`` (``Limits``, ``Database``,
``JSON``), ``eventbus`` (``EventBus.publish``), ``exceptions``
(``System.CalloutException`` and the others), ``triggers`` (after insert/update
triggers on sObjects, ``org.apex.triggers``), ``asynchronous`` (``@future``,
``Queueable``, ``System.enqueueJob`` and the job queue ``org.apex.jobs``) and
``runtime`` (``org.apex``).
"""

from sfsandbox.apex.asynchronous import (
    AllowsCallouts,
    AsyncApexJob,
    Queueable,
    QueueableContext,
    System,
    future,
)
from sfsandbox.apex.callout import (
    SIMULATED_LATENCY_HEADER,
    Http,
    HttpRequest,
    HttpResponse,
)
from sfsandbox.apex.continuation import Continuation
from sfsandbox.apex.credentials import (
    ExternalCredential,
    NamedCredential,
    RemoteSiteSetting,
)
from sfsandbox.apex.eventbus import (
    DatabaseError,
    EventBus,
    PlatformEvent,
    SaveResult,
)
from sfsandbox.apex.exceptions import (
    ApexException,
    AsyncException,
    CalloutException,
    DmlException,
    JSONException,
    LimitException,
    QueryException,
)
from sfsandbox.apex.runtime import ApexRuntime
from sfsandbox.apex.system import JSON, Database, Limits
from sfsandbox.apex.transaction import (
    ApexTransaction,
    CalloutRecord,
    NoApexTransaction,
    current_transaction,
)

__all__ = [
    "AllowsCallouts",
    "AsyncApexJob",
    "AsyncException",
    "Queueable",
    "QueueableContext",
    "System",
    "future",
    "JSON",
    "SIMULATED_LATENCY_HEADER",
    "ApexException",
    "ApexRuntime",
    "ApexTransaction",
    "CalloutException",
    "CalloutRecord",
    "Continuation",
    "Database",
    "DatabaseError",
    "DmlException",
    "EventBus",
    "ExternalCredential",
    "Http",
    "HttpRequest",
    "HttpResponse",
    "JSONException",
    "LimitException",
    "Limits",
    "NamedCredential",
    "NoApexTransaction",
    "PlatformEvent",
    "QueryException",
    "RemoteSiteSetting",
    "SaveResult",
    "current_transaction",
]
