"""Checks for Lab 0, "Meet your sandbox"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sfsandbox.lab.checks import Check
from sfsandbox.org.ids import is_valid_id


def check_fetch_all(fetch_all: Callable[[str], Any], sandbox: Any) -> None:
    """Exercise 1: ``fetch_all(soql)`` follows ``nextRecordsUrl`` to the last page."""
    check = Check("Exercise 1, fetch every page")
    org = sandbox.org
    expected = org.store.count(org.schema.get("Contact"))

    answer = check.run("fetch_all", fetch_all, "SELECT Id, LastName FROM Contact")
    records = answer if isinstance(answer, list) else []
    check.expect(
        isinstance(answer, list),
        "fetch_all returns a list",
        f"fetch_all returned {type(answer).__name__}, not a list of records: "
        "return the records you collected.",
    )
    check.expect(
        len(records) != 2000 or expected == 2000,
        "it went past the first page",
        f"it returned 2,000 of {expected:,} Contacts: that is the first page only. "
        "While 'done' is false, GET the 'nextRecordsUrl' and add its records.",
    )
    check.expect(
        len(records) == expected,
        f"it returned all {expected:,} Contacts",
        f"it returned {len(records):,} records where the org has {expected:,} "
        "Contacts.",
    )
    ids = [r.get("Id") for r in records if isinstance(r, dict)]
    check.expect(
        len(set(ids)) == expected,
        "no record came twice",
        f"{expected - len(set(ids)):,} records are missing or repeated: "
        "each page must be fetched once, in order.",
    )
    check.report()


def check_new_contact(contact_id: Any, sandbox: Any) -> None:
    """Exercise 2: a Contact named Grace Hopper on the Account 'Flores PLC'."""
    check = Check("Exercise 2, create a Contact on an Account")
    org = sandbox.org
    contact_type = org.schema.get("Contact")
    check.expect(
        isinstance(contact_id, str) and is_valid_id(contact_id),
        "new_contact_id is a Salesforce ID",
        f"new_contact_id is {contact_id!r}: keep the 'id' from the create response.",
    )
    check.expect(
        str(contact_id).startswith(contact_type.key_prefix),
        "it is a Contact's ID (key prefix 003)",
        f"{contact_id} starts with {str(contact_id)[:3]}, not 003: not a Contact.",
    )
    row = org.store.find(contact_type, str(contact_id)) if check.passed else None
    check.expect(
        row is not None,
        "the Contact is in the org",
        "no Contact has that ID (was it deleted?).",
    )
    if row is None:
        check.report()
        return
    check.expect(
        (row["FirstName"], row["LastName"]) == ("Grace", "Hopper"),
        "its name is Grace Hopper",
        f"its name is {row['FirstName']} {row['LastName']}: FirstName 'Grace', "
        "LastName 'Hopper'.",
    )
    account = None
    if row["AccountId"]:
        account = org.store.find(org.schema.get("Account"), row["AccountId"])
    check.expect(
        account is not None and account["Name"] == "Flores PLC",
        "it belongs to the Account Flores PLC",
        "its AccountId is empty: set AccountId to the Id that SOQL gives for "
        "Flores PLC."
        if account is None
        else f"its Account is {account['Name']}, not Flores PLC.",
    )
    check.report()


def check_raise_for_salesforce(
    raise_for_salesforce: Callable[[Any], Any], error_class: type, sandbox: Any
) -> None:
    """Exercise 3: turn the platform's error array into an exception."""
    check = Check("Exercise 3, read a Salesforce error")
    org = sandbox.org
    headers = {"Authorization": f"Bearer {org.access_token()}"}
    good = org.http.get(f"{org.data_url}/sobjects/", headers=headers)
    bad = org.http.get(
        f"{org.data_url}/query", params={"q": "SELECT Nme FROM Lead"}, headers=headers
    )
    expired = org.http.get(f"{org.data_url}/sobjects/")

    result = check.run("raise_for_salesforce on a 200", raise_for_salesforce, good)
    check.expect(
        isinstance(result, dict) and "sobjects" in result,
        "a 200 answer returns its JSON body",
        f"for a 200 answer it returned {type(result).__name__}: "
        "return response.json().",
    )
    for response, code in ((bad, "INVALID_FIELD"), (expired, "INVALID_SESSION_ID")):
        if check.failed:
            break
        try:
            raise_for_salesforce(response)
        except error_class as error:
            check.expect(
                getattr(error, "error_code", None) == code
                and getattr(error, "status", None) == response.status_code,
                f"a {response.status_code} raises SalesforceError with {code}",
                f"for a {response.status_code} the error has error_code "
                f"{getattr(error, 'error_code', None)!r} and status "
                f"{getattr(error, 'status', None)!r}; expected {code!r} and "
                f"{response.status_code}. The code is in "
                "response.json()[0]['errorCode'].",
            )
            check.expect(
                str(error) == response.json()[0]["message"],
                "its message is the platform's message",
                "str(error) should be the platform's message, "
                "response.json()[0]['message'].",
            )
        except Exception as error:
            check.expect(
                False,
                "",
                f"for a {response.status_code} it raised {type(error).__name__} "
                f"({error}), not SalesforceError.",
            )
        else:
            check.expect(
                False, "", f"for a {response.status_code} answer it raised nothing."
            )
    check.report()
