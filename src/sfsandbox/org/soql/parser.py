"""SOQL text to the AST of :mod:`sfsandbox.org.soql.ast`, with the platform's errors.

The Lark LALR parser is built once, at import, and transforms while it parses (no
parse tree), so a typical query parses in a fraction of a millisecond. Any string goes
in; what comes out is a Query or one of the org's API errors, never another exception.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer
from lark.common import LexerConf
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)
from lark.lexer import Lexer

from sfsandbox.org.errors import (
    MalformedQuery,
    NotEmulated,
    NumberOutsideValidRange,
    SalesforceError,
)
from sfsandbox.org.soql.ast import (
    And,
    ChildQuery,
    Comparison,
    FieldPath,
    FunctionCall,
    Literal,
    Not,
    Or,
    OrderItem,
    Pos,
    Query,
)

# The platform's answer to an empty query, as Salesforce Inspector relays it
# (dufoli/Salesforce-Inspector-Advanced issue #284).
EMPTY_QUERY = "SOQL statements cannot be empty or null"

# A syntax error at the end of the query has no caret block on the platform: an
# integration test against a real org asserts the whole message for
# "SELECT Id FROM Contact WHERE" (sf-api-connector, PartnerConnectionTest.java).
UNEXPECTED_EOF = "unexpected token: '<EOF>'"

# The message repeats the query around the error: from 30 characters before the token
# to 35 after it, widened to whole words and trimmed of spaces. Inferred from six
# captured messages (mautic#13406, boomii/bdw#94, SFDMU#340, vlocity_build#364,
# pyforce#25, EloquentSalesForce#68).
WINDOW_BEFORE = 30
WINDOW_AFTER = 35

# Longer queries are parsed afresh each time rather than kept in the cache.
CACHED_QUERY_LENGTH = 10_000

# "By default, 100,000 characters" (Salesforce App Limits, SOQL and SOSL limits). The
# wording is the one captured when the limit was 20,000: "MALFORMED_QUERY: SOQL
# statements can not be longer than 20000 character[s]" (Illuminated Cloud #466).
MAX_QUERY_LENGTH = 100_000
QUERY_TOO_LONG = "SOQL statements can not be longer than 100000 characters"

# LIMIT, OFFSET and the n of LAST_N_DAYS:n are whole numbers the platform reads as
# Java ints; a larger one is refused (UNVERIFIED wording, kept plain).
MAX_INTEGER = 2**31 - 1
# Number literals are compared as doubles; integers up to 18 digits stay exact.
EXACT_DIGITS = 18

# Valid SOQL the sandbox does not run, known by its keyword when the grammar stops.
UNSUPPORTED_KEYWORDS = {
    "GROUP": "SOQL GROUP BY",
    "HAVING": "SOQL HAVING",
    "WITH": "SOQL WITH clauses (WITH SECURITY_ENFORCED, WITH USER_MODE, WITH DATA "
    "CATEGORY)",
    "TYPEOF": "SOQL TYPEOF",
    "USING": "SOQL USING SCOPE",
    "FOR": "SOQL FOR VIEW, FOR REFERENCE and FOR UPDATE",
    "UPDATE": "SOQL UPDATE TRACKING and UPDATE VIEWSTAT",
}

_ESCAPES = {
    "n": "\n",
    "N": "\n",
    "r": "\r",
    "R": "\r",
    "t": "\t",
    "T": "\t",
    "b": "\b",
    "B": "\b",
    "f": "\f",
    "F": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
}
_INTEGER = re.compile(r"\d+")
_WINDOW_BREAKS = frozenset(",()")


def located(text: str, pos: Pos, reason: str) -> str:
    """A SOQL error message as the platform words it: the query, a caret, the position.

    ``"\\nSELECT Nme FROM Account\\n       ^\\nERROR at Row:1:Column:8\\nNo such..."``
    """
    lines = text.split("\n")
    line = lines[pos.line - 1].rstrip("\r") if 0 < pos.line <= len(lines) else ""
    at = min(max(pos.column - 1, 0), len(line))

    start = max(0, at - WINDOW_BEFORE)
    while 0 < start < len(line) and _in_word(line[start - 1]) and _in_word(line[start]):
        start -= 1
    end = min(len(line), at + WINDOW_AFTER)
    while 0 < end < len(line) and _in_word(line[end - 1]) and _in_word(line[end]):
        end += 1
    while start < at and line[start].isspace():
        start += 1
    while end > at + 1 and line[end - 1].isspace():
        end -= 1

    caret = " " * (at - start) + "^"
    return (
        f"\n{line[start:end]}\n{caret}\n"
        f"ERROR at Row:{pos.line}:Column:{pos.column}\n{reason}"
    )


def _in_word(char: str) -> bool:
    return not char.isspace() and char not in _WINDOW_BREAKS


def _pos(token: Token) -> Pos:
    return Pos(token.line or 1, token.column or 1, token.start_pos or 0)


class _LiteralError(Exception):
    """Raised in the transformer, which has no query text; located outside it."""

    def __init__(self, error: type[SalesforceError], pos: Pos, reason: str) -> None:
        super().__init__(reason)
        self.error = error
        self.pos = pos
        self.reason = reason


class _ToAst(Transformer):
    """Builds the AST while the LALR parser reduces, one method per grammar rule."""

    def start(self, children: list[Any]) -> Query:
        return children[0]

    def query(self, children: list[Any]) -> Query:
        select_token, select, name = children[:3]
        clauses = dict(children[3:])
        limit = clauses.get("limit")
        offset = clauses.get("offset")
        return Query(
            select=select,
            sobject=str(name),
            sobject_pos=_pos(name),
            where=clauses.get("where"),
            order_by=clauses.get("order", ()),
            limit=limit[0] if limit else None,
            offset=offset[0] if offset else None,
            offset_pos=offset[1] if offset else None,
            pos=_pos(select_token),
        )

    def select_list(self, children: list[Any]) -> tuple[Any, ...]:
        return tuple(children)

    def child_query(self, children: list[Any]) -> ChildQuery:
        return ChildQuery(children[0], children[0].pos)

    def field_path(self, children: list[Token]) -> FieldPath:
        return FieldPath(tuple(str(t) for t in children), _pos(children[0]))

    def function_call(self, children: list[Any]) -> FunctionCall:
        args = tuple(a for a in children[1:] if a is not None)
        return FunctionCall(str(children[0]), args, _pos(children[0]))

    def where_clause(self, children: list[Any]) -> tuple[str, Any]:
        return ("where", children[0])

    def and_(self, children: list[Any]) -> And:
        terms = tuple(c for c in children if not isinstance(c, Token))
        return And(terms, _pos(children[1]))

    def or_(self, children: list[Any]) -> Or:
        terms = tuple(c for c in children if not isinstance(c, Token))
        return Or(terms, _pos(children[1]))

    def not_(self, children: list[Any]) -> Not:
        return Not(children[1], _pos(children[0]))

    def comparison(self, children: list[Any]) -> Comparison:
        operand, op, value = children
        return Comparison(operand, str(op).upper(), value, _pos(op))

    def in_(self, children: list[Any]) -> Comparison:
        return Comparison(children[0], "IN", children[2], _pos(children[1]))

    def not_in(self, children: list[Any]) -> Comparison:
        return Comparison(children[0], "NOT IN", children[3], _pos(children[1]))

    def semi_join(self, children: list[Any]) -> Comparison:
        return Comparison(children[0], "IN", children[2], _pos(children[1]))

    def anti_join(self, children: list[Any]) -> Comparison:
        return Comparison(children[0], "NOT IN", children[3], _pos(children[1]))

    def includes(self, children: list[Any]) -> Comparison:
        return Comparison(children[0], "INCLUDES", children[2], _pos(children[1]))

    def excludes(self, children: list[Any]) -> Comparison:
        return Comparison(children[0], "EXCLUDES", children[2], _pos(children[1]))

    def value_list(self, children: list[Literal]) -> tuple[Literal, ...]:
        return tuple(children)

    def value(self, children: list[Token]) -> Literal:
        return _literal(children[0])

    def order_clause(self, children: list[Any]) -> tuple[str, Any]:
        return ("order", tuple(children[2:]))

    def order_item(self, children: list[Any]) -> OrderItem:
        words = {str(t).upper() for t in children[1:]}
        nulls_first = None
        if "NULLS" in words:
            nulls_first = "FIRST" in words
        return OrderItem(children[0], "DESC" in words, nulls_first)

    def limit_clause(self, children: list[Token]) -> tuple[str, Any]:
        return ("limit", (_count(children[1]), _pos(children[1])))

    def offset_clause(self, children: list[Token]) -> tuple[str, Any]:
        return ("offset", (_count(children[1]), _pos(children[1])))


def _count(token: Token) -> int:
    """A LIMIT or OFFSET: a non-negative integer, or the platform's unexpected token."""
    if not _INTEGER.fullmatch(token):
        raise _LiteralError(MalformedQuery, _pos(token), f"unexpected token: '{token}'")
    return _whole_number(str(token), token)


