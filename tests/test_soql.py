"""SOQL: parsing, compiling to SQLite, running against a small org, and every error.

The table layout is the store's contract (one table per sObject, one column per field),
made here from the schema so these tests need nothing but the soql package.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import sqlite3
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest

from sfsandbox.org.errors import (
    InvalidField,
    InvalidQueryFilterOperator,
    InvalidType,
    MalformedQuery,
    NotEmulated,
    NumberOutsideValidRange,
    QueryTooComplicated,
    SalesforceError,
    UnknownException,
)
from sfsandbox.org.ids import IdFactory
from sfsandbox.org.schema import Schema
from sfsandbox.org.soql import (
    CompiledQuery,
    Query,
    compile_query,
    count,
    parse_soql,
    run_page,
)
from sfsandbox.org.soql.ast import And, Comparison, FieldPath, Not, Or
from sfsandbox.org.soql.compiler import _relative_range

NOW = datetime(2026, 1, 12, 9, 0, 0, tzinfo=UTC)
VERSION = "62.0"
SQL_TYPES = {
    "currency": "REAL",
    "double": "REAL",
    "percent": "REAL",
    "int": "INTEGER",
    "boolean": "INTEGER",
}


class Org:
    """An in-memory org: the schema, a SQLite connection and the IDs of its records."""

    def __init__(self) -> None:
        self.schema = Schema()
        self.conn = sqlite3.connect(":memory:")
        self.ids = IdFactory(seed=7)
        self.made: dict[str, str] = {}
        for sobject in self.schema:
            columns = ", ".join(
                f'"{f.name}" {SQL_TYPES.get(f.type, "TEXT")}' for f in sobject.fields
            )
            self.conn.execute(f'CREATE TABLE "{sobject.name}" ({columns})')

    def insert(self, key: str, sobject: str, **values: Any) -> str:
        record_id = self.ids.new(self.schema.get(sobject).key_prefix)
        row = {
            "Id": record_id,
            "IsDeleted": 0,
            "CreatedDate": "2026-01-10T12:00:00.000+0000",
            **values,
        }
        names = ", ".join(f'"{name}"' for name in row)
        marks = ", ".join("?" for _ in row)
        self.conn.execute(
            f'INSERT INTO "{sobject}" ({names}) VALUES ({marks})', list(row.values())
        )
        self.made[key] = record_id
        return record_id

    def query(self, text: str, **options: Any) -> list[dict[str, Any]]:
        compiled = self.compile(text, **options)
        return run_page(self.conn, compiled, 0, 2000, VERSION)

    def compile(self, text: str, **options: Any) -> CompiledQuery:
        return compile_query(parse_soql(text), self.schema, NOW, **options)

    def total(self, text: str, **options: Any) -> int:
        return count(self.conn, self.compile(text, **options))


@pytest.fixture(scope="module")
def org() -> Org:
    org = Org()
    ada = org.insert("ada", "User", Name="Ada Admin", LastName="Admin", IsActive=1)
    bob = org.insert("bob", "User", Name="Bob Owner", LastName="Owner", IsActive=1)

    acme = org.insert(
        "acme",
        "Account",
        Name="Acme",
        Industry="Banking",
        AnnualRevenue=1500000.0,
        NumberOfEmployees=120,
        Rating="Hot",
        Type="Customer - Direct",
        OwnerId=bob,
        CreatedDate="2026-01-12T08:00:00.000+0000",
    )
    beta = org.insert(
        "beta",
        "Account",
        Name="beta Corp",
        Industry="Technology",
        AnnualRevenue=250000.0,
        Rating="Cold",
        OwnerId=ada,
        CreatedDate="2026-01-11T10:00:00.000+0000",
    )
    org.insert(
        "gamma",
        "Account",
        Name="Gamma_Co 50%",
        Rating="Warm",
        OwnerId=ada,
        CreatedDate="2025-12-15T10:00:00.000+0000",
    )
    org.insert("gone", "Account", Name="Deleted Inc", IsDeleted=1, OwnerId=ada)

    org.insert(
        "ann",
        "Contact",
        FirstName="Ann",
        LastName="Smith",
        Name="Ann Smith",
        AccountId=acme,
        LeadSource="Web",
        Title="CEO",
    )
    org.insert(
        "bo",
        "Contact",
        FirstName="Bo",
        LastName="jones",
        Name="Bo jones",
        AccountId=acme,
        LeadSource="Other",
    )
    org.insert("cy", "Contact", LastName="Young", Name="Cy Young", AccountId=beta)
    org.insert("dee", "Contact", LastName="Nobody", Name="Dee Nobody")
    org.insert(
        "del",
        "Contact",
        LastName="Gone",
        Name="Del Gone",
        AccountId=acme,
        IsDeleted=1,
    )

    org.insert(
        "renewal",
        "Opportunity",
        Name="Acme Renewal",
        AccountId=acme,
        StageName="Closed Won",
        CloseDate="2026-01-12",
        Amount=5000.0,
        Probability=100.0,
        IsClosed=1,
        IsWon=1,
    )
    org.insert(
        "deal",
        "Opportunity",
        Name="Beta Deal",
        AccountId=beta,
        StageName="Prospecting",
        CloseDate="2026-01-11",
        Amount=1000.5,
        IsClosed=0,
        IsWon=0,
    )
    org.insert(
        "bet",
        "Opportunity",
        Name="Big Bet",
        AccountId=acme,
        StageName="Negotiation/Review",
        CloseDate="2026-01-13",
        IsClosed=0,
        IsWon=0,
    )
    org.insert(
        "old",
        "Opportunity",
        Name="Old One",
        StageName="Qualification",
        CloseDate="2025-12-20",
        IsClosed=0,
        IsWon=0,
    )
    return org


def names(records: list[dict[str, Any]]) -> list[str]:
    return [r["Name"] for r in records]


def message(text: str, column: int, reason: str) -> str:
    """The platform's located message for a short one-line query (shown whole)."""
    caret = " " * (column - 1) + "^"
    return f"\n{text}\n{caret}\nERROR at Row:1:Column:{column}\n{reason}"


