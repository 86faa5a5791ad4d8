"""Apex system exceptions, named as Apex names them (``System.CalloutException``).

Lab code catches them as Apex code would (``except CalloutException as e``), and
``getMessage()``/``getTypeName()`` answer as in Apex. ``LimitException`` is raised like
the others but cannot be swallowed: the transaction re-raises it at its end (see
``sfsandbox.apex.transaction``).
"""

from __future__ import annotations

import dataclasses


class ApexException(Exception):
    """An Apex system exception; ``type_name`` is how Apex names it."""

    type_name = "System.Exception"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def getMessage(self) -> str:  # noqa: N802 - the Apex method's name
        return self.message

    def getTypeName(self) -> str:  # noqa: N802
        return self.type_name


@dataclasses.dataclass(frozen=True)
class DmlFailure:
    """One row of a DML statement that the save rejected."""

    row: int
    status_code: str
    message: str
    fields: tuple[str, ...] = ()
    record_id: str = ""


class DmlException(ApexException):
    """A DML statement failed; every failed row keeps the platform's status code."""

    type_name = "System.DmlException"

    def __init__(self, operation: str, failures: list[DmlFailure]) -> None:
        first = failures[0]
        where = f"row {first.row}"
        if first.record_id:
            where += f" with id {first.record_id}"
        super().__init__(
            f"{operation} failed. First exception on {where}; first error: "
            f"{first.status_code}, {first.message}: [{', '.join(first.fields)}]"
        )
        self.failures = failures

    def getNumDml(self) -> int:  # noqa: N802
        return len(self.failures)

    def getDmlType(self, index: int) -> str:  # noqa: N802
        """The failed row's status code, e.g. ``"REQUIRED_FIELD_MISSING"``."""
        return self.failures[index].status_code

    def getDmlMessage(self, index: int) -> str:  # noqa: N802
        return self.failures[index].message

    def getDmlFieldNames(self, index: int) -> list[str]:  # noqa: N802
        return list(self.failures[index].fields)

    def getDmlIndex(self, index: int) -> int:  # noqa: N802
        return self.failures[index].row


class QueryException(ApexException):
    type_name = "System.QueryException"


class SObjectException(ApexException):
    type_name = "System.SObjectException"


class StringException(ApexException):
    type_name = "System.StringException"


class TypeException(ApexException):
    type_name = "System.TypeException"


class JSONException(ApexException):  # noqa: N818 - Apex's name
    type_name = "System.JSONException"


class CalloutException(ApexException):
    """A callout failed before an HTTP response arrived (HTTP error statuses are not
    exceptions: Apex returns the response)."""

    type_name = "System.CalloutException"


class LimitException(ApexException):  # noqa: N818
    """A governor limit was passed; Apex code cannot catch it."""

    type_name = "System.LimitException"


class AsyncException(ApexException):
    """Asynchronous Apex used where the platform forbids it (a future from a future)."""

    type_name = "System.AsyncException"