def _whole_number(digits: str, token: Token) -> int:
    """Digits as an int of at most ``MAX_INTEGER``, checked before ``int()`` (which
    refuses more than 4,300 digits)."""
    if len(digits.lstrip("0")) > len(str(MAX_INTEGER)) or int(digits) > MAX_INTEGER:
        reason = f"Number too large in '{token}': the largest allowed is {MAX_INTEGER}"
        raise _LiteralError(MalformedQuery, _pos(token), reason)
    return int(digits)


def _number(token: Token, pos: Pos) -> int | float:
    """A number literal: an int when exact, else a double; never inf."""
    text = str(token)
    value = float(text)
    if not math.isfinite(value):
        # The code the platform gives a number out of range (UNVERIFIED for a SOQL
        # literal); the caret points at the literal.
        reason = f"Number outside of the valid range of a double: {text}"
        raise _LiteralError(NumberOutsideValidRange, pos, reason)
    if "." not in text and len(text.lstrip("+-")) <= EXACT_DIGITS:
        return int(text)
    return value


def _literal(token: Token) -> Literal:
    """The Literal for one value token, decoded and checked."""
    pos = _pos(token)
    text = str(token)
    kind = token.type
    if kind == "STRING":
        value, like = _unescape(text, pos)
        return Literal("string", value, text, pos, like)
    if kind == "NUMBER":
        return Literal("number", _number(token, pos), text, pos)
    if kind == "DATE":
        return Literal("date", _check_date(text, pos), text, pos)
    if kind == "DATETIME":
        return Literal("datetime", _utc_datetime(text, pos), text, pos)
    if kind in ("TRUE", "FALSE"):
        return Literal("boolean", kind == "TRUE", text, pos)
    if kind == "NULL":
        return Literal("null", None, text, pos)
    if kind == "DATE_N":
        word, _, n = text.partition(":")
        return Literal("date_n", (word.upper(), _whole_number(n, token)), text, pos)
    return Literal("name", text.upper(), text, pos)


