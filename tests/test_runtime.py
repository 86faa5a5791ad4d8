"""The sandbox's runtime: start, stop, ports, TLS, the clock, IDs."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import requests

from sfsandbox import Sandbox
from sfsandbox.org.ids import IdFactory, case_safe_suffix, is_valid_id, to_18
from sfsandbox.runtime.clock import SimulatedClock


def test_start_answers_on_loopback_https_and_stop_frees_the_port() -> None:
    sandbox = Sandbox.start(seed=0)
    url = sandbox.org.instance_url
    assert url.startswith("https://127.0.0.1:")
    port = int(url.rsplit(":", 1)[1])

    response = httpx.get(
        f"{url}/services/data/",
        verify=ssl.create_default_context(cafile=sandbox.ca_file),
        trust_env=False,
    )
    assert response.status_code == 200

    sandbox.stop()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # raises if the port were still held


def test_two_sandboxes_at_once_do_not_collide() -> None:
    with Sandbox.start(seed=0) as first, Sandbox.start(seed=0) as second:
        assert first.org.instance_url != second.org.instance_url
        assert first.ca_file != second.ca_file
        for sandbox in (first, second):
            token = sandbox.org.access_token()
            answer = sandbox.org.http.get(
                "/services/data/v62.0/sobjects/",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 200
        # A token of one org means nothing to the other... unless seeds match: both
        # orgs were seeded alike, so the same token is valid in each, as two full
        # copies of one org would be.


def test_two_sandboxes_in_two_processes_do_not_collide(tmp_path) -> None:
    script = (
        "from sfsandbox import Sandbox\n"
        "import time\n"
        "s = Sandbox.start(seed=0)\n"
        "print(s.org.instance_url, flush=True)\n"
        "time.sleep(2)\n"
        "s.stop()\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    urls = [p.stdout.readline().strip() for p in procs]
    for p in procs:
        assert p.wait(timeout=30) == 0
    assert len(set(urls)) == 2, urls


def test_certificate_is_trusted_only_through_the_sandbox_ca(sandbox: Sandbox) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{sandbox.org.instance_url}/services/data/", trust_env=False)

    context = ssl.create_default_context(cafile=sandbox.ca_file)
    response = httpx.get(f"{sandbox.org.instance_url}/services/data/", verify=context)
    assert response.status_code == 200


def test_requests_session_trusts_the_ca_despite_requests_ca_bundle(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    # As on many company laptops: the environment names another bundle.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")

    plain = requests.Session()
    plain.verify = sandbox.ca_file
    with pytest.raises(requests.exceptions.SSLError):
        plain.get(f"{sandbox.org.instance_url}/services/data/")

    session = sandbox.org.requests_session()
    assert session.get(f"{sandbox.org.instance_url}/services/data/").status_code == 200
    assert sandbox.org.http.get("/services/data/").status_code == 200


def test_start_is_quick() -> None:
    # Goal and figures live in bench/; this only guards against a gross regression.
    began = time.perf_counter()
    with Sandbox.start(seed=1):
        pass
    assert time.perf_counter() - began < 10


def test_standalone_server_prints_how_to_connect() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sfsandbox", "serve", "--seed", "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        while not any(line.startswith("Then call the API") for line in lines):
            line = process.stdout.readline()
            assert line, "the server exited before printing its instructions"
            lines.append(line)
        text = "".join(lines)
        url = next(x.split()[-1] for x in lines if x.startswith("Instance URL"))
        ca = next(x.split()[-1] for x in lines if x.startswith("CA file"))
        assert "grant_type=client_credentials" in text
        assert (
            httpx.get(
                f"{url}/services/data/", verify=ssl.create_default_context(cafile=ca)
            ).status_code
            == 200
        )
    finally:
        process.terminate()
        assert process.wait(timeout=15) == 0


def test_clock_moves_only_when_advanced() -> None:
    clock = SimulatedClock()
    first = clock.now()
    time.sleep(0.01)
    assert clock.now() == first
    assert clock.advance(hours=24) == first + timedelta(hours=24)
    with pytest.raises(ValueError):
        clock.advance(hours=-1)
    with pytest.raises(ValueError):
        SimulatedClock(datetime(2026, 1, 1))  # naive: no time zone
    assert (
        SimulatedClock(datetime(2026, 1, 1, tzinfo=UTC)).timestamp_ms() == 1767225600000
    )


def test_ids_are_valid_deterministic_and_distinct_per_seed() -> None:
    assert to_18("001D000000IqhSL") == "001D000000IqhSLIAZ"  # documented example
    assert case_safe_suffix("a0B5000000MyZ8Y") == to_18("a0B5000000MyZ8Y")[15:]
    first, again, other = IdFactory(0), IdFactory(0), IdFactory(1)
    ids = [first.new("001") for _ in range(1000)]
    assert ids == [again.new("001") for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(len(i) == 18 and i.startswith("001") and is_valid_id(i) for i in ids)
    assert other.new("001") not in ids
    assert not is_valid_id(ids[0][:15] + "AAA")
    assert not is_valid_id("001")


def test_same_seed_gives_the_same_org() -> None:
    with Sandbox.start(seed=5) as a, Sandbox.start(seed=5) as b:
        assert a.org.org_id == b.org.org_id
        assert a.org.client_id == b.org.client_id
        assert a.org.access_token() == b.org.access_token()
    with Sandbox.start(seed=6) as c:
        assert c.org.org_id != a.org.org_id
