"""Shared fixtures: a sandbox per test module, a token, and an authorised client."""

from __future__ import annotations

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
