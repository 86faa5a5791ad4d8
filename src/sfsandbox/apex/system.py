"""``Limits``, ``Database`` and ``JSON``: Apex System classes over the running
transaction.

``Limits.getCallouts()`` and the others read the transaction running in this thread,
``Database.insert`` and the others write through it, as their Apex namesakes do.
``JSON.deserializeUntyped`` parses a response body the way Apex does, raising
``System.JSONException`` with the platform's wording when the body is not JSON: a
callout returns whatever the service sent, and parsing it is the caller's business.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sfsandbox.apex.exceptions import JSONException
from sfsandbox.apex.transaction import current_transaction

# Jackson's wording, as Apex reports it (observed: "Unexpected character ('s' (code
# 115)): expected a valid value (number, String, array, object, 'true', 'false' or
# 'null') at input location [1,2]").
EXPECTED_VALUE = (
    "expected a valid value (number, String, array, object, 'true', 'false' or 'null')"
)
PYTHON_TO_JACKSON = {
    "Expecting value": EXPECTED_VALUE,
    "Expecting property name enclosed in double quotes": (
        "was expecting double-quote to start field name"
    ),
    "Expecting ',' delimiter": "was expecting comma to separate entries",
    "Expecting ':' delimiter": "was expecting a colon to separate field name and value",
}


def _limit(name: str) -> tuple[int, int]:
    return current_transaction(f"Limits.get{name}()").usage()[name]


class Limits:
    """``System.Limits``: how much of each governor limit the transaction has used."""

    @staticmethod
    def getCallouts() -> int:  # noqa: N802 - Apex names
        return _limit("Callouts")[0]

    @staticmethod
    def getLimitCallouts() -> int:  # noqa: N802
        return _limit("Callouts")[1]

    @staticmethod
    def getQueries() -> int:  # noqa: N802
        return _limit("Queries")[0]

    @staticmethod
    def getLimitQueries() -> int:  # noqa: N802
        return _limit("Queries")[1]

    @staticmethod
    def getQueryRows() -> int:  # noqa: N802
        return _limit("QueryRows")[0]

    @staticmethod
    def getLimitQueryRows() -> int:  # noqa: N802
        return _limit("QueryRows")[1]

    @staticmethod
    def getDmlStatements() -> int:  # noqa: N802
        return _limit("DmlStatements")[0]

    @staticmethod
    def getLimitDmlStatements() -> int:  # noqa: N802
        return _limit("DmlStatements")[1]

    @staticmethod
    def getDmlRows() -> int:  # noqa: N802
        return _limit("DmlRows")[0]

    @staticmethod
    def getLimitDmlRows() -> int:  # noqa: N802
        return _limit("DmlRows")[1]

    @staticmethod
    def getFutureCalls() -> int:  # noqa: N802
        return _limit("FutureCalls")[0]

    @staticmethod
    def getLimitFutureCalls() -> int:  # noqa: N802
        return _limit("FutureCalls")[1]

    @staticmethod
    def getQueueableJobs() -> int:  # noqa: N802
        return _limit("QueueableJobs")[0]

    @staticmethod
    def getLimitQueueableJobs() -> int:  # noqa: N802
        return _limit("QueueableJobs")[1]


class Database:
    """``Database`` methods on the running transaction (records as field maps)."""

    @staticmethod
    def insert(
        sobject: str, records: Mapping[str, Any] | Iterable[Mapping[str, Any]]
    ) -> Any:
        return current_transaction("Database.insert").insert(sobject, records)

    @staticmethod
    def update(
        sobject: str, records: Mapping[str, Any] | Iterable[Mapping[str, Any]]
    ) -> None:
        current_transaction("Database.update").update(sobject, records)

    @staticmethod
    def delete(sobject: str, record_ids: str | Iterable[str]) -> None:
        current_transaction("Database.delete").delete(sobject, record_ids)

    @staticmethod
    def query(text: str) -> list[dict[str, Any]]:
        return current_transaction("Database.query").query(text)

    @staticmethod
    def countQuery(text: str) -> int:  # noqa: N802
        return current_transaction("Database.countQuery").count_query(text)


class JSON:  # noqa: N801 - Apex's name
    """``System.JSON``: untyped parsing and serialization."""

    @staticmethod
    def deserializeUntyped(text: str) -> Any:  # noqa: N802
        """Maps, lists, strings, numbers, booleans and nulls, or ``JSONException``."""
        if not isinstance(text, str):
            raise TypeError("JSON.deserializeUntyped takes a String")
        if not text.strip():
            # Jackson's message for empty input (UNVERIFIED as Apex shows it).
            raise JSONException("No content to map due to end-of-input")
        try:
            value, end = json.JSONDecoder().raw_decode(text, _skip_space(text))
        except json.JSONDecodeError as error:
            raise JSONException(_message(error)) from None
        rest = _skip_space(text, end)
        if rest < len(text):
            raise JSONException(_unexpected(text, rest, "expected end of input"))
        return value

    @staticmethod
    def serialize(value: Any, suppressApexObjectNulls: bool = False) -> str:  # noqa: N803
        """Apex's JSON of a value; nulls are kept unless suppressed, as in Apex."""
        return json.dumps(
            _to_json(value, not suppressApexObjectNulls),
            ensure_ascii=False,
            separators=(",", ":"),
        )


def _to_json(value: Any, keep_nulls: bool) -> Any:
    from sfsandbox.org.apexrest import to_json  # the shared serializer of leaves

    if isinstance(value, Mapping):
        return {
            str(k): _to_json(v, keep_nulls)
            for k, v in value.items()
            if keep_nulls or v is not None
        }
    if isinstance(value, list | tuple):
        return [_to_json(v, keep_nulls) for v in value]
    return to_json(value)


def _skip_space(text: str, start: int = 0) -> int:
    while start < len(text) and text[start] in " \t\r\n":
        start += 1
    return start


def _location(text: str, position: int) -> str:
    # Apex reports the parser's position after the offending character, 1-based.
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 2
    return f"[{line},{column}]"


def _unexpected(text: str, position: int, expectation: str) -> str:
    char = text[position]
    return (
        f"Unexpected character ('{char}' (code {ord(char)})): {expectation} at input "
        f"location {_location(text, position)}"
    )


def _message(error: json.JSONDecodeError) -> str:
    if error.pos >= len(error.doc):
        # Jackson's opening words; the rest of Apex's wording is UNVERIFIED.
        return (
            "Unexpected end-of-input: expected close marker at input location "
            f"{_location(error.doc, error.pos)}"
        )
    expectation = PYTHON_TO_JACKSON.get(error.msg, error.msg.lower())
    return _unexpected(error.doc, error.pos, expectation)
