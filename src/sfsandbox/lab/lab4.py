"""Checks for Lab 4, "Remote Call-In"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sfsandbox.lab.checks import Check
from sfsandbox.org.ids import is_valid_id


def _works(sandbox: Any, token: Any) -> bool:
    """Does ``token`` open the REST API right now?"""
    if not isinstance(token, str):
        return False
    answer = sandbox.org.http.get(
        f"{sandbox.org.data_url}/sobjects/",
        headers={"Authorization": f"Bearer {token}"},
    )
    return answer.status_code == 200


def check_get_token(get_token: Callable[[], Any], sandbox: Any) -> None:
    """Exercise 1: ``get_token()`` signs a fresh JWT assertion on every call."""
    check = Check("Exercise 1, a token from the JWT bearer flow")
    token = check.run("get_token()", get_token)
    check.expect(
        isinstance(token, str) and "!" in token,
        "get_token() returns an access token",
        f"get_token() returned {token!r}: return the access_token from the token "
        "endpoint's JSON answer.",
    )
    check.expect(
        _works(sandbox, token),
        "the token opens the REST API",
        "the org refuses that token: was the token request answered 200?",
    )
    # A token cached at definition time dies with its session; a fresh assertion
    # signed at each call still works once the session timeout has passed.
    sandbox.clock.advance(hours=3)
    later = check.run("get_token() three hours later", get_token)
    check.expect(
        _works(sandbox, later),
        "three hours later it gets a new, working token",
        "three hours later it returned a token the org refuses: sign a new assertion "
        "at every call, with exp computed from sandbox.clock.now() inside "
        "get_token().",
    )
    check.report()


def check_call(call: Callable[..., Any], sandbox: Any) -> None:
    """Exercise 2: ``call()`` logs in again once, and only when the session expired."""
    check = Check("Exercise 2, re-authenticate on 401")
    path = f"{sandbox.org.data_url}/sobjects/Lead/describe"
    auth = sandbox.org.auth

    def logins_during(*args: Any) -> tuple[Any, int]:
        before = auth.sessions_started
        answer = check.run("call('GET', ...)", call, *args)
        return answer, auth.sessions_started - before

    first, logins = logins_during("GET", path)
    check.expect(
        hasattr(first, "status_code"),
        "call() returns the httpx response",
        f"call('GET', ...) returned {first!r}: return the httpx response.",
    )
    check.expect(
        getattr(first, "status_code", None) == 200,
        "it answers 200",
        f"it answered {getattr(first, 'status_code', None)}: the session in `token` "
        "has expired. On a 401 INVALID_SESSION_ID, get a new token with get_token(), "
        "keep it in `token`, and send the request once more.",
    )
    check.expect(
        logins <= 1,
        "it logged in at most once",
        f"it logged in {logins} times for one call: retry once, not in a loop.",
    )
    _, logins = logins_during("GET", path)
    check.expect(
        logins == 0,
        "the next call reuses the new token",
        "the next call logged in again although the token still worked: keep the "
        "new token in the global `token` (declare `global token`) and reuse it.",
    )
    sandbox.clock.advance(hours=3)
    again, logins = logins_during("GET", path)
    check.expect(
        getattr(again, "status_code", None) == 200 and logins == 1,
        "after the next session expired, it logged in once and succeeded",
        "after the next session expired, call() answered "
        f"{getattr(again, 'status_code', again)} after {logins} logins.",
    )
    check.report()


def check_submit_lead(submit_lead: Callable[[dict], Any], sandbox: Any) -> None:
    """Exercise 3: ``submit_lead(form)`` is safe to repeat (an upsert)."""
    check = Check("Exercise 3, a submission that is safe to repeat")
    # A new key at every run of the check, the same on every run of the lab.
    key = "form-" + sandbox.org.ids.new("a0F")[5:15].lower()
    form = {
        "submission_id": key,
        "first_name": "Katherine",
        "last_name": "Johnson",
        "company": "Langley Research",
        "email": f"katherine.{key}@example.com",
    }
    first = check.run("submit_lead(form)", submit_lead, form)
    check.expect(
        isinstance(first, str) and is_valid_id(first),
        "submit_lead returns the Lead's ID",
        f"submit_lead returned {first!r}: return the 'id' of the answer.",
    )
    second = check.run("submit_lead(form) again", submit_lead, form)
    check.expect(
        second == first,
        "sending the same submission again returns the same Lead",
        f"the second call returned {second!r}, not {first!r}: a retry made another "
        "Lead (or failed). Upsert on External_Id__c with the submission ID.",
    )
    org = sandbox.org
    lead = org.schema.get("Lead")
    row = org.store.find(lead, first) if check.passed else None
    check.expect(
        row is not None and row.get("External_Id__c") == form["submission_id"],
        "the Lead carries the submission ID in External_Id__c",
        "the Lead's External_Id__c is not the submission ID.",
    )
    check.expect(
        row is not None and row.get("LeadSource") == "Web",
        "its LeadSource is Web",
        "set LeadSource to 'Web': marketing counts web leads by it.",
    )
    check.report()


def check_account_with_contacts(
    account_with_contacts: Callable[[str, list[dict]], Any], sandbox: Any
) -> None:
    """Exercise 4: one composite request, all or nothing."""
    check = Check("Exercise 4, an Account and its Contacts, all or nothing")
    org = sandbox.org

    def accounts_named(name: str) -> int:
        with org.store.lock:
            (n,) = org.store.conn.execute(
                'SELECT COUNT(*) FROM "Account" WHERE Name = ? AND IsDeleted = 0',
                (name,),
            ).fetchone()
        return n

    # New names at every run of the check, so an earlier failed try leaves no trace.
    run = org.ids.new("a0F")[9:15]
    good = [{"LastName": "Okafor"}, {"FirstName": "Mei", "LastName": "Lin"}]
    answer = check.run(
        "account_with_contacts", account_with_contacts, f"Harbor Check {run}", good
    )
    check.expect(
        isinstance(answer, dict) and "compositeResponse" in answer,
        "it returns the composite answer",
        f"it returned {type(answer).__name__}: return response.json() of the "
        "POST to /composite.",
    )
    results = answer.get("compositeResponse", []) if isinstance(answer, dict) else []
    check.expect(
        len(results) == 3 and all(r["httpStatusCode"] == 201 for r in results),
        "one Account and two Contacts were created",
        f"expected 3 subrequests answering 201, got "
        f"{[r.get('httpStatusCode') for r in results]}.",
    )
    if check.passed:
        account_id = results[0]["body"]["id"]
        contact = org.schema.get("Contact")
        linked = [
            org.store.find(contact, r["body"]["id"])["AccountId"] for r in results[1:]
        ]
        check.expect(
            linked == [account_id, account_id],
            "both Contacts point at the new Account (a reference, @{...}.id)",
            "the Contacts are not linked to the new Account: set AccountId to "
            "@{<the Account's referenceId>.id}.",
        )

    bad = [{"LastName": "Okafor"}, {"FirstName": "No last name"}]
    check.run("account_with_contacts with a bad Contact", account_with_contacts,
              f"Harbor Rollback {run}", bad)  # fmt: skip
    check.expect(
        accounts_named(f"Harbor Rollback {run}") == 0,
        "when one Contact fails, nothing is kept (allOrNone)",
        "a Contact failed but the Account was kept: set allOrNone to true.",
    )
    check.report()


def check_lead_intake(sandbox: Any, token: str) -> None:
    """Exercise 5: the LeadIntake Apex REST service, safe to repeat."""
    check = Check("Exercise 5, the LeadIntake service")
    org = sandbox.org
    headers = {"Authorization": f"Bearer {token}"}
    url = "/services/apexrest/LeadIntake/"
    body = {
        "submissionId": "check-intake-0001",
        "lastName": "Vaughan",
        "company": "Langley Research",
        "email": "dorothy.vaughan@example.com",
    }
    first = org.http.post(url, json=body, headers=headers)
    check.expect(
        first.status_code == 200,
        "POST /services/apexrest/LeadIntake/ answers 200",
        f"it answered {first.status_code}: {first.text[:300]}",
    )
    lead_id = first.json() if check.passed else None
    check.expect(
        isinstance(lead_id, str) and is_valid_id(lead_id),
        "it returns the new Lead's ID",
        f"it returned {lead_id!r}: return the ID that insert gives.",
    )
    again = org.http.post(url, json=body, headers=headers)
    check.expect(
        again.status_code == 200 and again.json() == lead_id,
        "the same submission again returns the same Lead",
        f"the same submission again answered {again.status_code} {again.text[:200]}: "
        "look the submission up by External_Id__c before inserting, and return "
        "the Id of the Lead found (known[0]['Id']).",
    )
    anonymous = {**body, "submissionId": "", "email": "no.id@example.com"}
    missing = org.http.post(url, json=anonymous, headers=headers)
    check.expect(
        missing.status_code == 400,
        "a submission without an ID answers 400",
        f"a submission without an ID answered {missing.status_code} "
        f"{missing.text[:200]}: check submissionId first and answer 400.",
    )
    check.report()
