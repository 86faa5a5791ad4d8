"""Shared fixtures: a sandbox per test module, a token, and an authorised client."""

from __future__ import annotations

import os
import shutil
import ssl
from collections.abc import Iterator

import httpx
import pytest

from sfsandbox import Sandbox

API = "/services/data/v62.0"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox.start(seed=0) as running:
        yield running


@pytest.fixture(scope="module")
def token(sandbox: Sandbox) -> str:
    return sandbox.org.access_token()


@pytest.fixture(scope="module")
def api(sandbox: Sandbox, token: str) -> Iterator[httpx.Client]:
    """An httpx client for the org with the bearer token set."""
    with httpx.Client(
        base_url=sandbox.org.instance_url,
        verify=ssl.create_default_context(cafile=sandbox.ca_file),
        trust_env=False,
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client


CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def unavailable(reason: str) -> None:
    """Skip, or fail under CI, where a missing prerequisite is a broken pipeline."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's headless Chromium, driven by Playwright (never its own download)."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        unavailable("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield chromium
        finally:
            chromium.close()