def assert_located(found: str, text: str, column: int, reason: str) -> None:
    """``found`` repeats part of one-line ``text`` with a caret under ``column``."""
    _, window, caret, position, *rest = found.split("\n")
    assert position == f"ERROR at Row:1:Column:{column}"
    assert "\n".join(rest) == reason
    assert window in text
    assert text.index(window) + caret.index("^") == column - 1


NO_SUCH_COLUMN_TAIL = (
    ". If you are attempting to use a custom field, be sure to append the '__c' after "
    "the custom field name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)


# --- parsing ----------------------------------------------------------------------


def test_parse_builds_the_query() -> None:
    query = parse_soql(
        "select Id, Name, Account.Owner.Name from Contact "
        "where Name = 'x' and (Title != null or not LeadSource in ('Web')) "
        "order by Name desc nulls last, Id limit 5 offset 2"
    )

    assert isinstance(query, Query)
    assert query.sobject == "Contact"
    assert [item.text for item in query.select] == ["Id", "Name", "Account.Owner.Name"]
    assert isinstance(query.where, And)
    inner = query.where.terms[1]
    assert isinstance(inner, Or)
    assert isinstance(inner.terms[1], Not)
    assert query.order_by[0].descending and query.order_by[0].nulls_first is False
    assert query.order_by[1].nulls_first is None
    assert (query.limit, query.offset) == (5, 2)


def test_parse_records_positions() -> None:
    query = parse_soql("SELECT Id\n  FROM Account\n WHERE Name = 'a'")

    assert (query.sobject_pos.line, query.sobject_pos.column) == (2, 8)
    comparison = query.where
    assert isinstance(comparison, Comparison)
    assert (comparison.operand.pos.line, comparison.operand.pos.column) == (3, 8)


def test_string_escapes_and_like_pattern() -> None:
    query = parse_soql(
        r"SELECT Id FROM Account WHERE Name = 'O\'Brien \\ \n \% \_ \u00e9'"
    )
    literal = query.where.value

    assert literal.value == "O'Brien \\ \n % _ é"
    assert literal.like == "O'Brien \\\\ \n \\% \\_ é"


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("-12", "number", -12),
        ("3.25", "number", 3.25),
        ("-0.5", "number", -0.5),
        ("true", "boolean", True),
        ("FALSE", "boolean", False),
        ("null", "null", None),
        ("2024-01-31", "date", "2024-01-31"),
        ("2024-01-31T10:00:00Z", "datetime", "2024-01-31T10:00:00.000+0000"),
        ("2024-01-31T10:00:00.250Z", "datetime", "2024-01-31T10:00:00.250+0000"),
        ("2024-01-31T10:00:00+01:00", "datetime", "2024-01-31T09:00:00.000+0000"),
        ("2024-01-31T23:30:00-08:00", "datetime", "2024-02-01T07:30:00.000+0000"),
        ("TODAY", "name", "TODAY"),
        ("last_n_days:30", "date_n", ("LAST_N_DAYS", 30)),
    ],
)
def test_literals(text: str, kind: str, value: Any) -> None:
    literal = parse_soql(f"SELECT Id FROM Account WHERE Name = {text}").where.value

    assert (literal.kind, literal.value) == (kind, value)


def test_keywords_are_words_not_prefixes() -> None:
    query = parse_soql("SELECT Selection__c, Ordered, FirstName FROM Contact")

    assert [item.text for item in query.select] == [
        "Selection__c",
        "Ordered",
        "FirstName",
    ]


def test_parse_is_fast() -> None:
    text = (
        "SELECT Id, Name, Industry, AnnualRevenue FROM Account "
        "WHERE Industry = 'Banking' AND AnnualRevenue > 1000000 ORDER BY Name LIMIT 10"
    )
    schema = Schema()
    from sfsandbox.org.soql.parser import _parse

    uncached = _parse.__wrapped__
    for _ in range(50):
        compile_query(uncached(text), schema, NOW)

    runs = 200
    start = time.perf_counter()
    for _ in range(runs):
        compile_query(uncached(text), schema, NOW)
    assert (time.perf_counter() - start) / runs < 0.001


# --- SELECT and record shape ------------------------------------------------------


def test_records_have_attributes_and_fields_in_select_order(org: Org) -> None:
    records = org.query("SELECT industry, NAME FROM account WHERE Name = 'Acme'")

    assert records == [
        {
            "attributes": {
                "type": "Account",
                "url": f"/services/data/v62.0/sobjects/Account/{org.made['acme']}",
            },
            "Industry": "Banking",
            "Name": "Acme",
        }
    ]
    assert list(records[0]) == ["attributes", "Industry", "Name"]


def test_values_are_converted_from_storage(org: Org) -> None:
    records = org.query(
        "SELECT AnnualRevenue, NumberOfEmployees, Rating FROM Account ORDER BY Name"
    )
    acme = records[0]
    assert acme["AnnualRevenue"] == 1500000.0
    assert isinstance(acme["AnnualRevenue"], float)
    assert acme["NumberOfEmployees"] == 120
    assert isinstance(acme["NumberOfEmployees"], int)
    assert records[1]["NumberOfEmployees"] is None

    opportunity = org.query(
        "SELECT IsWon, IsClosed, CloseDate, CreatedDate FROM Opportunity"
    )[0]
    assert opportunity["IsWon"] is True and opportunity["IsClosed"] is True
    assert opportunity["CloseDate"] == "2026-01-12"
    assert opportunity["CreatedDate"] == "2026-01-10T12:00:00.000+0000"


