"""SOQL AST to SQLite SQL over the store's tables, and records shaped as REST has them.

The store keeps one table per sObject, named like the object, with one column per field
(see ``store.py``). Every value in the SQL is a parameter; every identifier comes from
the schema and is quoted. Filters follow SOQL's two-valued logic: a comparison with a
null field is false, never unknown, so ``!=`` and ``NOT`` keep the rows whose field is
null, as on the platform.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sfsandbox.org.errors import (
    InvalidField,
    InvalidQueryFilterOperator,
    InvalidType,
    MalformedQuery,
    NotEmulated,
    NumberOutsideValidRange,
    QueryTooComplicated,
    UnknownException,
)
from sfsandbox.org.ids import to_18
from sfsandbox.org.schema import Field, Schema, SObjectType
from sfsandbox.org.soql.ast import (
    And,
    ChildQuery,
    Comparison,
    Condition,
    FieldPath,
    FunctionCall,
    Literal,
    Not,
    Or,
    Pos,
    Query,
)
from sfsandbox.org.soql.parser import function_feature, located

# Platform wording, checked against captured responses; sources beside each.
# INVALID_FIELD. sf-api-connector PartnerConnectionTest (real org), soql-tooling#86.
NO_SUCH_COLUMN = (
    "No such column '{name}' on entity '{entity}'. If you are attempting to use a "
    "custom field, be sure to append the '__c' after the custom field name. Please "
    "reference your WSDL or the describe call for the appropriate names."
)
# INVALID_TYPE. vlocity_build#364 (caret at the object name), pyforce#25.
NOT_SUPPORTED_TYPE = (
    "sObject type '{name}' is not supported. If you are attempting to use a custom "
    "object, be sure to append the '__c' after the entity name. Please reference your "
    "WSDL or the describe call for the appropriate names."
)
# INVALID_FIELD. Quoted in many client projects' error handling (e.g. SFDMU#323).
BAD_RELATIONSHIP = (
    "Didn't understand relationship '{name}' in field path. If you are attempting to "
    "use a custom relationship, be sure to append the '__r' after the custom "
    "relationship name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)
# INVALID_TYPE for an unknown child relationship in a subquery's FROM (wording as
# quoted by client projects; the error code is the less certain part).
BAD_CHILD_RELATIONSHIP = (
    "Didn't understand relationship '{name}' in FROM part of query call. If you are "
    "attempting to use a custom relationship, be sure to append the '__r' after the "
    "custom relationship name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)
# INVALID_FIELD. The SOQL and SOSL Reference, FIELDS(): "duplicate field selected: Id";
# SFDMU#340 shows the caret under the second occurrence.
DUPLICATE_FIELD = "duplicate field selected: {name}"
# INVALID_FIELD, caret under the field. EloquentSalesForce#68 (string, captured body);
# the date and dateTime forms are quoted by django-salesforce#10 and client code.
FILTER_TYPE = (
    "value of filter criterion for field '{name}' must be of type {type} and should "
    "{negation}be enclosed in quotes"
)
# INVALID_QUERY_FILTER_OPERATOR, caret under the field: sf-api-connector (real org).
INVALID_ID = "invalid ID field: {value}"
# INVALID_FIELD for filters, MALFORMED_QUERY for sorting; wording quoted by client
# projects that reproduced both against an org.
NOT_FILTERABLE = "field '{name}' can not be filtered in query call"
NOT_SORTABLE = "field '{name}' can not be sorted in a query call"
# QUERY_TOO_COMPLICATED; the platform's wording, quoted in many connector manuals. The
# sandbox says it when a filter nests too deep for it, or the joins pass SQLite's limit.
TOO_COMPLICATED = (
    "Query is either selecting too many fields or the filter conditions are too "
    "complicated."
)
# SQLite's own limits, as its error messages name them ("Expression tree is too large",
# "parser stack overflow", "too many SQL variables", "at most 64 tables in a join",
# "LIKE or GLOB pattern too complex"). Reaching one means the SOQL expanded into SQL
# past what the engine takes, which is what the platform says QUERY_TOO_COMPLICATED
# for (App Limits: statements are "expanded internally"); the thresholds differ.
SQLITE_LIMIT_WORDS = ("too large", "stack overflow", "too many", "at most", "complex")

log = logging.getLogger(__name__)

# The SOQL reference allows five levels of parent relationships and 55 of them in all.
# These two messages are plain: no capture of the platform's wording was found.
MAX_PARENT_LEVELS = 5
TOO_DEEP = "A field path can follow at most 5 levels of parent relationships"
MAX_PARENT_RELATIONSHIPS = 55
TOO_MANY_RELATIONSHIPS = "A query can follow at most 55 parent relationships"
# An IN list longer than this goes to SQLite as one JSON parameter, not one per value.
IN_LIST_PARAMETERS = 100
# NUMBER_OUTSIDE_VALID_RANGE, a captured body (phantom Salesforce app tests).
MAX_OFFSET = 2000
OFFSET_TOO_LARGE = "Maximum SOQL offset allowed is 2000"

TEXT_TYPES = {"string", "textarea", "picklist", "email", "phone", "url"}
ID_TYPES = {"id", "reference"}
NUMBER_TYPES = {"currency", "double", "percent", "int"}
# The type word the platform's filter message uses, from the field's SOAP type.
_FILTER_TYPE_WORDS = {"date": "date", "datetime": "dateTime", "boolean": "boolean"}
_ID_SHAPE = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_OPERATORS = {
    "=": "=",
    "!=": "<>",
    "<>": "<>",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}

# Relative date literals that are not emulated: fiscal periods need the org's fiscal
# year settings, which the sandbox does not model.
_FISCAL = re.compile(r".*FISCAL.*")


@dataclass(frozen=True)
class FieldOut:
    """A selected field: its output key, its column in the row, and its type."""

    key: str
    index: int
    type: str


@dataclass(frozen=True)
class ParentOut:
    """A parent relationship in the output: a nested record, or null."""

    key: str
    sobject: str
    id_index: int
    entries: tuple[Any, ...]


@dataclass(frozen=True)
class ChildOut:
    """A child subquery's place in the output; its rows come from ``children[plan]``."""

    key: str
    plan: int


