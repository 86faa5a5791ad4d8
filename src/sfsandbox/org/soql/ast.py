"""The parsed form of a SOQL query: small frozen dataclasses, one per construct.

Every node that an error can point at carries its :class:`Pos`, so the compiler can
answer with the platform's caret under the offending token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Pos:
    """Where a token starts: line and column as the platform counts them (from 1)."""

    line: int
    column: int
    offset: int


@dataclass(frozen=True)
class FieldPath:
    """A field, directly or through parent relationships: ``Account.Owner.Name``."""

    parts: tuple[str, ...]
    pos: Pos

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class FunctionCall:
    """``NAME(args)``: COUNT() is emulated; other functions are parsed to be refused."""

    name: str
    args: tuple[Any, ...]
    pos: Pos


@dataclass(frozen=True)
class Literal:
    """A value in a filter.

    ``kind`` is one of string, number, date, datetime, boolean, null, name (a bare
    word such as ``TODAY``) and date_n (``LAST_N_DAYS:30``). ``value`` is the decoded
    value: the string without escapes, an int or float, the date as ``YYYY-MM-DD``, the
    dateTime in UTC as stored (``YYYY-MM-DDTHH:MM:SS.000+0000``), a bool, None, the
    upper-cased word, or ``(WORD, n)``. ``like`` is a string's LIKE pattern, with
    ``\\%`` and ``\\_`` kept as escaped wildcards. ``text`` is the token as written.
    """

    kind: str
    value: Any
    text: str
    pos: Pos
    like: str | None = None


@dataclass(frozen=True)
class Comparison:
    """``operand op value``; the value is a Literal, a tuple of them (IN) or a Query."""

    operand: FieldPath | FunctionCall
    op: str
    value: Any
    pos: Pos


@dataclass(frozen=True)
class And:
    terms: tuple[Condition, ...]
    pos: Pos


@dataclass(frozen=True)
class Or:
    terms: tuple[Condition, ...]
    pos: Pos


@dataclass(frozen=True)
class Not:
    term: Condition
    pos: Pos


Condition = Comparison | And | Or | Not


@dataclass(frozen=True)
class OrderItem:
    """One ORDER BY key; ``nulls_first`` is None when the query does not say."""

    operand: FieldPath | FunctionCall
    descending: bool
    nulls_first: bool | None


@dataclass(frozen=True)
class ChildQuery:
    """A parent-to-child subquery: ``(SELECT LastName FROM Contacts)``."""

    query: Query
    pos: Pos


SelectItem = FieldPath | FunctionCall | ChildQuery


@dataclass(frozen=True)
class Query:
    """One SELECT statement; ``source`` is the query text, set on the outer query."""

    select: tuple[SelectItem, ...]
    sobject: str
    sobject_pos: Pos
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None
    offset_pos: Pos | None
    pos: Pos
    source: str = ""