def test_soft_deleted_rows_are_left_out_unless_query_all(org: Org) -> None:
    assert "Deleted Inc" not in names(org.query("SELECT Name FROM Account"))
    assert "Deleted Inc" in names(
        org.query("SELECT Name FROM Account", include_deleted=True)
    )
    assert org.total("SELECT Id FROM Account") == 3
    assert org.total("SELECT Id FROM Account", include_deleted=True) == 4


def test_unsorted_results_come_in_creation_order(org: Org) -> None:
    assert names(org.query("SELECT Name FROM Account")) == [
        "Acme",
        "beta Corp",
        "Gamma_Co 50%",
    ]


def test_object_name_as_field_prefix(org: Org) -> None:
    assert names(
        org.query("SELECT Account.Name FROM Account WHERE Account.Name = 'acme'")
    ) == ["Acme"]


# --- WHERE --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Name = 'ACME'", ["Acme"]),
        ("Name != 'acme'", ["beta Corp", "Gamma_Co 50%"]),
        ("Name <> 'acme'", ["beta Corp", "Gamma_Co 50%"]),
        ("Industry != 'Banking'", ["beta Corp", "Gamma_Co 50%"]),
        ("Industry = null", ["Gamma_Co 50%"]),
        ("Industry != null", ["Acme", "beta Corp"]),
        ("AnnualRevenue > 250000", ["Acme"]),
        ("AnnualRevenue >= 250000", ["Acme", "beta Corp"]),
        ("AnnualRevenue < 1500000", ["beta Corp"]),
        ("AnnualRevenue <= 1500000.0", ["Acme", "beta Corp"]),
        ("NumberOfEmployees = 120", ["Acme"]),
        ("Name < 'B'", ["Acme"]),
        ("Name > 'b'", ["beta Corp", "Gamma_Co 50%"]),
        ("Name LIKE 'a%'", ["Acme"]),
        ("Name LIKE '%CORP'", ["beta Corp"]),
        ("Name LIKE '_eta%'", ["beta Corp"]),
        (r"Name LIKE '%\_co%'", ["Gamma_Co 50%"]),
        (r"Name LIKE '%50\%'", ["Gamma_Co 50%"]),
        (r"Name LIKE '%5\%'", []),
        ("Industry LIKE '%'", ["Acme", "beta Corp"]),
        ("Industry IN ('banking', 'Technology')", ["Acme", "beta Corp"]),
        ("Industry NOT IN ('Banking')", ["beta Corp", "Gamma_Co 50%"]),
        ("Industry IN ('Banking', null)", ["Acme", "Gamma_Co 50%"]),
        ("Industry NOT IN ('Banking', null)", ["beta Corp"]),
        ("NOT Industry = 'Banking'", ["beta Corp", "Gamma_Co 50%"]),
        ("NOT (Industry = 'Banking' OR Rating = 'Cold')", ["Gamma_Co 50%"]),
        (
            "Rating = 'Hot' OR Rating = 'Cold' OR Rating = 'Warm'",
            ["Acme", "beta Corp", "Gamma_Co 50%"],
        ),
        ("Rating = 'Hot' AND Industry = 'Banking' AND Name = 'Acme'", ["Acme"]),
        ("(Rating = 'Hot' OR Rating = 'Warm') AND Industry = null", ["Gamma_Co 50%"]),
        ("Owner.Name = 'Ada Admin'", ["beta Corp", "Gamma_Co 50%"]),
    ],
)
def test_where(org: Org, where: str, expected: list[str]) -> None:
    assert names(org.query(f"SELECT Name FROM Account WHERE {where}")) == expected


def test_boolean_and_id_filters(org: Org) -> None:
    assert names(org.query("SELECT Name FROM Opportunity WHERE IsWon = true")) == [
        "Acme Renewal"
    ]
    assert len(org.query("SELECT Name FROM Opportunity WHERE IsWon = FALSE")) == 3

    acme = org.made["acme"]
    assert names(org.query(f"SELECT Name FROM Account WHERE Id = '{acme}'")) == ["Acme"]
    assert names(org.query(f"SELECT Name FROM Account WHERE Id = '{acme[:15]}'")) == [
        "Acme"
    ]
    contacts = org.query(f"SELECT Name FROM Contact WHERE AccountId IN ('{acme}')")
    assert names(contacts) == ["Ann Smith", "Bo jones"]