@dataclass(frozen=True)
class ChildPlan:
    """One parent-to-child subquery, run once per page for all the page's parents."""

    key: str
    sobject: str
    sql: str
    params: tuple[Any, ...]
    link_index: int
    id_index: int
    entries: tuple[Any, ...]
    limit: int | None
    offset: int


@dataclass(frozen=True)
class CompiledQuery:
    """A query ready to run: SQL for a page of rows and for the count, and the shape.

    ``limit`` and ``offset`` are the query's own LIMIT and OFFSET; ``run_page`` pages
    within them.
    """

    sobject: str
    sql: str
    params: tuple[Any, ...]
    count_sql: str
    count_params: tuple[Any, ...]
    id_index: int
    entries: tuple[Any, ...]
    children: tuple[ChildPlan, ...]
    limit: int | None
    offset: int
    is_count: bool


def compile_query(
    query: Query, schema: Schema, now: datetime, include_deleted: bool = False
) -> CompiledQuery:
    """Resolve ``query`` against ``schema`` and turn it into SQLite SQL.

    ``now`` is the sandbox's simulated clock; relative date literals (TODAY,
    LAST_N_DAYS:n, ...) are evaluated against it, in UTC. ``include_deleted`` keeps
    soft-deleted rows, as ``queryAll`` does.
    """
    compiler = _Compiler(schema, now, query.source, include_deleted)
    try:
        return compiler.compile(query)
    except RecursionError:
        raise QueryTooComplicated(TOO_COMPLICATED) from None


def count(conn: sqlite3.Connection, compiled: CompiledQuery) -> int:
    """How many records the query returns in all (the response's ``totalSize``)."""
    ((total,),) = _rows(conn, compiled.count_sql, compiled.count_params)
    total = max(0, total - compiled.offset)
    if compiled.limit is not None:
        total = min(total, compiled.limit)
    return total


def run_page(
    conn: sqlite3.Connection,
    compiled: CompiledQuery,
    offset: int,
    limit: int,
    version: str,
) -> list[dict[str, Any]]:
    """Records ``offset`` to ``offset + limit`` of the results, shaped as in REST.

    ``version`` is the API version of the request (``"62.0"``), used in each record's
    ``attributes.url``. A COUNT() query has no records.
    """
    if compiled.is_count:
        return []
    size = limit
    if compiled.limit is not None:
        size = min(size, compiled.limit - offset)
    if size <= 0:
        return []

    params = (*compiled.params, size, compiled.offset + offset)
    rows = _rows(conn, compiled.sql + " LIMIT ? OFFSET ?", params)
    records = [
        _record(row, compiled.sobject, compiled.id_index, compiled.entries, version)
        for row in rows
    ]

    if compiled.children and rows:
        parent_ids = [row[compiled.id_index] for row in rows]
        for index, plan in enumerate(compiled.children):
            grouped = _child_records(conn, plan, parent_ids, version)
            for record, parent_id in zip(records, parent_ids, strict=True):
                _fill_child(record, compiled.entries, index, grouped.get(parent_id))
    return records


