"""The org's records, in SQLite: one table per sObject type, one column per field.

The store checks and converts values the way the platform's save does (types, lengths,
required fields, lookups, then validation rules, duplicate rules and unique fields)
before it writes, so a rejected request leaves nothing behind. Every write runs inside
one transaction that commits or rolls back whole; transactions nest as savepoints, so a
composite request can hold several saves in one unit of work.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from typing import Any

from sfsandbox.org import errors
from sfsandbox.org.ids import IdFactory, is_valid_id, to_18
from sfsandbox.org.schema import CREATE_DEFAULTS, Field, Schema, SObjectType
from sfsandbox.runtime.clock import SimulatedClock, format_datetime

log = logging.getLogger(__name__)

SQL_TYPES = {
    "currency": "REAL",
    "double": "REAL",
    "percent": "REAL",
    "int": "INTEGER",
    "boolean": "INTEGER",
}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DATETIME_INPUT = re.compile(
    r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d{1,3})?(Z|[+-]\d{2}:?\d{2})?$"
)
# An int field holds as many digits as describe reports for it (schema.py: 9). The
# platform refuses Employees 1431655766 with "Employees: value outside of valid range
# on numeric field: 1431655766" (captured in many public UI test suites).
INT_DIGITS = 9
CLOSED_STAGES = {"Closed Won": (True, True), "Closed Lost": (True, False)}
SEED_ORDER = ("Account", "Contact", "Opportunity", "Lead")


@dataclass
class ValidationRule:
    """A validation rule: when ``condition`` is true of the record being saved, the
    save fails with FIELD_CUSTOM_VALIDATION_EXCEPTION and the rule's message.

    ``condition`` gets the whole record as it would be stored (field name to value).
    ``field`` is where the error shows (its ``fields`` entry); None means the top of
    the page (``fields: []``). ``formula`` is the rule's error condition as Setup shows
    it, for the book. A lab switches a rule off with ``rule.active = False``.
    """

    name: str
    object: str
    condition: Callable[[dict[str, Any]], bool]
    message: str
    field: str | None = None
    formula: str = ""
    active: bool = True


@dataclass
class DuplicateRule:
    """A blocking duplicate rule with an exact matching rule on ``match_fields``.

    Text is matched without regard to case; a record with any match field blank is
    never a duplicate. The rule runs on create and on edit.
    """

    name: str
    object: str
    match_fields: tuple[str, ...]
    matching_rule: str
    message: str = "Use one of these records?"
    active: bool = True


def default_validation_rules() -> list[ValidationRule]:
    """The rules the course org ships with; later chapters append their own."""
    return [
        ValidationRule(
            name="Web_Lead_Needs_Email_Or_Phone",
            object="Lead",
            condition=lambda lead: (
                lead.get("LeadSource") == "Web"
                and not lead.get("Email")
                and not lead.get("Phone")
            ),
            message="A web lead needs an email address or a phone number so that "
            "sales can follow up.",
            field="Email",
            formula="AND(ISPICKVAL(LeadSource, 'Web'), ISBLANK(Email), ISBLANK(Phone))",
        )
    ]


def default_duplicate_rules() -> list[DuplicateRule]:
    """A Lead duplicate rule that blocks a second lead with the same email address."""
    # "Use one of these records?" is the alert a blocking rule answers with (observed
    # as DUPLICATES_DETECTED in the REST API docs' allOrNone example and in public
    # clients' tests of POST /sobjects/Lead).
    return [
        DuplicateRule(
            name="Lead_Email_Duplicate_Rule",
            object="Lead",
            match_fields=("Email",),
            matching_rule="Lead_Email_Match_Rule",
        )
    ]


def quote(identifier: str) -> str:
    """An SQL identifier, quoted (names come from the schema, never from a request)."""
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True)
class SavedRow:
    """A record a save wrote: ``old`` is its stored row before an update, or None
    for a new record."""

    sobject: SObjectType
    record_id: str
    old: dict[str, Any] | None


class Store:
    """Records of one org, behind one lock that HTTP threads and the notebook share."""

    def __init__(self, schema: Schema, ids: IdFactory, clock: SimulatedClock) -> None:
        self.schema = schema
        self.ids = ids
        self.clock = clock
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(
            ":memory:", check_same_thread=False, isolation_level=None
        )
        for sobject in schema:
            columns = ", ".join(
                f"{quote(f.name)} {SQL_TYPES.get(f.type, 'TEXT')}"
                for f in sobject.fields
            )
            self.conn.execute(f"CREATE TABLE {quote(sobject.name)} ({columns})")
            self.conn.execute(
                f"CREATE UNIQUE INDEX {quote(sobject.name + '_Id')} "
                f"ON {quote(sobject.name)} (Id)"
            )
            for f in sobject.fields:
                if f.external_id or f.unique or f.name == "Email":
                    self.conn.execute(
                        f"CREATE INDEX {quote(sobject.name + '_' + f.name)} ON "
                        f"{quote(sobject.name)} ({quote(f.name)} COLLATE NOCASE)"
                    )
        self.user_id = ""
        self.validation_rules: list[ValidationRule] = default_validation_rules()
        self.duplicate_rules: list[DuplicateRule] = default_duplicate_rules()
        self._depth = 0
        self._recordings: list[list[SavedRow]] = []

    @contextmanager
    def recording_saves(self) -> Iterator[list[SavedRow]]:
        """Note every row that ``insert``, ``update`` and ``upsert`` write meanwhile.

        The list it yields fills with one ``SavedRow`` per created or updated record,
        in save order; recordings nest (a trigger's own DML records apart). The
        Apex runtime's ``org.apex.triggers.saving()`` uses it to fire after triggers.
        """
        with self.lock:
            saved: list[SavedRow] = []
            self._recordings.append(saved)
            try:
                yield saved
            finally:
                self._recordings.pop()

    def _note_save(
        self, sobject: SObjectType, record_id: str, old: dict[str, Any] | None
    ) -> None:
        if self._recordings:
            self._recordings[-1].append(SavedRow(sobject, record_id, old))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One all-or-nothing unit of work; inside another one it is a savepoint."""
        with self.lock:
            depth = self._depth
            savepoint = f"sfsandbox_{depth}"
            self.conn.execute("BEGIN" if depth == 0 else f"SAVEPOINT {savepoint}")
            self._depth += 1
            try:
                yield self.conn
            except BaseException:
                self._depth -= 1
                if depth == 0:
                    self.conn.execute("ROLLBACK")
                else:
                    self.conn.execute(f"ROLLBACK TO {savepoint}")
                    self.conn.execute(f"RELEASE {savepoint}")
                raise
            self._depth -= 1
            self.conn.execute("COMMIT" if depth == 0 else f"RELEASE {savepoint}")

    def validation_rule(self, name: str) -> ValidationRule:
        """The validation rule called ``name`` (to switch it off in a lab)."""
        for rule in self.validation_rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    def duplicate_rule(self, name: str) -> DuplicateRule:
        """The duplicate rule called ``name``."""
        for rule in self.duplicate_rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    # --- reading -------------------------------------------------------------------

    def find(
        self, sobject: SObjectType, record_id: str, deleted: bool = False
    ) -> dict | None:
        """The stored row with ``record_id`` (15 or 18 characters), or None."""
        if not is_valid_id(record_id):
            return None
        with self.lock:
            cursor = self.conn.execute(
                f"SELECT * FROM {quote(sobject.name)} WHERE Id = ?", (to_18(record_id),)
            )
            row = cursor.fetchone()
            if row is None:
                return None
            names = [d[0] for d in cursor.description]
        record = dict(zip(names, row, strict=True))
        if record["IsDeleted"] and not deleted:
            return None
        return record

    def to_json(self, sobject: SObjectType, row: dict[str, Any]) -> dict[str, Any]:
        """A stored row as the REST API shows field values."""
        return {f.name: from_storage(f, row.get(f.name)) for f in sobject.fields}

    def find_by(self, sobject: SObjectType, f: Field, value: str) -> list[str]:
        """IDs of live records whose ``f`` equals ``value`` (text: any case)."""
        with self.lock:
            rows = self.conn.execute(
                f"SELECT Id FROM {quote(sobject.name)} WHERE IsDeleted = 0 AND "
                f"{quote(f.name)} = ? COLLATE NOCASE ORDER BY Id",
                (value,),
            ).fetchall()
        return [row[0] for row in rows]

    def count(self, sobject: SObjectType) -> int:
        with self.lock:
            (n,) = self.conn.execute(
                f"SELECT COUNT(*) FROM {quote(sobject.name)} WHERE IsDeleted = 0"
            ).fetchone()
        return n

    # --- writing -------------------------------------------------------------------

    def insert(self, sobject: SObjectType, values: dict[str, Any]) -> str:
        """Create a record from request values; returns its new ID."""
        row = self.check_values(sobject, values, creating=True)
        for f in sobject.fields:
            if f.required_on_create and row.get(f.name) in (None, ""):
                missing = [
                    g.name
                    for g in sobject.fields
                    if g.required_on_create and row.get(g.name) in (None, "")
                ]
                raise errors.RequiredFieldMissing(
                    f"Required fields are missing: [{', '.join(missing)}]", missing
                )
        self.enforce_save_rules(
            sobject, {**CREATE_DEFAULTS.get(sobject.name, {}), **row}, None
        )
        return self.write_new(sobject, row)

    def upsert(
        self,
        sobject: SObjectType,
        f: Field,
        value: str,
        values: dict[str, Any],
        update_only: bool = False,
    ) -> tuple[str, bool]:
        """Update the one record whose ``f`` is ``value``, or create it.

        Returns the record's ID and whether it was created. Several matches raise
        ``MoreThanOneRecord`` (300) and change nothing.
        """
        values = dict(values)
        for key in [k for k in values if k.lower() == f.name.lower()]:
            given = values.pop(key)
            # The docs say not to send the external ID field in the body; the same
            # value is accepted here, a different one is refused (the platform's
            # exact wording for this case is not documented).
            if given is not None and str(given).lower() != value.lower():
                raise errors.InvalidField(
                    f"The value of {f.name} in the request body ({given}) does not "
                    f"match the external ID in the URL ({value})",
                    [f.name],
                )
        matches = self.find_by(sobject, f, value)
        if len(matches) > 1:
            raise errors.MoreThanOneRecord(sobject.name, matches)
        if matches:
            self.update(sobject, matches[0], values)
            return matches[0], False
        if update_only:
            raise errors.NotFound()
        return self.insert(sobject, {**values, f.name: value}), True

    def insert_many(
        self,
        sobject: SObjectType,
        names: list[str],
        columns: list[list[Any]],
        type_error: Callable[[Field, Any], errors.SalesforceError] | None = None,
    ) -> tuple[list[str | None], list[errors.SalesforceError | None]]:
        """Create many records at once, each saved or refused on its own.

        ``names`` are canonical, createable field names; ``columns`` holds one list of
        request values per name (None: no value). The checks are ``insert``'s, in its
        order (each value's type, required fields, validation rules, duplicate rules,
        unique fields), run a column at a time so that a bulk job of a million rows
        costs little more than writing them. A record that fails a check gets its
        error and no ID; earlier records of the same call count for duplicate rules
        and unique fields, as if they had been saved one by one. ``type_error`` words
        a value of the wrong type (a bulk job's CSV is no JSON). The caller holds the
        transaction.
        """
        count = len(columns[0]) if columns else 0
        failures: list[errors.SalesforceError | None] = [None] * count
        fields = [sobject.field(name) for name in names]
        values: dict[str, list[Any]] = {}
        for f, column in zip(fields, columns, strict=True):
            assert f is not None
            values[f.name] = self._check_column(f, column, failures, type_error)

        for f in sobject.fields:
            if not f.required_on_create:
                continue
            column = values.get(f.name)
            for i in range(count) if column is None else _blank_rows(column):
                if failures[i] is None:
                    missing = [
                        g.name
                        for g in sobject.fields
                        if g.required_on_create
                        and (g.name not in values or values[g.name][i] in (None, ""))
                    ]
                    failures[i] = errors.RequiredFieldMissing(
                        f"Required fields are missing: [{', '.join(missing)}]", missing
                    )

        defaults = CREATE_DEFAULTS.get(sobject.name, {})
        for name, default in defaults.items():
            if name in values:
                values[name] = [default if v is None else v for v in values[name]]
        rules = [
            rule
            for rule in self.validation_rules
            if rule.active and rule.object == sobject.name
        ]
        if rules:
            for i in range(count):
                if failures[i] is None:
                    record = {**defaults, **{n: col[i] for n, col in values.items()}}
                    for rule in rules:
                        if rule.condition(record):
                            failures[i] = errors.FieldCustomValidationException(
                                rule.message, [rule.field] if rule.field else []
                            )
                            break

        ids: list[str | None] = [None] * count
        fresh = iter(self.ids.new_many(sobject.key_prefix, failures.count(None)))
        for i in range(count):
            if failures[i] is None:
                ids[i] = next(fresh)
        self._refuse_duplicates_many(sobject, values, ids, failures)

        saved = [i for i in range(count) if failures[i] is None]
        if saved:
            self._write_many(sobject, values, ids, saved)
        return [ids[i] if failures[i] is None else None for i in range(count)], failures

    def _check_column(
        self,
        f: Field,
        column: list[Any],
        failures: list[errors.SalesforceError | None],
        type_error: Callable[[Field, Any], errors.SalesforceError] | None,
    ) -> list[Any]:
        """``check_value`` over a column; plain text only has its length checked."""
        if f.is_text and f.type != "reference":
            checked = (
                [None if v == "" else v for v in column] if "" in column else column
            )
            present = list(filter(None, checked)) if None in checked else checked
            fits = not f.length or max(map(len, present), default=0) <= f.length
            if fits and (f.type != "email" or all(map(EMAIL.match, map(str, present)))):
                return checked
        checked = []
        for i, value in enumerate(column):
            try:
                checked.append(self.check_value(f, value))
            except errors.SalesforceError as error:
                checked.append(None)
                if type_error and isinstance(error, errors.JsonParserError):
                    error = type_error(f, value)
                if failures[i] is None:
                    failures[i] = error
        return checked

    def _refuse_duplicates_many(
        self,
        sobject: SObjectType,
        values: dict[str, list[Any]],
        ids: list[str | None],
        failures: list[errors.SalesforceError | None],
    ) -> None:
        """Duplicate rules, then unique fields, for every record still standing.

        Single-field rules and unique fields look up a whole column in one query; a
        rule on several fields asks per record.
        """
        for dup in self.duplicate_rules:
            if not dup.active or dup.object != sobject.name:
                continue
            for i, matches in self._matches_many(
                sobject, dup.match_fields, values, ids, failures
            ):
                if failures[i] is None:
                    failures[i] = errors.DuplicatesDetected(
                        dup.message, dup.name, dup.matching_rule, sobject.name, matches
                    )
        for f in sobject.fields:
            if f.unique and f.name in values:
                for i, matches in self._matches_many(
                    sobject, (f.name,), values, ids, failures
                ):
                    if failures[i] is None:
                        # Wording as public clients quote it (UNVERIFIED), as in
                        # enforce_save_rules.
                        failures[i] = errors.DuplicateValue(
                            f"duplicate value found: {f.name} duplicates value on "
                            f"record with id: {matches[0]}",
                            [],
                        )

    def _matches_many(
        self,
        sobject: SObjectType,
        names: tuple[str, ...],
        values: dict[str, list[Any]],
        ids: list[str | None],
        failures: list[errors.SalesforceError | None],
    ) -> Iterator[tuple[int, list[str]]]:
        """``(row, matching IDs)`` for rows equal (any case) to a stored record or
        to an earlier row of this call on ``names``; rows with a blank are skipped."""
        if any(name not in values for name in names):
            return
        keys = [
            None
            if failures[i] is not None or any(values[n][i] in (None, "") for n in names)
            else tuple(str(values[n][i]).translate(_NOCASE) for n in names)
            for i in range(len(ids))
        ]
        stored: dict[tuple[str, ...], list[str]] = {}
        if len(names) == 1:
            wanted = sorted({key[0] for key in keys if key is not None})
            with self.lock:
                for record_id, value in self.conn.execute(
                    f"SELECT Id, {quote(names[0])} FROM {quote(sobject.name)} "
                    f"WHERE IsDeleted = 0 AND {quote(names[0])} COLLATE NOCASE IN "
                    "(SELECT value FROM json_each(?)) ORDER BY Id",
                    (_json_list(wanted),),
                ):
                    value = str(value).translate(_NOCASE)
                    stored.setdefault((value,), []).append(record_id)
        earlier: dict[tuple[str, ...], str] = {}
        for i, key in enumerate(keys):
            if key is None:
                continue
            if len(names) == 1:
                matches = list(stored.get(key, []))
            else:
                record = {n: values[n][i] for n in names}
                matches = self._matching(sobject, names, record, None)
            if key in earlier:
                matches.append(earlier[key])
            if matches:
                yield i, matches
            else:
                earlier[key] = ids[i]  # type: ignore[assignment]

    def _write_many(
        self,
        sobject: SObjectType,
        values: dict[str, list[Any]],
        ids: list[str | None],
        rows: list[int],
    ) -> None:
        """Write the checked rows ``rows``, a column at a time."""
        now = format_datetime(self.clock.now())
        size = len(rows)
        every = size == len(ids)
        columns: dict[str, Any] = {
            name: column if every else [column[i] for i in rows]
            for name, column in values.items()
        }
        for name, default in CREATE_DEFAULTS.get(sobject.name, {}).items():
            columns.setdefault(name, [default] * size)
        columns["Id"] = ids if every else [ids[i] for i in rows]
        # The same value on every row: written as an SQL literal, not a parameter.
        constants: dict[str, Any] = {
            "IsDeleted": 0,
            "CreatedById": self.user_id,
            "LastModifiedById": self.user_id,
            "CreatedDate": now,
            "LastModifiedDate": now,
            "SystemModstamp": now,
        }
        if "OwnerId" in sobject.field_names and "OwnerId" not in columns:
            constants["OwnerId"] = self.user_id
        if sobject.name in {"Contact", "Lead", "User"}:
            first = columns.get("FirstName", [None] * size)
            last = columns.get("LastName", [None] * size)
            columns["Name"] = [
                f"{a} {b}" if a and b else (a or b or None)
                for a, b in zip(first, last, strict=True)
            ]
        elif sobject.name == "Opportunity" and "StageName" in columns:
            flags = [
                CLOSED_STAGES.get(s or "", (False, False)) for s in columns["StageName"]
            ]
            columns["IsClosed"] = [closed for closed, _ in flags]
            columns["IsWon"] = [won for _, won in flags]
        for name in sobject.boolean_fields & columns.keys():
            columns[name] = [None if v is None else int(bool(v)) for v in columns[name]]
        names = list(columns)
        self._insert_rows(
            sobject,
            names,
            zip(*(columns[n] for n in names), strict=True),
            constants,
        )
        if self._recordings:
            for record_id in columns["Id"]:
                self._note_save(sobject, record_id, None)

    def hard_delete(self, sobject: SObjectType, record_id: str) -> None:
        """Remove a record for good, past the recycle bin (Bulk API ``hardDelete``)."""
        current = self.find(sobject, record_id, deleted=True)
        if current is None:
            raise errors.NotFound()
        with self.lock, _sqlite_failure("delete", sobject):
            self.conn.execute(
                f"DELETE FROM {quote(sobject.name)} WHERE Id = ?", (current["Id"],)
            )

    def write_new(self, sobject: SObjectType, row: dict[str, Any]) -> str:
        """Store a checked row, filling in what the platform maintains."""
        prepared = self._prepare_new(sobject, row)
        self._insert_rows(sobject, list(prepared), [list(prepared.values())])
        self._note_save(sobject, prepared["Id"], None)
        return prepared["Id"]

    def _prepare_new(self, sobject: SObjectType, row: dict[str, Any]) -> dict[str, Any]:
        """A new row with its ID, audit fields and derived fields, in storage form."""
        row = {**CREATE_DEFAULTS.get(sobject.name, {}), **row}
        if "CreatedDate" not in row:
            row["CreatedDate"] = format_datetime(self.clock.now())
        row.setdefault("LastModifiedDate", row["CreatedDate"])
        row.update(
            Id=self.ids.new(sobject.key_prefix),
            IsDeleted=False,
            CreatedById=self.user_id,
            LastModifiedById=self.user_id,
            SystemModstamp=row["LastModifiedDate"],
        )
        if "OwnerId" in sobject.field_names:
            row.setdefault("OwnerId", self.user_id)
        derive(sobject, row)
        for name in sobject.boolean_fields & row.keys():
            row[name] = None if row[name] is None else int(bool(row[name]))
        return row

    def _insert_rows(
        self,
        sobject: SObjectType,
        names: list[str],
        rows: Iterable[Sequence[Any]],
        constants: dict[str, Any] | None = None,
    ) -> None:
        """INSERT ``rows``; ``constants`` (values the sandbox made, never a
        request's) go into the statement as literals, the same for every row."""
        constants = constants or {}
        columns = ", ".join(map(quote, [*names, *constants]))
        values = ", ".join(
            ["?"] * len(names) + [_literal(v) for v in constants.values()]
        )
        with self.lock, _sqlite_failure("create", sobject):
            self.conn.executemany(
                f"INSERT INTO {quote(sobject.name)} ({columns}) VALUES ({values})",
                rows,
            )

    def update(
        self, sobject: SObjectType, record_id: str, values: dict[str, Any]
    ) -> None:
        """Change fields of an existing record."""
        current = self.find(sobject, record_id)
        if current is None:
            raise errors.NotFound()
        changes = self.check_values(sobject, values, creating=False)
        merged = {**current, **changes}
        for name in changes:
            f = sobject.field(name)
            if (
                f is not None
                and f.required_on_create
                and merged.get(name) in (None, "")
            ):
                raise errors.RequiredFieldMissing(
                    f"Required fields are missing: [{f.name}]", [f.name]
                )
        derived: dict[str, Any] = {}
        derive(sobject, merged, derived)
        self.enforce_save_rules(sobject, merged | derived, current["Id"])
        now = format_datetime(self.clock.now())
        changes.update(
            LastModifiedDate=now, SystemModstamp=now, LastModifiedById=self.user_id
        )
        derive(sobject, merged | changes, changes)
        stored = {k: to_storage(sobject.field(k), v) for k, v in changes.items()}
        assignments = ", ".join(f"{quote(k)} = ?" for k in stored)
        with self.lock, _sqlite_failure("update", sobject):
            self.conn.execute(
                f"UPDATE {quote(sobject.name)} SET {assignments} WHERE Id = ?",
                [*stored.values(), current["Id"]],
            )
        self._note_save(sobject, current["Id"], current)

    def delete(self, sobject: SObjectType, record_id: str) -> None:
        """Move a record to the recycle bin (``IsDeleted = true``)."""
        current = self.find(sobject, record_id, deleted=True)
        if current is None:
            raise errors.NotFound()
        if current["IsDeleted"]:
            raise errors.EntityIsDeleted()
        now = format_datetime(self.clock.now())
        with self.lock, _sqlite_failure("delete", sobject):
            self.conn.execute(
                f"UPDATE {quote(sobject.name)} SET IsDeleted = 1, SystemModstamp = ?, "
                "LastModifiedDate = ? WHERE Id = ?",
                (now, now, current["Id"]),
            )

    # --- checking ------------------------------------------------------------------

    def enforce_save_rules(
        self, sobject: SObjectType, record: dict[str, Any], record_id: str | None
    ) -> None:
        """Validation rules, then duplicate rules, then unique fields, in the
        platform's order of execution; the first that fails raises."""
        for rule in self.validation_rules:
            if rule.active and rule.object == sobject.name and rule.condition(record):
                raise errors.FieldCustomValidationException(
                    rule.message, [rule.field] if rule.field else []
                )
        for dup in self.duplicate_rules:
            if not dup.active or dup.object != sobject.name:
                continue
            matches = self._matching(sobject, dup.match_fields, record, record_id)
            if matches:
                raise errors.DuplicatesDetected(
                    dup.message, dup.name, dup.matching_rule, sobject.name, matches
                )
        for f in sobject.fields:
            if f.unique and record.get(f.name) not in (None, ""):
                others = self._matching(sobject, (f.name,), record, record_id)
                if others:
                    # Wording as public clients quote it (reference sheet: UNVERIFIED).
                    raise errors.DuplicateValue(
                        f"duplicate value found: {f.name} duplicates value on record "
                        f"with id: {others[0]}",
                        [],
                    )

    def _matching(
        self,
        sobject: SObjectType,
        names: tuple[str, ...],
        record: dict[str, Any],
        record_id: str | None,
    ) -> list[str]:
        """Live records other than ``record_id`` equal to ``record`` on ``names``."""
        values = [record.get(name) for name in names]
        if any(v in (None, "") for v in values):
            return []
        where = " AND ".join(f"{quote(name)} = ? COLLATE NOCASE" for name in names)
        with self.lock:
            rows = self.conn.execute(
                f"SELECT Id FROM {quote(sobject.name)} WHERE IsDeleted = 0 AND "
                f"{where} AND Id IS NOT ? ORDER BY Id LIMIT 200",
                [*values, record_id],
            ).fetchall()
        return [row[0] for row in rows]

    def check_values(
        self, sobject: SObjectType, values: dict[str, Any], creating: bool
    ) -> dict[str, Any]:
        """Request values checked and converted, keyed by canonical field names.

        The order of checks follows the platform's: unknown fields, then fields the
        caller may not set, then each value's type, length and lookups.
        """
        resolved: dict[str, tuple[Field, Any]] = {}
        for key, value in values.items():
            if key == "attributes":
                continue
            f = sobject.field(key)
            if f is None:
                raise errors.InvalidField(
                    f"No such column '{key}' on sobject of type {sobject.name}"
                )
            resolved[f.name] = (f, value)
        if "Id" in resolved:
            raise errors.InvalidField(
                "The Id field should not be specified in the sobject data."
            )
        locked = [
            name
            for name, (f, _) in resolved.items()
            if not (f.createable if creating else f.updateable)
        ]
        if locked:
            raise errors.InvalidFieldForInsertUpdate(
                f"Unable to create/update fields: {', '.join(locked)}. Please check "
                "the security settings of this field and verify that it is read/write "
                "for your profile or permission set.",
                locked,
            )
        return {
            name: self.check_value(f, value) for name, (f, value) in resolved.items()
        }

    def check_value(self, f: Field, value: Any) -> Any:
        """One value converted to the field's type, or the platform's error."""
        if value is None or (value == "" and f.is_text):
            return None
        if f.type == "boolean":
            if isinstance(value, bool):
                return value
            raise _cannot_deserialize("boolean", value)
        if f.type == "int":
            if isinstance(value, bool):
                raise _cannot_deserialize("int", value)
            if isinstance(value, int) or (
                isinstance(value, float) and value.is_integer()
            ):
                return _in_range(f, int(value), value)
            if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
                digits = value.strip().lstrip("+-").lstrip("0")
                if len(digits) > INT_DIGITS:  # before int(): it refuses 4,300 digits
                    raise _outside_range(f, value)
                return _in_range(f, int(value), value)
            raise _cannot_deserialize("int", value)
        if f.is_number:
            if isinstance(value, bool):
                raise _cannot_deserialize("double", value)
            if isinstance(value, int | float):
                number = float(value) if abs(value) < 1e308 else math.inf
            else:
                try:
                    number = float(str(value).strip())
                except ValueError:
                    raise _cannot_deserialize("double", value) from None
            if math.isnan(number):
                raise _cannot_deserialize("double", value)
            return _in_range(f, number, value)
        if f.type == "date":
            return _parse_date(value)
        if f.type == "datetime":
            return _parse_datetime(value)
        if isinstance(value, dict | list):
            raise _cannot_deserialize("String", value)
        text = value if isinstance(value, str) else _json_scalar(value)
        if f.length and len(text) > f.length:
            raise errors.StringTooLong(
                f"{f.label}: data value too large: {text} (max length={f.length})",
                [f.name],
            )
        if f.type == "email" and not EMAIL.match(text):
            raise errors.InvalidEmailAddress(
                f"{f.label}: invalid email address: {text}", [f.name]
            )
        if f.type == "reference":
            return self._check_reference(f, text)
        return text

    def _check_reference(self, f: Field, value: str) -> str:
        target = self.schema.get(f.reference_to[0])
        if not is_valid_id(value) or target is None or value[:3] != target.key_prefix:
            raise errors.MalformedId(
                f"{f.label}: id value of incorrect type: {value}", [f.name]
            )
        if self.find(target, value) is None:
            raise errors.InvalidCrossReferenceKey(
                f"{f.label}: invalid cross reference id", [f.name]
            )
        return to_18(value)

    # --- seed data -----------------------------------------------------------------

    def load_seed(self) -> dict[str, int]:
        """Load the committed seed files; IDs come from this org's own ID factory."""
        refs: dict[str, str] = {}
        loaded: dict[str, int] = {}
        folder = resources.files("sfsandbox") / "seed"
        with self.transaction():
            for name in SEED_ORDER:
                sobject = self.schema.get(name)
                assert sobject is not None
                with (folder / f"{name}.csv").open(
                    encoding="utf-8", newline=""
                ) as handle:
                    reader = csv.reader(handle)
                    header = next(reader)
                    rows = list(reader)
                # "Ref" names a row; "AccountRef" points at the Account row so named.
                lookups = {
                    i: key[:-3] + "Id"
                    for i, key in enumerate(header)
                    if key.endswith("Ref")
                }
                values = {
                    i: sobject.field(key)
                    for i, key in enumerate(header)
                    if i not in lookups
                }
                prepared = []
                for raw in rows:
                    row: dict[str, Any] = {
                        name: refs[raw[i]]
                        for i, name in lookups.items()
                        if name != "Id"
                    }
                    for i, f in values.items():
                        if raw[i] != "":
                            row[f.name] = _from_csv(f, raw[i])
                    prepared.append(self._prepare_new(sobject, row))
                    refs[raw[header.index("Ref")]] = prepared[-1]["Id"]
                names = list(dict.fromkeys(k for row in prepared for k in row))
                self._insert_rows(
                    sobject, names, [[row.get(n) for n in names] for row in prepared]
                )
                loaded[name] = len(rows)
        return loaded


@contextmanager
def _sqlite_failure(action: str, sobject: SObjectType) -> Iterator[None]:
    """Name a failure of SQLite during a save: 500 UNKNOWN_EXCEPTION, not a bare 500.

    Every value is checked before it is written, so SQLite failing here means a check
    is missing in the sandbox. Answering 400 would blame the request for what may be
    valid on the platform; the message says instead what failed, and the transaction
    around the save rolls back.
    """
    try:
        yield
    except (sqlite3.Error, ArithmeticError, ValueError) as error:
        log.exception("SQLite failed to %s the %s record", action, sobject.name)
        raise errors.UnknownException(
            f"sfsandbox could not {action} the {sobject.name} record: "
            f"{type(error).__name__}: {error}. This is a bug in the sandbox, not in "
            "your request."
        ) from None


# SQLite's NOCASE folds ASCII letters only; keys compared in Python fold the same way.
_NOCASE = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _literal(value: Any) -> str:
    """A constant as an SQL literal (numbers as they are, text quoted)."""
    if isinstance(value, bool | int):
        return str(int(value))
    return "'" + str(value).replace("'", "''") + "'"


def _blank_rows(column: list[Any]) -> list[int]:
    return [i for i, value in enumerate(column) if value in (None, "")]


def _json_list(values: list[str]) -> str:
    return json.dumps(values, ensure_ascii=False)


def derive(
    sobject: SObjectType, row: dict[str, Any], into: dict[str, Any] | None = None
) -> None:
    """Fill in the fields the platform computes from others (names, stage flags)."""
    target = row if into is None else into
    if sobject.name in {"Contact", "Lead", "User"}:
        name = " ".join(p for p in (row.get("FirstName"), row.get("LastName")) if p)
        target["Name"] = name or None
    if sobject.name == "Opportunity" and "StageName" in (
        into if into is not None else row
    ):
        closed, won = CLOSED_STAGES.get(row.get("StageName") or "", (False, False))
        target["IsClosed"], target["IsWon"] = closed, won


def to_storage(f: Field | None, value: Any) -> Any:
    if f is not None and f.type == "boolean" and value is not None:
        return 1 if value else 0
    return value


def from_storage(f: Field, value: Any) -> Any:
    """A stored value as JSON shows it: booleans true/false, numbers as numbers."""
    if value is None:
        return None
    if f.type == "boolean":
        return bool(value)
    if f.type == "int":
        return int(value)
    if f.is_number:
        return float(value)
    return value


def _from_csv(f: Field, text: str) -> Any:
    if f.type == "boolean":
        return text.lower() == "true"
    if f.type == "int":
        return int(text)
    if f.is_number:
        return float(text)
    return text


def _in_range(f: Field, number: float, given: Any) -> Any:
    """``number`` if ``f`` can hold it, else NUMBER_OUTSIDE_VALID_RANGE.

    An int holds ``INT_DIGITS`` digits; a currency, double or percent field holds
    ``precision - scale`` digits before the point (the platform's range check; extra
    decimals are rounded, not refused). Infinity is outside every range.
    """
    if f.type == "int":
        limit: float = 10**INT_DIGITS
    elif f.precision:
        limit = 10.0 ** (f.precision - f.scale)
    else:
        limit = math.inf
    if not abs(number) < limit:
        raise _outside_range(f, given)
    return number


def _outside_range(f: Field, given: Any) -> errors.NumberOutsideValidRange:
    # Wording from captured messages: "Employees: value outside of valid range on
    # numeric field: 1431655766" (UI tests) and the same code and words over the API
    # ("Completed Action: ... numeric field: 10.0", DLRS issue #713).
    shown = given if isinstance(given, str) else _json_scalar(given)
    if isinstance(given, float) and len(shown) > 18:
        shown = repr(given)  # 1e+300, not three hundred digits
    return errors.NumberOutsideValidRange(
        f"{f.label}: value outside of valid range on numeric field: {shown}", [f.name]
    )


def _json_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"  # as Java prints a double
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _cannot_deserialize(type_name: str, value: Any) -> errors.JsonParserError:
    token = "VALUE_STRING" if isinstance(value, str) else _token_kind(value)
    shown = value if isinstance(value, str) else _json_scalar(value)
    return errors.JsonParserError(
        f"Cannot deserialize instance of {type_name} from {token} value {shown} "
        "or request may be missing a required field"
    )


def _token_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, dict):
        return "START_OBJECT"
    return "START_ARRAY"


def _parse_date(value: Any) -> str:
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise _cannot_deserialize("date", value)


def _parse_datetime(value: Any) -> str:
    if isinstance(value, str):
        match = DATETIME_INPUT.match(value)
        if match:
            day, clock, fraction, zone = match.groups()
            zone = zone or "Z"
            zone = "+00:00" if zone == "Z" else zone
            if ":" not in zone:
                zone = zone[:3] + ":" + zone[3:]
            try:
                moment = datetime.fromisoformat(f"{day}T{clock}{fraction or ''}{zone}")
            except ValueError:
                raise _cannot_deserialize("datetime", value) from None
            return format_datetime(moment)
    raise _cannot_deserialize("datetime", value)