def test_date_and_datetime_filters(org: Org) -> None:
    def opportunities(where: str) -> list[str]:
        return names(org.query(f"SELECT Name FROM Opportunity WHERE {where}"))

    assert opportunities("CloseDate = 2026-01-12") == ["Acme Renewal"]
    assert opportunities("CloseDate > 2026-01-11") == ["Acme Renewal", "Big Bet"]
    assert opportunities("CloseDate = TODAY") == ["Acme Renewal"]
    assert opportunities("CloseDate = YESTERDAY") == ["Beta Deal"]
    assert opportunities("CloseDate = TOMORROW") == ["Big Bet"]
    assert opportunities("CloseDate > TODAY") == ["Big Bet"]
    assert opportunities("CloseDate < TODAY") == ["Beta Deal", "Old One"]
    assert opportunities("CloseDate <= TODAY") == [
        "Acme Renewal",
        "Beta Deal",
        "Old One",
    ]
    assert opportunities("CloseDate >= TODAY") == ["Acme Renewal", "Big Bet"]
    assert opportunities("CloseDate != TODAY") == ["Beta Deal", "Big Bet", "Old One"]
    assert opportunities("CloseDate = LAST_N_DAYS:1") == ["Acme Renewal", "Beta Deal"]
    assert opportunities("CloseDate = NEXT_N_DAYS:1") == ["Big Bet"]
    assert opportunities("CloseDate = THIS_MONTH") == [
        "Acme Renewal",
        "Beta Deal",
        "Big Bet",
    ]
    assert opportunities("CloseDate = LAST_MONTH") == ["Old One"]
    assert opportunities("CloseDate IN (TODAY, LAST_MONTH)") == [
        "Acme Renewal",
        "Old One",
    ]

    def accounts(where: str) -> list[str]:
        return names(org.query(f"SELECT Name FROM Account WHERE {where}"))

    assert accounts("CreatedDate = TODAY") == ["Acme"]
    assert accounts("CreatedDate = LAST_N_DAYS:1") == ["Acme", "beta Corp"]
    assert accounts("CreatedDate < THIS_MONTH") == ["Gamma_Co 50%"]
    assert accounts("CreatedDate > 2026-01-11T10:00:00Z") == ["Acme"]
    assert accounts("CreatedDate >= 2026-01-11T11:00:00+01:00") == ["Acme", "beta Corp"]
    assert accounts("CreatedDate = 2026-01-11T10:00:00.000Z") == ["beta Corp"]


@pytest.mark.parametrize(
    ("literal", "n", "start", "end"),
    [
        ("THIS_WEEK", None, date(2026, 1, 11), date(2026, 1, 18)),
        ("LAST_WEEK", None, date(2026, 1, 4), date(2026, 1, 11)),
        ("NEXT_MONTH", None, date(2026, 2, 1), date(2026, 3, 1)),
        ("LAST_MONTH", None, date(2025, 12, 1), date(2026, 1, 1)),
        ("LAST_90_DAYS", None, date(2025, 10, 14), date(2026, 1, 13)),
        ("THIS_QUARTER", None, date(2026, 1, 1), date(2026, 4, 1)),
        ("LAST_QUARTER", None, date(2025, 10, 1), date(2026, 1, 1)),
        ("THIS_YEAR", None, date(2026, 1, 1), date(2027, 1, 1)),
        ("LAST_N_DAYS", 7, date(2026, 1, 5), date(2026, 1, 13)),
        ("NEXT_N_DAYS", 7, date(2026, 1, 13), date(2026, 1, 20)),
        ("N_DAYS_AGO", 3, date(2026, 1, 9), date(2026, 1, 10)),
        ("LAST_N_MONTHS", 2, date(2025, 11, 1), date(2026, 1, 1)),
        ("NEXT_N_MONTHS", 2, date(2026, 2, 1), date(2026, 4, 1)),
        ("LAST_N_YEARS", 1, date(2025, 1, 1), date(2026, 1, 1)),
    ],
)
def test_relative_date_ranges(
    literal: str, n: int | None, start: date, end: date
) -> None:
    # 2026-01-12 is a Monday; the en_US week starts on Sunday the 11th.
    assert _relative_range(literal, n, date(2026, 1, 12)) == (start, end)


# --- ORDER BY, LIMIT, OFFSET ------------------------------------------------------


def test_order_by_text_is_case_insensitive(org: Org) -> None:
    assert names(org.query("SELECT Name FROM Account ORDER BY Name")) == [
        "Acme",
        "beta Corp",
        "Gamma_Co 50%",
    ]
    assert names(org.query("SELECT Name FROM Account ORDER BY Name DESC")) == [
        "Gamma_Co 50%",
        "beta Corp",
        "Acme",
    ]


def test_order_by_default_nulls(org: Org) -> None:
    ascending = names(org.query("SELECT Name FROM Account ORDER BY AnnualRevenue"))
    descending = names(
        org.query("SELECT Name FROM Account ORDER BY AnnualRevenue DESC")
    )
    assert ascending == ["Gamma_Co 50%", "beta Corp", "Acme"]
    assert descending == ["Acme", "beta Corp", "Gamma_Co 50%"]

    nulls_last = org.query("SELECT Name FROM Account ORDER BY AnnualRevenue NULLS LAST")
    assert names(nulls_last) == ["beta Corp", "Acme", "Gamma_Co 50%"]
    nulls_first = org.query(
        "SELECT Name FROM Account ORDER BY AnnualRevenue DESC NULLS FIRST"
    )
    assert names(nulls_first) == ["Gamma_Co 50%", "Acme", "beta Corp"]


def test_order_by_picklist_follows_defined_values(org: Org) -> None:
    # STAGES define Prospecting < Qualification < ... < Negotiation/Review < Closed Won.
    records = org.query("SELECT Name FROM Opportunity ORDER BY StageName")
    assert names(records) == ["Beta Deal", "Old One", "Big Bet", "Acme Renewal"]


def test_order_by_several_keys_and_relationships(org: Org) -> None:
    records = org.query("SELECT Name FROM Contact ORDER BY Account.Name DESC, Name")
    assert names(records) == ["Cy Young", "Ann Smith", "Bo jones", "Dee Nobody"]