def _rows(
    conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]
) -> list[tuple[Any, ...]]:
    """Run compiled SQL; SQLite's failures become API errors, never a bare 500.

    A limit of SQLite's is QUERY_TOO_COMPLICATED (400). Anything else means the
    compiler let through what it should have refused: that stays a 500 (blaming the
    query would be a guess), with a message that says what failed.
    """
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError as error:
        if any(words in str(error) for words in SQLITE_LIMIT_WORDS):
            raise QueryTooComplicated(TOO_COMPLICATED) from None
        failure: Exception = error
    except (sqlite3.Error, ArithmeticError, ValueError) as error:
        failure = error
    log.error("SQLite failed to run a compiled SOQL query: %r", failure)
    raise UnknownException(
        f"sfsandbox could not run the SOQL query: {type(failure).__name__}: "
        f"{failure}. This is a bug in the sandbox, not in your query."
    )


def _record(
    row: tuple[Any, ...],
    sobject: str,
    id_index: int,
    entries: tuple[Any, ...],
    version: str,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "attributes": {
            "type": sobject,
            "url": f"/services/data/v{version}/sobjects/{sobject}/{row[id_index]}",
        }
    }
    for entry in entries:
        if isinstance(entry, FieldOut):
            record[entry.key] = _from_storage(row[entry.index], entry.type)
        elif isinstance(entry, ParentOut):
            if row[entry.id_index] is None:
                record[entry.key] = None
            else:
                record[entry.key] = _record(
                    row, entry.sobject, entry.id_index, entry.entries, version
                )
        else:
            record[entry.key] = None
    return record


def _fill_child(
    record: dict[str, Any], entries: tuple[Any, ...], plan: int, value: Any
) -> None:
    for entry in entries:
        if isinstance(entry, ChildOut) and entry.plan == plan:
            record[entry.key] = value


def _child_records(
    conn: sqlite3.Connection, plan: ChildPlan, parent_ids: list[str], version: str
) -> dict[str, dict[str, Any]]:
    """The subquery's records for each parent, as ``{totalSize, done, records}``."""
    params = (json.dumps(parent_ids), *plan.params)
    by_parent: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(conn, plan.sql, params):
        records = by_parent.setdefault(row[plan.link_index], [])
        records.append(_record(row, plan.sobject, plan.id_index, plan.entries, version))

    grouped = {}
    for parent_id, records in by_parent.items():
        end = None if plan.limit is None else plan.offset + plan.limit
        page = records[plan.offset : end]
        if page:
            grouped[parent_id] = {"totalSize": len(page), "done": True, "records": page}
    return grouped


def _from_storage(value: Any, field_type: str) -> Any:
    """A stored value as the JSON of a record has it."""
    if value is None:
        return None
    if field_type == "boolean":
        return bool(value)
    if field_type == "int":
        return int(value)
    if field_type in ("currency", "double", "percent"):
        return float(value)
    return value


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


@dataclass
class _Resolved:
    """A field path resolved to a column, with the relationships it goes through."""

    alias: str
    field: Field
    owner: SObjectType
    chain: list[tuple[str, str, SObjectType]]

    @property
    def sql(self) -> str:
        return f"{self.alias}.{_quote(self.field.name)}"


@dataclass
class _Scope:
    """One SELECT level: its object, its joins, and the columns it reads."""

    sobject: SObjectType
    prefix: str
    joins: dict[tuple[str, ...], tuple[str, SObjectType]] = field(default_factory=dict)
    join_sql: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    column_index: dict[str, int] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"{self.prefix}0"

    def column(self, alias: str, name: str) -> int:
        """The index of ``alias.name`` in the row, adding it to the SELECT if new."""
        sql = f"{alias}.{_quote(name)}"
        if sql not in self.column_index:
            self.column_index[sql] = len(self.columns)
            self.columns.append(sql)
        return self.column_index[sql]