def _unescape(text: str, pos: Pos) -> tuple[str, str]:
    """Decode a quoted SOQL string: its value, and its pattern for LIKE.

    SOQL's escapes are backslash sequences (\\' \\" \\\\ \\n \\r \\t \\b \\f \\uXXXX);
    ``\\%`` and ``\\_`` stay escaped in the LIKE pattern and are plain characters
    elsewhere. Any other backslash is an error on the platform.
    """
    body = text[1:-1]
    if "\\" not in body:
        return body, body

    value: list[str] = []
    like: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            value.append(char)
            like.append(char)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt in _ESCAPES:
            decoded = _ESCAPES[nxt]
            value.append(decoded)
            like.append("\\\\" if decoded == "\\" else decoded)
            i += 2
        elif nxt in ("%", "_"):
            value.append(nxt)
            like.append("\\" + nxt)
            i += 2
        elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
            decoded = chr(int(body[i + 2 : i + 6], 16))
            value.append(decoded)
            like.append(decoded)
            i += 6
        else:
            # Wording not verified against a capture; kept plain.
            raise _LiteralError(
                MalformedQuery,
                pos,
                f"Invalid string literal {text}. Illegal character sequence "
                f"'\\{nxt}' in string literal.",
            )
    try:
        # \uXXXX escapes of a surrogate pair become one character; a lone one is
        # no character at all (UNVERIFIED wording, kept plain).
        return _utf16("".join(value)), _utf16("".join(like))
    except UnicodeDecodeError:
        reason = f"Invalid string literal {text}. Unpaired surrogate in \\u escape."
        raise _LiteralError(MalformedQuery, pos, reason) from None