def test_limit_offset_and_paging(org: Org) -> None:
    text = "SELECT Name FROM Opportunity ORDER BY Name LIMIT 3 OFFSET 1"
    compiled = org.compile(text)

    assert count(org.conn, compiled) == 3
    assert names(run_page(org.conn, compiled, 0, 2000, VERSION)) == [
        "Beta Deal",
        "Big Bet",
        "Old One",
    ]
    assert names(run_page(org.conn, compiled, 1, 1, VERSION)) == ["Big Bet"]
    assert names(run_page(org.conn, compiled, 2, 5, VERSION)) == ["Old One"]
    assert run_page(org.conn, compiled, 3, 5, VERSION) == []
    assert org.total("SELECT Id FROM Opportunity OFFSET 3") == 1
    assert org.total("SELECT Id FROM Opportunity LIMIT 0") == 0


def test_count_query(org: Org) -> None:
    compiled = org.compile("SELECT COUNT() FROM Contact WHERE Account.Name = 'Acme'")

    assert compiled.is_count
    assert count(org.conn, compiled) == 2
    assert run_page(org.conn, compiled, 0, 2000, VERSION) == []
    assert org.total("select count() from Contact") == 4


# --- relationships ----------------------------------------------------------------


def test_parent_relationship_shape(org: Org) -> None:
    records = org.query(
        "SELECT Name, Account.Name, Title, Account.Owner.Name, Account.Industry "
        "FROM Contact ORDER BY Name"
    )
    acme, bob = org.made["acme"], org.made["bob"]

    assert records[0] == {
        "attributes": {
            "type": "Contact",
            "url": f"/services/data/v62.0/sobjects/Contact/{org.made['ann']}",
        },
        "Name": "Ann Smith",
        "Account": {
            "attributes": {
                "type": "Account",
                "url": f"/services/data/v62.0/sobjects/Account/{acme}",
            },
            "Name": "Acme",
            "Owner": {
                "attributes": {
                    "type": "User",
                    "url": f"/services/data/v62.0/sobjects/User/{bob}",
                },
                "Name": "Bob Owner",
            },
            "Industry": "Banking",
        },
        "Title": "CEO",
    }
    dee = records[3]
    assert dee["Name"] == "Dee Nobody" and dee["Account"] is None


def test_relationships_in_where(org: Org) -> None:
    contacts = org.query(
        "SELECT Name FROM Contact WHERE Account.Owner.Name = 'bob owner'"
    )
    assert names(contacts) == ["Ann Smith", "Bo jones"]
    others = org.query("SELECT Name FROM Contact WHERE Account.Name != 'Acme'")
    assert names(others) == ["Cy Young", "Dee Nobody"]


def test_child_subquery(org: Org) -> None:
    records = org.query(
        "SELECT Name, (SELECT LastName, Account.Name FROM Contacts ORDER BY LastName), "
        "Industry FROM Account ORDER BY Name"
    )
    acme, beta, gamma = records

    assert list(acme) == ["attributes", "Name", "Contacts", "Industry"]
    assert acme["Contacts"]["totalSize"] == 2
    assert acme["Contacts"]["done"] is True
    assert [c["LastName"] for c in acme["Contacts"]["records"]] == ["jones", "Smith"]
    first = acme["Contacts"]["records"][0]
    assert first["attributes"] == {
        "type": "Contact",
        "url": f"/services/data/v62.0/sobjects/Contact/{org.made['bo']}",
    }
    assert first["Account"]["Name"] == "Acme"
    assert [c["LastName"] for c in beta["Contacts"]["records"]] == ["Young"]
    assert gamma["Contacts"] is None


def test_child_subquery_filters_and_limits(org: Org) -> None:
    records = org.query(
        "SELECT Name, (SELECT Name FROM Opportunities WHERE IsClosed = false "
        "ORDER BY CloseDate DESC LIMIT 1) FROM Account WHERE Name = 'Acme'"
    )
    assert records[0]["Opportunities"]["records"][0]["Name"] == "Big Bet"
    assert records[0]["Opportunities"]["totalSize"] == 1


def test_child_subquery_on_a_later_page(org: Org) -> None:
    compiled = org.compile(
        "SELECT Name, (SELECT LastName FROM Contacts) FROM Account ORDER BY Name"
    )
    page = run_page(org.conn, compiled, 1, 1, VERSION)

    assert page[0]["Name"] == "beta Corp"
    assert page[0]["Contacts"]["records"][0]["LastName"] == "Young"


# --- errors: the platform's words ---------------------------------------------------


def test_unknown_field(org: Org) -> None:
    with pytest.raises(InvalidField) as raised:
        org.query("SELECT Nme FROM Account")

    assert raised.value.message == (
        "\nSELECT Nme FROM Account\n       ^\nERROR at Row:1:Column:8\n"
        "No such column 'Nme' on entity 'Account'" + NO_SUCH_COLUMN_TAIL
    )
    assert raised.value.body()[0]["errorCode"] == "INVALID_FIELD"


def test_unknown_field_in_where_and_order_by(org: Org) -> None:
    text = "SELECT Id FROM Account WHERE Nmae = 'x'"
    with pytest.raises(InvalidField) as raised:
        org.query(text)
    assert raised.value.message == message(
        text, 30, "No such column 'Nmae' on entity 'Account'" + NO_SUCH_COLUMN_TAIL
    )

    with pytest.raises(InvalidField, match="No such column 'Foo' on entity 'User'"):
        org.query("SELECT Id FROM Contact ORDER BY Account.Owner.Foo")


def test_unknown_object() -> None:
    text = "SELECT Id FROM Foo"
    with pytest.raises(InvalidType) as raised:
        compile_query(parse_soql(text), Schema(), NOW)

    assert raised.value.message == message(
        text,
        16,
        "sObject type 'Foo' is not supported. If you are attempting to use a custom "
        "object, be sure to append the '__c' after the entity name. Please reference "
        "your WSDL or the describe call for the appropriate names.",
    )
    assert raised.value.error_code == "INVALID_TYPE"