class _Compiler:
    """Turns one Query (and its child subqueries) into a CompiledQuery."""

    def __init__(
        self, schema: Schema, now: datetime, text: str, include_deleted: bool
    ) -> None:
        self.schema = schema
        aware = now if now.tzinfo else now.replace(tzinfo=UTC)
        self.today = aware.astimezone(UTC).date()
        self.text = text
        self.include_deleted = include_deleted

    def error(self, cls: type, pos: Pos, reason: str) -> Exception:
        return cls(located(self.text, pos, reason))

    def compile(self, query: Query) -> CompiledQuery:
        sobject = self.sobject(query.sobject, query.sobject_pos)
        scope = _Scope(sobject, "t")
        self.check_offset(query)

        id_index = scope.column(scope.base, "Id")
        entries, children, is_count = self.select_list(query, scope, child=False)
        where_sql, where_params = self.where(query, scope)
        order_sql, order_params = self.order_by(query, scope)

        tables = [f"FROM {_quote(sobject.name)} AS {scope.base}", *scope.join_sql]
        body = f"{' '.join(tables)} WHERE {where_sql}"
        sql = f"SELECT {', '.join(scope.columns)} {body} ORDER BY {order_sql}"
        return CompiledQuery(
            sobject=sobject.name,
            sql=sql,
            params=(*where_params, *order_params),
            count_sql=f"SELECT COUNT(*) {body}",
            count_params=tuple(where_params),
            id_index=id_index,
            entries=entries,
            children=children,
            limit=query.limit,
            offset=query.offset or 0,
            is_count=is_count,
        )

    def sobject(self, name: str, pos: Pos) -> SObjectType:
        sobject = self.schema.get(name)
        if sobject is None:
            raise self.error(InvalidType, pos, NOT_SUPPORTED_TYPE.format(name=name))
        return sobject

    def check_offset(self, query: Query) -> None:
        if query.offset is not None and query.offset > MAX_OFFSET:
            raise NumberOutsideValidRange(OFFSET_TOO_LARGE)

    # SELECT list

    def select_list(
        self, query: Query, scope: _Scope, child: bool
    ) -> tuple[tuple[Any, ...], tuple[ChildPlan, ...], bool]:
        counts = [
            item
            for item in query.select
            if isinstance(item, FunctionCall)
            and item.name.upper() == "COUNT"
            and not item.args
        ]
        if counts:
            if child:
                raise NotEmulated("SOQL COUNT() in a child subquery")
            if len(query.select) > 1:
                # Not verified against a capture; kept plain.
                raise self.error(
                    MalformedQuery,
                    counts[0].pos,
                    "COUNT() must be the only element in the SELECT list",
                )
            return (), (), True

        entries: list[Any] = []
        plans: list[ChildPlan] = []
        seen: set[tuple[str, ...]] = set()
        for item in query.select:
            if isinstance(item, FunctionCall):
                raise NotEmulated(function_feature(item.name))
            if isinstance(item, ChildQuery):
                if child:
                    raise NotEmulated(
                        "SOQL child subqueries nested more than one level"
                    )
                plan = self.child_plan(item, scope, len(plans))
                if (plan.key.lower(),) in seen:
                    raise self.error(
                        InvalidField, item.pos, DUPLICATE_FIELD.format(name=plan.key)
                    )
                seen.add((plan.key.lower(),))
                plans.append(plan)
                entries.append(ChildOut(plan.key, len(plans) - 1))
                continue

            resolved = self.resolve(item, scope)
            path = [*(rel for rel, _, _ in resolved.chain), resolved.field.name]
            key = tuple(part.lower() for part in path)
            if key in seen:
                name = resolved.field.name
                raise self.error(
                    InvalidField, item.pos, DUPLICATE_FIELD.format(name=name)
                )
            seen.add(key)
            self.add_entry(entries, resolved, scope)

        return _freeze(entries), tuple(plans), False

    def add_entry(self, entries: list[Any], resolved: _Resolved, scope: _Scope) -> None:
        """Place a selected field in the output tree, under its relationships."""
        level = entries
        for relationship, alias, target in resolved.chain:
            parent = next(
                (
                    e
                    for e in level
                    if isinstance(e, _ParentDraft) and e.key == relationship
                ),
                None,
            )
            if parent is None:
                parent = _ParentDraft(
                    relationship, target.name, scope.column(alias, "Id")
                )
                level.append(parent)
            level = parent.entries
        index = scope.column(resolved.alias, resolved.field.name)
        level.append(FieldOut(resolved.field.name, index, resolved.field.type))

    def child_plan(self, item: ChildQuery, parent: _Scope, number: int) -> ChildPlan:
        """Compile a parent-to-child subquery into SQL over all of a page's parents."""
        query = item.query
        found = self.child_relationship(parent.sobject, query.sobject)
        if found is None:
            reason = BAD_CHILD_RELATIONSHIP.format(name=query.sobject)
            raise self.error(InvalidType, query.sobject_pos, reason)
        relationship, child_type, lookup = found
        self.check_offset(query)

        scope = _Scope(child_type, f"c{number}_")
        link_index = scope.column(scope.base, lookup.name)
        id_index = scope.column(scope.base, "Id")
        entries, _, _ = self.select_list(query, scope, child=True)
        where_sql, where_params = self.where(query, scope)
        order_sql, order_params = self.order_by(query, scope)

        link = f"{scope.base}.{_quote(lookup.name)} IN (SELECT value FROM json_each(?))"
        tables = [f"FROM {_quote(child_type.name)} AS {scope.base}", *scope.join_sql]
        sql = (
            f"SELECT {', '.join(scope.columns)} {' '.join(tables)} "
            f"WHERE {link} AND {where_sql} ORDER BY {order_sql}"
        )
        return ChildPlan(
            key=relationship,
            sobject=child_type.name,
            sql=sql,
            params=(*where_params, *order_params),
            link_index=link_index,
            id_index=id_index,
            entries=entries,
            limit=query.limit,
            offset=query.offset or 0,
        )

    def child_relationship(
        self, parent: SObjectType, name: str
    ) -> tuple[str, SObjectType, Field] | None:
        """The child relationship called ``name`` on ``parent``: Account's Contacts.

        The platform names a standard child relationship after the child's plural label
        (Contacts, Opportunities) when the lookup is named after the parent object.
        """
        for child in self.schema:
            for lookup in child.fields:
                if lookup.type != "reference" or lookup.reference_to[:1] != (
                    parent.name,
                ):
                    continue
                if lookup.relationship_name != parent.name:
                    continue
                relationship = child.label_plural.replace(" ", "")
                if relationship.lower() == name.lower():
                    return relationship, child, lookup
        return None

    def resolve(self, path: FieldPath, scope: _Scope) -> _Resolved:
        """Resolve a field path to a column, joining each parent relationship once."""
        parts = path.parts
        owner = scope.sobject
        if (
            len(parts) > 1
            and parts[0].lower() == owner.name.lower()
            and owner.relationship(parts[0]) is None
        ):
            # SOQL accepts the queried object's name as a prefix: Account.Name.
            parts = parts[1:]

        if len(parts) - 1 > MAX_PARENT_LEVELS:
            raise self.error(MalformedQuery, path.pos, TOO_DEEP)

        alias = scope.base
        chain: list[tuple[str, str, SObjectType]] = []
        key: tuple[str, ...] = ()
        for name in parts[:-1]:
            lookup = owner.relationship(name)
            target = self.schema.get(lookup.reference_to[0]) if lookup else None
            if lookup is None or target is None or lookup.relationship_name is None:
                raise self.error(
                    InvalidField, path.pos, BAD_RELATIONSHIP.format(name=name)
                )
            key = (*key, lookup.relationship_name.lower())
            if key not in scope.joins:
                if len(scope.joins) == MAX_PARENT_RELATIONSHIPS:
                    raise self.error(MalformedQuery, path.pos, TOO_MANY_RELATIONSHIPS)
                join_alias = f"{scope.prefix}{len(scope.joins) + 1}"
                scope.joins[key] = (join_alias, target)
                scope.join_sql.append(
                    f"LEFT JOIN {_quote(target.name)} AS {join_alias} ON "
                    f"{join_alias}.{_quote('Id')} = {alias}.{_quote(lookup.name)}"
                )
            alias = scope.joins[key][0]
            chain.append((lookup.relationship_name, alias, target))
            owner = target

        found = owner.field(parts[-1])
        if found is None:
            reason = NO_SUCH_COLUMN.format(name=parts[-1], entity=owner.name)
            raise self.error(InvalidField, path.pos, reason)
        return _Resolved(alias, found, owner, chain)

    # WHERE

    def where(self, query: Query, scope: _Scope) -> tuple[str, list[Any]]:
        params: list[Any] = []
        clauses = []
        if not self.include_deleted:
            clauses.append(f"{scope.base}.{_quote('IsDeleted')} = 0")
        if query.where is not None:
            clauses.append(self.condition(query.where, scope, params))
        return (" AND ".join(clauses) or "1"), params

    def condition(self, node: Condition, scope: _Scope, params: list[Any]) -> str:
        if isinstance(node, And | Or):
            terms = [self.condition(t, scope, params) for t in node.terms]
            return _balanced("AND" if isinstance(node, And) else "OR", terms)
        if isinstance(node, Not):
            return f"(NOT {self.condition(node.term, scope, params)})"
        return self.comparison(node, scope, params)

    def comparison(self, node: Comparison, scope: _Scope, params: list[Any]) -> str:
        if isinstance(node.operand, FunctionCall):
            raise NotEmulated(function_feature(node.operand.name))
        if isinstance(node.value, Query):
            raise NotEmulated(
                "SOQL semi-joins and anti-joins (IN or NOT IN with a subquery)"
            )
        if node.op in ("INCLUDES", "EXCLUDES"):
            raise NotEmulated("SOQL INCLUDES and EXCLUDES (multi-select picklists)")

        resolved = self.resolve(node.operand, scope)
        target = resolved.field
        if target.type == "textarea":
            raise self.error(
                InvalidField, node.operand.pos, NOT_FILTERABLE.format(name=target.name)
            )
        column = resolved.sql
        text_like = target.type in TEXT_TYPES
        collate = f"{column} COLLATE NOCASE" if text_like else column

        if node.op == "LIKE":
            literal = node.value
            if literal.kind == "null":
                # Winter '25 release notes: LIKE NULL is "unexpected token: 'NULL'".
                reason = f"unexpected token: '{literal.text}'"
                raise self.error(MalformedQuery, literal.pos, reason)
            self.operand_value(node.operand, target, literal, like=True)
            params.append(literal.like)
            return f"COALESCE({column} LIKE ? ESCAPE '\\', 0)"

        if node.op in ("IN", "NOT IN"):
            values = [self.operand_value(node.operand, target, v) for v in node.value]
            return self.in_list(collate, values, node.op == "NOT IN", params)

        value = self.operand_value(node.operand, target, node.value)
        return self.compare(collate, column, _OPERATORS[node.op], value, params)

    def compare(
        self, lhs: str, column: str, op: str, value: Any, params: list[Any]
    ) -> str:
        """One comparison in two-valued logic: a null field matches = null and !=."""
        if isinstance(value, _Null):
            if op == "=":
                return f"{column} IS NULL"
            if op == "<>":
                return f"{column} IS NOT NULL"
            return "0"
        if isinstance(value, _Range):
            low, high = value.low, value.high
            if op == "=":
                params.extend((low, high))
                return f"COALESCE({column} >= ? AND {column} < ?, 0)"
            if op == "<>":
                params.extend((low, high))
                return f"({column} IS NULL OR {column} < ? OR {column} >= ?)"
            bound, sql_op = {
                "<": (low, "<"),
                "<=": (high, "<"),
                ">": (high, ">="),
                ">=": (low, ">="),
            }[op]
            params.append(bound)
            return f"COALESCE({column} {sql_op} ?, 0)"
        params.append(value)
        if op == "<>":
            return f"({column} IS NULL OR {lhs} <> ?)"
        return f"COALESCE({lhs} {op} ?, 0)"

    def in_list(
        self, lhs: str, values: list[Any], negate: bool, params: list[Any]
    ) -> str:
        column = lhs.removesuffix(" COLLATE NOCASE")
        has_null = any(isinstance(v, _Null) for v in values)
        scalars = [v for v in values if not isinstance(v, _Null | _Range)]
        ranges = [v for v in values if isinstance(v, _Range)]

        parts = []
        if len(scalars) > IN_LIST_PARAMETERS:
            params.append(json.dumps(scalars))
            parts.append(f"COALESCE({lhs} IN (SELECT value FROM json_each(?)), 0)")
        elif scalars:
            params.extend(scalars)
            marks = ", ".join("?" for _ in scalars)
            parts.append(f"COALESCE({lhs} IN ({marks}), 0)")
        for value in ranges:
            parts.append(self.compare(lhs, column, "=", value, params))
        if has_null:
            parts.append(f"{column} IS NULL")
        matched = "(" + (" OR ".join(parts) or "0") + ")"
        return f"(NOT {matched})" if negate else matched

    def operand_value(
        self, operand: FieldPath, target: Field, literal: Literal, like: bool = False
    ) -> Any:
        """The SQL value of ``literal`` compared with ``target``, or the error."""
        kind = literal.kind
        if kind == "null":
            return _Null()

        if target.type in TEXT_TYPES or target.type in ID_TYPES:
            if kind != "string":
                raise self.type_error(operand, target, "string", quoted=True)
            if target.type in ID_TYPES and not like:
                if not _ID_SHAPE.fullmatch(literal.value):
                    reason = INVALID_ID.format(value=literal.value)
                    raise self.error(InvalidQueryFilterOperator, operand.pos, reason)
                return to_18(literal.value)
            return literal.value

        if target.type in NUMBER_TYPES:
            if kind != "number":
                word = "int" if target.type == "int" else "double"
                raise self.type_error(operand, target, word, quoted=False)
            return literal.value

        if target.type == "boolean":
            if kind != "boolean":
                raise self.type_error(operand, target, "boolean", quoted=False)
            return 1 if literal.value else 0

        word = _FILTER_TYPE_WORDS.get(target.type, target.type)
        if kind in ("name", "date_n"):
            low, high = self.date_range(literal)
            if target.type == "datetime":
                return _Range(_midnight(low), _midnight(high))
            return _Range(low.isoformat(), high.isoformat())
        if target.type == "date" and kind == "date":
            return literal.value
        if target.type == "datetime" and kind == "datetime":
            return literal.value
        raise self.type_error(operand, target, word, quoted=False)

    def type_error(
        self, operand: FieldPath, target: Field, word: str, quoted: bool
    ) -> Exception:
        reason = FILTER_TYPE.format(
            name=target.name, type=word, negation="" if quoted else "not "
        )
        return self.error(InvalidField, operand.pos, reason)

    def date_range(self, literal: Literal) -> tuple[date, date]:
        """The half-open range of days a relative date literal stands for (UTC)."""
        if literal.kind == "date_n":
            word, n = literal.value
        else:
            word, n = literal.value, None
        if _FISCAL.fullmatch(word):
            raise NotEmulated(f"SOQL fiscal date literals ({word})")
        try:
            found = _relative_range(word, n, self.today)
        except (OverflowError, ValueError):
            # Python's dates end at years 1 and 9999 (the platform's run from 1700
            # to 4000); what the platform answers past them is UNVERIFIED.
            reason = (
                f"{literal.text} reaches past the dates the sandbox can represent "
                "(years 1 to 9999)"
            )
            raise self.error(MalformedQuery, literal.pos, reason) from None
        if found is None:
            reason = f"unexpected token: '{literal.text}'"
            raise self.error(MalformedQuery, literal.pos, reason)
        return found

    # ORDER BY

    def order_by(self, query: Query, scope: _Scope) -> tuple[str, list[Any]]:
        keys: list[str] = []
        params: list[Any] = []
        for item in query.order_by:
            if isinstance(item.operand, FunctionCall):
                raise NotEmulated(function_feature(item.operand.name))
            resolved = self.resolve(item.operand, scope)
            target = resolved.field
            if target.type == "textarea":
                reason = NOT_SORTABLE.format(name=target.name)
                raise self.error(MalformedQuery, item.operand.pos, reason)

            direction = "DESC" if item.descending else "ASC"
            nulls_first = item.nulls_first
            if nulls_first is None:
                # Nulls sort as the lowest value unless NULLS FIRST/LAST says otherwise.
                nulls_first = not item.descending
            nulls = "NULLS FIRST" if nulls_first else "NULLS LAST"

            column = resolved.sql
            if target.type == "picklist" and target.picklist_values:
                # Picklists sort in the order their values are defined, not by text.
                whens = " ".join("WHEN ? THEN ?" for _ in target.picklist_values)
                for position, value in enumerate(target.picklist_values):
                    params.extend((value.lower(), position))
                rank = (
                    f"CASE WHEN {column} IS NULL THEN NULL ELSE CASE lower({column}) "
                    f"{whens} ELSE {len(target.picklist_values)} END END"
                )
                keys.append(f"{rank} {direction} {nulls}")
            if target.type in TEXT_TYPES:
                # Also the tie-break for picklist values the field does not define.
                keys.append(f"{column} COLLATE NOCASE {direction} {nulls}")
            else:
                keys.append(f"{column} {direction} {nulls}")

        # Ties, and queries without ORDER BY, come back in creation order (IDs grow).
        keys.append(f"{scope.base}.{_quote('Id')}")
        return ", ".join(keys), params