def _utf16(text: str) -> str:
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")


def _check_date(text: str, pos: Pos) -> str:
    try:
        date.fromisoformat(text)
    except ValueError:
        # "Invalid date: ..." mirrors the dateTime wording of the Winter '25 notes.
        raise _LiteralError(MalformedQuery, pos, f"Invalid date: {text}") from None
    return text


def _utc_datetime(text: str, pos: Pos) -> str:
    """A dateTime literal in UTC, formatted as the store keeps dateTimes."""
    try:
        value = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        # Winter '25 release notes: "Invalid datetime: 2020-12-12t12:12:00-25:00".
        raise _LiteralError(MalformedQuery, pos, f"Invalid datetime: {text}") from None
    value = value.astimezone(UTC)
    return (
        value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"
    )


class _SoqlLexer(Lexer):
    """Lark's basic lexer, faster: keywords are found by a dict lookup on each word.

    The token shapes come from the grammar's own terminals, so grammar.lark stays the
    one definition. Trying twenty case-insensitive keyword patterns at every position
    was most of the parse time; one word pattern and a lookup is a fraction of it.
    """

    _KEYWORD = re.compile(r"([a-z]+)\\b")

    def __init__(self, lexer_conf: LexerConf) -> None:
        self.keywords: dict[str, str] = {}
        self.ignore = set(lexer_conf.ignore)
        groups = []
        ordered = sorted(lexer_conf.terminals, key=lambda t: -t.priority)
        for terminal in ordered:
            keyword = self._KEYWORD.fullmatch(terminal.pattern.value)
            if keyword and "i" in terminal.pattern.flags:
                self.keywords[keyword.group(1).upper()] = terminal.name
            else:
                groups.append(f"(?P<{terminal.name}>{terminal.pattern.to_regexp()})")
        self.pattern = re.compile("|".join(groups))

    def lex(self, text: str) -> Iterator[Token]:  # type: ignore[override]
        # Lark's first custom-lexer interface: the whole text in, tokens out.
        return _lex(self, text)


def _lex(lexer: _SoqlLexer, text: str) -> Iterator[Token]:
    match = lexer.pattern.match
    keywords = lexer.keywords
    ignore = lexer.ignore
    pos, line, line_start, end = 0, 1, 0, len(text)
    while pos < end:
        found = match(text, pos)
        if found is None:
            raise UnexpectedCharacters(text, pos, line, pos - line_start + 1)
        kind = found.lastgroup or ""
        value = found.group()
        if kind not in ignore:
            if kind == "NAME":
                kind = keywords.get(value.upper(), "NAME")
            yield Token(kind, value, pos, line, pos - line_start + 1)
        newlines = value.count("\n")
        if newlines:
            line += newlines
            line_start = pos + value.rindex("\n") + 1
        pos = found.end()


# Positions come from the tokens, which always carry line and column. Lark's
# propagate_positions only annotates Tree nodes, and this parser builds none: the
# transformer runs during the parse, so the option would cost time and add nothing.
_PARSER = Lark(
    (Path(__file__).with_name("grammar.lark")).read_text(encoding="utf-8"),
    parser="lalr",
    lexer=_SoqlLexer,
    maybe_placeholders=False,
    transformer=_ToAst(),
)
_LEXER = _SoqlLexer(_PARSER.lexer_conf)


def parse_soql(text: str) -> Query:
    """Parse one SOQL query, or raise the error the platform would give for it.

    Raises MalformedQuery for syntax errors and NotEmulated for valid SOQL the sandbox
    does not run (GROUP BY, TYPEOF, WITH, FOR UPDATE, ...).
    """
    if not isinstance(text, str) or not text.strip():
        raise MalformedQuery(EMPTY_QUERY)
    if len(text) > MAX_QUERY_LENGTH:
        raise MalformedQuery(QUERY_TOO_LONG)
    if len(text) > CACHED_QUERY_LENGTH:
        return _parse.__wrapped__(text)
    return _parse(text)