def test_unknown_relationship(org: Org) -> None:
    text = "SELECT Acount.Name FROM Contact"
    with pytest.raises(InvalidField) as raised:
        org.query(text)

    assert raised.value.message == message(
        text,
        8,
        "Didn't understand relationship 'Acount' in field path. If you are attempting "
        "to use a custom relationship, be sure to append the '__r' after the custom "
        "relationship name. Please reference your WSDL or the describe call for the "
        "appropriate names.",
    )


def test_unknown_child_relationship(org: Org) -> None:
    with pytest.raises(InvalidType) as raised:
        org.query("SELECT Id, (SELECT Id FROM Contact) FROM Account")
    assert "Didn't understand relationship 'Contact' in FROM part of query call" in (
        raised.value.message
    )
    assert "ERROR at Row:1:Column:28" in raised.value.message


def test_syntax_error_points_at_the_token() -> None:
    text = "SELECT Id FRM Account"
    with pytest.raises(MalformedQuery) as raised:
        parse_soql(text)

    assert raised.value.message == message(text, 11, "unexpected token: 'FRM'")
    assert raised.value.error_code == "MALFORMED_QUERY"


def test_syntax_error_at_the_end() -> None:
    with pytest.raises(MalformedQuery) as raised:
        parse_soql("SELECT Id FROM Contact WHERE")
    assert raised.value.message == "unexpected token: '<EOF>'"


def test_mixing_and_with_or_needs_parentheses() -> None:
    text = "SELECT Id FROM Contact WHERE Name = 'a' AND Title = 'b' OR Email = 'c'"
    with pytest.raises(MalformedQuery) as raised:
        parse_soql(text)
    # The platform repeats only the query around the error (life-improver.com capture).
    assert raised.value.message == (
        "\nWHERE Name = 'a' AND Title = 'b' OR Email = 'c'\n" + " " * 33 + "^\n"
        "ERROR at Row:1:Column:57\nunexpected token: 'OR'"
    )


def test_error_on_a_later_line() -> None:
    text = "SELECT Id\nFROM Contact\nWHERE Name = 'a' Title = 'b'"
    with pytest.raises(MalformedQuery) as raised:
        parse_soql(text)
    assert raised.value.message == (
        "\nWHERE Name = 'a' Title = 'b'\n                 ^\n"
        "ERROR at Row:3:Column:18\nunexpected token: 'Title'"
    )


def test_window_is_cut_at_words() -> None:
    text = (
        "SELECT Id, Company, Email, LastName, Bad_Field__c, ConvertedContactId, Status "
        "FROM Lead WHERE IsDeleted = false"
    )
    with pytest.raises(InvalidField) as raised:
        compile_query(parse_soql(text), Schema(), NOW)
    window, caret = raised.value.message.split("\n")[1:3]

    assert (
        window
        == "Id, Company, Email, LastName, Bad_Field__c, ConvertedContactId, Status"
    )
    assert caret == " " * window.index("Bad_Field__c") + "^"


def test_duplicate_field(org: Org) -> None:
    text = "SELECT Name, Industry, name FROM Account"
    with pytest.raises(InvalidField) as raised:
        org.query(text)
    assert raised.value.message == message(text, 24, "duplicate field selected: Name")

    with pytest.raises(InvalidField, match="duplicate field selected: Name"):
        org.query("SELECT Account.Name, account.NAME FROM Contact")
    assert org.query("SELECT Name, Account.Name FROM Contact")


@pytest.mark.parametrize(
    ("text", "column", "reason"),
    [
        (
            "SELECT Id FROM Opportunity WHERE CloseDate > 2026-01-01T00:00:00Z",
            34,
            "value of filter criterion for field 'CloseDate' must be of type date and "
            "should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Opportunity WHERE CloseDate = '2026-01-01'",
            34,
            "value of filter criterion for field 'CloseDate' must be of type date and "
            "should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE CreatedDate > 2026-01-01",
            30,
            "value of filter criterion for field 'CreatedDate' must be of type "
            "dateTime and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE AnnualRevenue > '100'",
            30,
            "value of filter criterion for field 'AnnualRevenue' must be of type "
            "double and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE Name = 3999",
            30,
            "value of filter criterion for field 'Name' must be of type string and "
            "should be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE Name = Acme",
            30,
            "value of filter criterion for field 'Name' must be of type string and "
            "should be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Opportunity WHERE IsWon = 'true'",
            34,
            "value of filter criterion for field 'IsWon' must be of type boolean and "
            "should not be enclosed in quotes",
        ),
    ],
)
def test_filter_type_errors(org: Org, text: str, column: int, reason: str) -> None:
    with pytest.raises(InvalidField) as raised:
        org.query(text)
    assert raised.value.message == message(text, column, reason)


def test_invalid_id(org: Org) -> None:
    text = "SELECT Id FROM Contact WHERE Id = 'ZZZ'"
    with pytest.raises(InvalidQueryFilterOperator) as raised:
        org.query(text)
    assert raised.value.message == message(text, 30, "invalid ID field: ZZZ")
    assert raised.value.error_code == "INVALID_QUERY_FILTER_OPERATOR"


def test_long_text_cannot_be_filtered_or_sorted(org: Org) -> None:
    with pytest.raises(InvalidField, match="field 'Description' can not be filtered"):
        org.query("SELECT Id FROM Account WHERE Description = 'x'")
    with pytest.raises(MalformedQuery, match="field 'Description' can not be sorted"):
        org.query("SELECT Id FROM Account ORDER BY Description")