def _balanced(op: str, terms: list[str]) -> str:
    """``(a OP b OP c ...)`` grouped as a balanced tree, the same truth value.

    SQLite builds ``a OR b OR c`` as a chain as deep as it is long and refuses one
    over 1,000 deep; SOQL runs thousands of OR terms (a 250,000-character query of
    1,000 of them runs in Apex: brianmfear's public gist). Halving keeps the depth
    at log2 of the terms.
    """
    if len(terms) <= 2:
        return "(" + f" {op} ".join(terms) + ")"
    middle = len(terms) // 2
    return f"({_balanced(op, terms[:middle])} {op} {_balanced(op, terms[middle:])})"


@dataclass
class _ParentDraft:
    """A ParentOut while the SELECT list is still being read."""

    key: str
    sobject: str
    id_index: int
    entries: list[Any] = field(default_factory=list)


def _freeze(entries: list[Any]) -> tuple[Any, ...]:
    frozen = []
    for entry in entries:
        if isinstance(entry, _ParentDraft):
            entry = ParentOut(
                entry.key, entry.sobject, entry.id_index, _freeze(entry.entries)
            )
        frozen.append(entry)
    return tuple(frozen)


@dataclass(frozen=True)
class _Null:
    """The null literal."""


@dataclass(frozen=True)
class _Range:
    """A relative date literal: ``low <= value < high`` in storage form."""

    low: Any
    high: Any