@lru_cache(maxsize=256)
def _parse(text: str) -> Query:
    """Parse, remembering recent queries: Query is immutable and clients repeat them."""
    try:
        query = _PARSER.parse(text)
    except VisitError as error:
        raise _translate(text, error.orig_exc) from None
    except (LarkError, _LiteralError) as error:
        raise _translate(text, error) from None
    return replace(query, source=text)


def _translate(text: str, error: BaseException) -> SalesforceError:
    """The API error for a failure inside Lark."""
    if isinstance(error, SalesforceError):
        return error
    if isinstance(error, _LiteralError):
        return error.error(located(text, error.pos, error.reason))
    if isinstance(error, UnexpectedToken):
        return _unexpected_token(text, error)
    if isinstance(error, UnexpectedCharacters):
        return _unexpected_character(text, error)
    if isinstance(error, UnexpectedInput):
        return MalformedQuery(UNEXPECTED_EOF)
    return MalformedQuery(f"unexpected token: '{text.strip()[:40]}'")


def _unexpected_token(text: str, error: UnexpectedToken) -> SalesforceError:
    token = error.token
    at_end = token.type == "$END"
    limit = len(text) if at_end else (token.start_pos or 0)

    feature = _unsupported_feature(text, limit)
    if feature:
        return NotEmulated(feature)
    if at_end:
        return MalformedQuery(UNEXPECTED_EOF)
    if _is_object_alias(text, token):
        return NotEmulated("SOQL object aliases (FROM Account a)")
    return MalformedQuery(located(text, _pos(token), f"unexpected token: '{token}'"))


def _unexpected_character(text: str, error: UnexpectedCharacters) -> SalesforceError:
    pos = Pos(error.line, error.column, error.pos_in_stream)
    rest = text[error.pos_in_stream :]
    feature = _unsupported_feature(text, error.pos_in_stream)
    if feature:
        return NotEmulated(feature)
    if re.match(r":[A-Za-z_]", rest):
        # Binds exist only in Apex (message as quoted by integration guides).
        return MalformedQuery(
            located(text, pos, "Bind variables only allowed in Apex code")
        )
    # Winter '25 release notes: "line 1:15 unexpected token: '$'" (0-based column).
    reason = f"line {error.line}:{error.column - 1} unexpected token: '{error.char}'"
    return MalformedQuery(located(text, pos, reason))


def _tokens(text: str) -> list[Token]:
    """The query's tokens, as far as the lexer can go."""
    tokens: list[Token] = []
    try:
        for token in _lex(_LEXER, text):
            tokens.append(token)
    except LarkError:
        pass
    return tokens


def _unsupported_feature(text: str, limit: int) -> str | None:
    """The unemulated feature that starts at or before ``limit``, if any."""
    tokens = _tokens(text)
    for i, token in enumerate(tokens):
        if (token.start_pos or 0) > limit:
            break
        word = str(token).upper()
        if token.type == "NAME" and word in UNSUPPORTED_KEYWORDS:
            return UNSUPPORTED_KEYWORDS[word]
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        if token.type == "NAME" and following is not None and str(following) == "(":
            after = tokens[i + 2] if i + 2 < len(tokens) else None
            if word == "COUNT" and after is not None and str(after) == ")":
                continue
            return function_feature(str(token))
    return None


def function_feature(name: str) -> str:
    """The not-emulated feature a SOQL function call belongs to."""
    if name.upper() in ("COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"):
        return (
            "SOQL aggregate functions (COUNT(field), COUNT_DISTINCT, SUM, AVG, MIN, "
            "MAX)"
        )
    if name.upper() == "FIELDS":
        return "SOQL FIELDS()"
    return f"SOQL function {name}()"


def _is_object_alias(text: str, token: Token) -> bool:
    """Is ``token`` an alias after ``FROM Object`` in an otherwise valid query?"""
    if token.type not in ("NAME", "ORDER", "BY", "OFFSET"):
        return False
    tokens = _tokens(text)
    index = next(
        (i for i, t in enumerate(tokens) if t.start_pos == token.start_pos), -1
    )
    if index < 2 or str(tokens[index - 2]).upper() != "FROM":
        return False

    start = token.start_pos or 0
    blanked = text[:start] + " " * len(token) + text[start + len(token) :]
    try:
        _PARSER.parse(blanked)
    except (LarkError, _LiteralError):
        return False
    return True