@pytest.mark.parametrize(
    ("text", "column", "reason"),
    [
        (
            "SELECT Id FROM Account WHERE Name LIKE null",
            40,
            "unexpected token: 'null'",
        ),
        (
            "SELECT Id FROM Opportunity WHERE CloseDate = 2026-02-30",
            46,
            "Invalid date: 2026-02-30",
        ),
        (
            "SELECT Id FROM Account WHERE CreatedDate > 2020-12-12T12:12:00-25:00",
            44,
            "Invalid datetime: 2020-12-12T12:12:00-25:00",
        ),
        (
            "SELECT Id FROM Account WHERE CreatedDate = LAST_N_WIDGETS:3",
            44,
            "unexpected token: 'LAST_N_WIDGETS:3'",
        ),
        ("SELECT Id FROM Account LIMIT 1.5", 30, "unexpected token: '1.5'"),
        (r"SELECT Id FROM Account WHERE Name = 'a\qb'", 37, None),
        ("SELECT Id FROM $Account", 16, "line 1:15 unexpected token: '$'"),
        (
            "SELECT Id FROM Account WHERE Id IN :ids",
            36,
            "Bind variables only allowed in Apex code",
        ),
        (
            "SELECT COUNT(), Name FROM Account",
            8,
            "COUNT() must be the only element in the SELECT list",
        ),
    ],
)
def test_malformed(org: Org, text: str, column: int, reason: str | None) -> None:
    with pytest.raises(MalformedQuery) as raised:
        org.query(text)
    if reason is None:
        assert f"ERROR at Row:1:Column:{column}\nInvalid string literal" in (
            raised.value.message
        )
    else:
        assert_located(raised.value.message, text, column, reason)


def test_offset_above_2000(org: Org) -> None:
    with pytest.raises(NumberOutsideValidRange) as raised:
        org.query("SELECT Id FROM Account OFFSET 2001")
    assert raised.value.message == "Maximum SOQL offset allowed is 2000"
    assert raised.value.error_code == "NUMBER_OUTSIDE_VALID_RANGE"
    assert org.query("SELECT Id FROM Account OFFSET 2000") == []


def test_relationship_depth_and_nesting_limits(org: Org) -> None:
    five = "SELECT CreatedBy.CreatedBy.CreatedBy.CreatedBy.CreatedBy.Name FROM User"
    assert [user["CreatedBy"] for user in org.query(five)] == [None, None]
    with pytest.raises(MalformedQuery, match="at most 5 levels"):
        org.query(five.replace("CreatedBy.Name", "CreatedBy.CreatedBy.Name"))

    nested = "SELECT Id FROM Account WHERE " + "NOT " * 3000 + "Name = 'a'"
    with pytest.raises(QueryTooComplicated) as raised:
        org.query(nested)
    assert raised.value.error_code == "QUERY_TOO_COMPLICATED"


def test_long_in_lists(org: Org) -> None:
    values = ", ".join(f"'n{i}'" for i in range(5000))
    records = org.query(f"SELECT Name FROM Account WHERE Name IN ('ACME', {values})")
    assert names(records) == ["Acme"]
    records = org.query(f"SELECT Name FROM Account WHERE Name NOT IN ({values})")
    assert len(records) == 3


def test_long_and_or_chains_run(org: Org) -> None:
    """SQLite refuses an expression tree over 1,000 deep; the compiler balances
    long chains, so thousands of terms run as they do on the platform."""
    ors = " OR ".join(f"Name = 'n{i}'" for i in range(3000))
    records = org.query(f"SELECT Name FROM Account WHERE {ors} OR Name = 'acme'")
    assert names(records) == ["Acme"]
    ands = " AND ".join(f"Name != 'n{i}'" for i in range(3000))
    assert org.total(f"SELECT Id FROM Account WHERE {ands}") == 3


def test_query_length_limit() -> None:
    base = "SELECT Id FROM Account"
    parse_soql(base + " " * (100_000 - len(base)))
    with pytest.raises(MalformedQuery) as raised:
        parse_soql(base + " " * (100_001 - len(base)))
    message = "SOQL statements can not be longer than 100000 characters"
    assert raised.value.message == message


def test_number_literals_out_of_range(org: Org) -> None:
    # Past a double: refused with the caret at the literal.
    with pytest.raises(NumberOutsideValidRange) as raised:
        org.query("SELECT Id FROM Account WHERE AnnualRevenue > 1" + "0" * 400)
    assert "\nERROR at Row:1:Column:46\nNumber outside" in raised.value.message
    # Past SQLite's 64-bit integers but within a double: compared as a double.
    assert org.query("SELECT Id FROM Account WHERE AnnualRevenue > 1" + "0" * 300) == []
    huge = "SELECT Id FROM Account WHERE NumberOfEmployees < 99999999999999999999"
    assert org.total(huge) == 1
    for text in (
        "SELECT Id FROM Account LIMIT 2147483648",
        "SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS:" + "9" * 5000,
        "SELECT Id FROM Account WHERE CreatedDate = N_YEARS_AGO:100000",
    ):
        with pytest.raises(MalformedQuery):
            org.query(text)
    assert org.total("SELECT Id FROM Account LIMIT 2147483647") == 3


def test_surrogates_in_string_literals(org: Org) -> None:
    query = parse_soql("SELECT Id FROM Account WHERE Name = '\\ud83d\\ude00'")
    assert query.where.value.value == "\U0001f600"
    with pytest.raises(MalformedQuery, match="Unpaired surrogate"):
        parse_soql("SELECT Id FROM Account WHERE Name = '\\udc00'")