def _midnight(day: date) -> str:
    return f"{day.isoformat()}T00:00:00.000+0000"


def _month(day: date, months: int) -> date:
    """The first day of the month ``months`` after the month of ``day``."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _relative_range(word: str, n: int | None, today: date) -> tuple[date, date] | None:
    """[start, end) of a relative date literal, per the SOQL reference's table.

    Weeks start on Sunday (the en_US locale). LAST_N_DAYS:n and LAST_90_DAYS include
    today; NEXT_N_DAYS:n and NEXT_90_DAYS start tomorrow.
    """
    day = timedelta(days=1)
    week = today - timedelta(days=(today.weekday() + 1) % 7)
    month = _month(today, 0)
    quarter = _month(today, -((today.month - 1) % 3))
    year = date(today.year, 1, 1)

    fixed = {
        "YESTERDAY": (today - day, today),
        "TODAY": (today, today + day),
        "TOMORROW": (today + day, today + 2 * day),
        "LAST_WEEK": (week - 7 * day, week),
        "THIS_WEEK": (week, week + 7 * day),
        "NEXT_WEEK": (week + 7 * day, week + 14 * day),
        "LAST_MONTH": (_month(today, -1), month),
        "THIS_MONTH": (month, _month(today, 1)),
        "NEXT_MONTH": (_month(today, 1), _month(today, 2)),
        "LAST_90_DAYS": (today - 90 * day, today + day),
        "NEXT_90_DAYS": (today + day, today + 91 * day),
        "LAST_QUARTER": (_month(quarter, -3), quarter),
        "THIS_QUARTER": (quarter, _month(quarter, 3)),
        "NEXT_QUARTER": (_month(quarter, 3), _month(quarter, 6)),
        "LAST_YEAR": (date(today.year - 1, 1, 1), year),
        "THIS_YEAR": (year, date(today.year + 1, 1, 1)),
        "NEXT_YEAR": (date(today.year + 1, 1, 1), date(today.year + 2, 1, 1)),
    }
    if n is None:
        return fixed.get(word)

    if word == "LAST_N_DAYS":
        return today - n * day, today + day
    if word == "NEXT_N_DAYS":
        return today + day, today + (n + 1) * day
    if word == "N_DAYS_AGO":
        return today - n * day, today - (n - 1) * day
    if word == "LAST_N_WEEKS":
        return week - 7 * n * day, week
    if word == "NEXT_N_WEEKS":
        return week + 7 * day, week + 7 * (n + 1) * day
    if word == "N_WEEKS_AGO":
        return week - 7 * n * day, week - 7 * (n - 1) * day
    if word == "LAST_N_MONTHS":
        return _month(today, -n), month
    if word == "NEXT_N_MONTHS":
        return _month(today, 1), _month(today, n + 1)
    if word == "N_MONTHS_AGO":
        return _month(today, -n), _month(today, -n + 1)
    if word == "LAST_N_QUARTERS":
        return _month(quarter, -3 * n), quarter
    if word == "NEXT_N_QUARTERS":
        return _month(quarter, 3), _month(quarter, 3 * (n + 1))
    if word == "N_QUARTERS_AGO":
        return _month(quarter, -3 * n), _month(quarter, -3 * (n - 1))
    if word == "LAST_N_YEARS":
        return date(today.year - n, 1, 1), year
    if word == "NEXT_N_YEARS":
        return date(today.year + 1, 1, 1), date(today.year + n + 1, 1, 1)
    if word == "N_YEARS_AGO":
        return date(today.year - n, 1, 1), date(today.year - n + 1, 1, 1)
    return None
