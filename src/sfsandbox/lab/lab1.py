"""Checks for Lab 1, "Request and Reply"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sfsandbox.apex import CalloutException
from sfsandbox.lab.checks import Check


def _new_requests(bureau: Any, since: int) -> list[Any]:
    return list(bureau.log)[since:]


def check_credit_check(credit_check: Callable[[dict], Any], sandbox: Any) -> None:
    """Exercise 1: ``credit_check(account)`` calls the bureau and returns its check."""
    check = Check("Exercise 1, call the credit bureau")
    bureau, org = sandbox.credit_bureau, sandbox.org
    account = {"Name": "Flores PLC", "BillingCountry": "USA"}
    seen = len(bureau.log)

    def run() -> Any:
        with org.apex.transaction():
            return credit_check(account)

    result = check.run("credit_check(account)", run)
    sent = _new_requests(bureau, seen)
    check.expect(
        len(sent) == 1 and sent[0].path == "/v1/credit-checks",
        "it sent one POST to /v1/credit-checks",
        f"the bureau saw {len(sent)} requests "
        f"{[e.path for e in sent]}: send one POST to "
        "callout:CreditBureau/v1/credit-checks.",
    )
    check.expect(
        sent[0].status == 200,
        "the bureau accepted it (200)",
        f"the bureau answered {sent[0].status if sent else None}: "
        f"{sent[0].response_body[:160] if sent else ''} ... Send JSON (Content-Type: "
        "application/json) with companyName and a two-letter country code (USA is "
        "US).",
    )
    check.expect(
        isinstance(result, dict) and isinstance(result.get("score"), int),
        "it returns the check as a dict, with its score",
        f"it returned {result!r}: return JSON.deserializeUntyped(res.getBody()).",
    )
    check.report()


def check_with_retry(
    credit_check_with_retry: Callable[[dict], Any], sandbox: Any
) -> None:
    """Exercise 2: retries 500s and 429s with backoff, once per check, idempotently."""
    check = Check("Exercise 2, retry with backoff")
    bureau, org = sandbox.credit_bureau, sandbox.org
    account = {"Name": "Tidewater Freight", "BillingCountry": "USA"}
    bureau.reset()
    bureau.fail_next(2, status=500)
    seen, checks_before = len(bureau.log), len(bureau.checks)
    started = sandbox.clock.now()

    def run() -> Any:
        with org.apex.transaction():
            return credit_check_with_retry(account)

    result = check.run("credit_check_with_retry(account)", run)
    sent = _new_requests(bureau, seen)
    check.expect(
        isinstance(result, dict) and "score" in result,
        "after two 500s it returned the check",
        f"after two 500s it returned {result!r}: retry on 5xx answers.",
    )
    check.expect(
        len(sent) == 3,
        "it sent exactly three requests (two failed, one succeeded)",
        f"it sent {len(sent)} requests: stop retrying once an answer succeeds.",
    )
    waited = (sandbox.clock.now() - started).total_seconds()
    check.expect(
        waited >= 1,
        f"it waited between tries ({waited:.1f} simulated seconds)",
        "it retried at once: wait between tries (tenacity's wait_exponential), "
        "with sleep advancing sandbox.clock.",
    )
    keys = {e.idempotency_key for e in sent}
    check.expect(
        len(keys) == 1 and None not in keys,
        "every try carried the same Idempotency-Key",
        "the tries did not share one Idempotency-Key header: make the key once, "
        "before the first try.",
    )
    bureau.reset()
    bureau.timeout_next()
    seen = len(bureau.log)
    again = check.run("credit_check_with_retry after a timeout", run)
    sent = _new_requests(bureau, seen)
    check.expect(
        isinstance(again, dict) and len(bureau.checks) == checks_before + 2,
        "after a timeout the retry reused the check the bureau had made",
        f"after a timeout it returned {again!r} and the bureau holds "
        f"{len(bureau.checks) - checks_before} new checks: retry on "
        "CalloutException too, with the same Idempotency-Key.",
    )
    check.expect(
        any(e.replayed for e in sent),
        "the bureau replayed it (Idempotent-Replayed)",
        "the bureau made a second check: send the same Idempotency-Key on the retry.",
    )
    bureau.reset()
    check.report()


def check_rate_account(rate_account: Callable[[str], Any], sandbox: Any) -> None:
    """Exercise 3: the callout comes before the DML in one transaction."""
    check = Check("Exercise 3, call out before you write")
    org = sandbox.org
    account_type = org.schema.get("Account")
    with org.store.lock:
        (account_id,) = org.store.conn.execute(
            "SELECT Id FROM \"Account\" WHERE Name = 'Flores PLC'"
        ).fetchone()

    # Start from no rating, so only this run of rate_account can set one.
    with org.store.transaction():
        org.store.update(account_type, account_id, {"Rating": None})

    def run() -> Any:
        with org.apex.transaction():
            return rate_account(account_id)

    try:
        run()
    except CalloutException as error:
        check.expect(
            False,
            "",
            f"CalloutException: {error}. Make the callout first, then update the "
            "Account.",
        )
    except Exception as error:
        check.expect(False, "", f"rate_account raised {type(error).__name__}: {error}")
    row = org.store.find(account_type, account_id)
    check.expect(
        row is not None and row["Rating"] in {"Hot", "Warm", "Cold"},
        f"the Account's Rating is now {row['Rating'] if row else None}",
        "the Account's Rating was not set.",
    )
    check.report()