def test_sqlite_failures_are_named(org: Org) -> None:
    """A limit of SQLite's is QUERY_TOO_COMPLICATED; any other failure is a 500
    that names what failed, never a bare one."""
    compiled = org.compile("SELECT Id FROM Account")
    deep = dataclasses.replace(compiled, count_sql="SELECT " + "+".join("1" * 1200))
    with pytest.raises(QueryTooComplicated):
        count(org.conn, deep)
    broken = dataclasses.replace(compiled, count_sql="SELECT x FROM nowhere")
    with pytest.raises(UnknownException) as raised:
        count(org.conn, broken)
    assert raised.value.status == 500
    assert "could not run the SOQL query: OperationalError: no such table" in str(
        raised.value.message
    )


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_query(text: str) -> None:
    with pytest.raises(MalformedQuery) as raised:
        parse_soql(text)
    assert raised.value.message == "SOQL statements cannot be empty or null"


# --- not emulated -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "feature"),
    [
        ("SELECT Industry FROM Account GROUP BY Industry", "GROUP BY"),
        ("SELECT Industry, COUNT(Id) FROM Account GROUP BY Industry", "aggregate"),
        ("SELECT COUNT(Id) cnt FROM Account", "aggregate"),
        ("SELECT SUM(AnnualRevenue) FROM Account", "aggregate"),
        ("SELECT MAX(AnnualRevenue) FROM Account", "aggregate"),
        ("SELECT FIELDS(ALL) FROM Account LIMIT 200", "FIELDS()"),
        ("SELECT toLabel(Industry) FROM Account", "toLabel()"),
        ("SELECT Id FROM Account WHERE CALENDAR_YEAR(CreatedDate) = 2025", "function"),
        ("SELECT Id FROM Account ORDER BY CALENDAR_YEAR(CreatedDate)", "function"),
        ("SELECT TYPEOF Owner WHEN User THEN Name END FROM Account", "TYPEOF"),
        ("SELECT Id FROM Account WITH SECURITY_ENFORCED", "WITH"),
        ("SELECT Id FROM Account WHERE Name = 'a' WITH USER_MODE", "WITH"),
        ("SELECT Id FROM Account FOR UPDATE", "FOR UPDATE"),
        ("SELECT Id FROM Account LIMIT 1 FOR VIEW", "FOR VIEW"),
        ("SELECT Id FROM Account USING SCOPE mine", "USING SCOPE"),
        ("SELECT Id FROM Account UPDATE TRACKING", "UPDATE TRACKING"),
        (
            "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact)",
            "semi-joins",
        ),
        (
            "SELECT Id FROM Account WHERE Id NOT IN (SELECT AccountId FROM Contact)",
            "semi-joins",
        ),
        ("SELECT Id FROM Account WHERE Industry INCLUDES ('a')", "INCLUDES"),
        ("SELECT Id FROM Account WHERE Industry EXCLUDES ('a;b')", "EXCLUDES"),
        ("SELECT a.Name FROM Account a", "aliases"),
        ("SELECT Id FROM Account a WHERE a.Name = 'x'", "aliases"),
        ("SELECT Id FROM Opportunity WHERE CloseDate = THIS_FISCAL_YEAR", "fiscal"),
        (
            "SELECT Id FROM Opportunity WHERE CloseDate = LAST_N_FISCAL_QUARTERS:2",
            "fiscal",
        ),
        (
            "SELECT Id, (SELECT Id, (SELECT Id FROM Opportunities) FROM Contacts) "
            "FROM Account",
            "nested",
        ),
        ("SELECT Id, (SELECT COUNT() FROM Contacts) FROM Account", "COUNT()"),
    ],
)
def test_not_emulated(org: Org, text: str, feature: str) -> None:
    with pytest.raises(NotEmulated) as raised:
        org.query(text)
    assert feature in raised.value.message
    assert "is not emulated by sfsandbox" in raised.value.message
    assert raised.value.error_code == "FUNCTIONALITY_NOT_ENABLED"


# --- robustness -------------------------------------------------------------------


def test_garbage_only_raises_api_errors(org: Org) -> None:
    pieces = [
        "SELECT", "FROM", "WHERE", "Id", "Name", "Account", "Contact", "Account.Name",
        ",", "(", ")", "=", "!=", "<", "LIKE", "IN", "NOT", "AND", "OR", "'x'", "'",
        "null", "true", "12", "-3.5", "2024-01-01", "2024-01-01T00:00:00Z", "TODAY",
        "LAST_N_DAYS:3", "ORDER", "BY", "DESC", "NULLS", "LAST", "LIMIT", "OFFSET",
        "COUNT()", "GROUP", "\\", '"', "$", ":", ".", "\n", "é", "\x00", "%", "*",
    ]  # fmt: skip
    rng = random.Random(2026)
    for _ in range(3000):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        if rng.random() < 0.5:
            text = "SELECT Id FROM Account " + text
        with contextlib.suppress(SalesforceError):
            org.query(text)


@pytest.mark.parametrize("text", [None, 42, b"SELECT Id FROM Account"])
def test_non_strings_are_malformed(text: Any) -> None:
    with pytest.raises(MalformedQuery):
        parse_soql(text)


def test_parse_results_are_shared_and_immutable() -> None:
    text = "SELECT Id FROM Account WHERE Name = 'a'"
    first = parse_soql(text)

    assert parse_soql(text) is first
    assert isinstance(first.where.operand, FieldPath)
    with pytest.raises(AttributeError):
        first.sobject = "Contact"  # type: ignore[misc]
