"""The Run Credit Check panel explains every failure and stays usable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sfsandbox import Sandbox
from sfsandbox.apex import JSON, ExternalCredential, Http, HttpRequest
from sfsandbox.lab import credit_check_panel


@pytest.fixture(scope="module")
def bureau_sandbox() -> Iterator[Sandbox]:
    with Sandbox.start(seed=0) as sandbox:
        bureau = sandbox.credit_bureau
        sandbox.org.external_credentials.add(
            ExternalCredential.custom(
                "CreditBureauAuth",
                parameters={"ApiKey": bureau.api_key},
                headers={"X-Api-Key": "{!$Credential.CreditBureauAuth.ApiKey}"},
            )
        )
        sandbox.org.named_credentials.new(
            "CreditBureau", bureau.url, "CreditBureauAuth"
        )
        yield sandbox


def checker(
    endpoint: str = "callout:CreditBureau/v1/credit-checks", timeout: int = 5000
):
    def run_check(account: dict[str, Any]) -> Any:
        req = HttpRequest()
        req.setEndpoint(endpoint)
        req.setMethod("POST")
        req.setHeader("Content-Type", "application/json")
        req.setTimeout(timeout)
        req.setBody(JSON.serialize({"companyName": account["Name"], "country": "US"}))
        return JSON.deserializeUntyped(Http().send(req).getBody())

    return run_check


def account_id(sandbox: Sandbox) -> str:
    with sandbox.org.store.lock:
        return sandbox.org.store.conn.execute(
            "SELECT Id FROM \"Account\" WHERE Name = 'Flores PLC'"
        ).fetchone()[0]


FAULTS: list[tuple[str, Callable[[Any], None], dict[str, Any], str]] = [
    ("timeout", lambda b: b.timeout_next(), {}, "did not answer in time"),
    ("server error", lambda b: b.fail_next(1, status=500), {}, "could not run"),
    ("rate limited", lambda b: b.rate_limit(retry_after=2), {}, "429"),
    ("down (503)", lambda b: b.down(), {}, "could not run"),
    ("down (refused)", lambda b: b.down(mode="refuse"), {}, "cannot be reached"),
    ("truncated body", lambda b: b.malformed_next(kind="truncated"), {}, "JSON"),
    ("HTML body", lambda b: b.malformed_next(kind="html"), {}, "JSON"),
    ("unknown host", lambda b: None,
     {"endpoint": "https://bureau.invalid/v1/credit-checks"}, "Unauthorized endpoint"),
    ("timeout 0", lambda b: None, {"timeout": 0}, "Timeout value must be between"),
    ("timeout over 120 s", lambda b: None, {"timeout": 120_001},
     "Timeout value must be between"),
]  # fmt: skip


@pytest.mark.parametrize(
    "name, fault, options, words", FAULTS, ids=[f[0] for f in FAULTS]
)
def test_panel_explains_each_failure_and_recovers(
    bureau_sandbox: Sandbox,
    name: str,
    fault: Callable[[Any], None],
    options: dict[str, Any],
    words: str,
) -> None:
    bureau = bureau_sandbox.credit_bureau
    bureau.reset()
    fault(bureau)
    try:
        panel = credit_check_panel(
            bureau_sandbox.org, account_id(bureau_sandbox), checker(**options)
        )
    finally:
        bureau.up()
        bureau.reset()
    header, controls, result = panel.children
    button, progress = controls.children
    assert words in result.value, result.value
    assert "Score" not in result.value
    assert progress.bar_style == "danger"
    assert not button.disabled

    if not options:  # the same panel works again once the bureau is healthy
        button.click()
        assert "Score <b>" in result.value, result.value
        assert progress.bar_style == "success"
