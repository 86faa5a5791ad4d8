"""Print the course's benchmark figures for this machine.

python -m bench                 # every figure, including make test and make book
python -m bench --quick         # the sandbox's own figures only
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLD_START = """
import time
began = time.perf_counter()
from sfsandbox import Sandbox
imported = time.perf_counter()
sandbox = Sandbox.start(seed=0)
token = sandbox.org.access_token()
answer = sandbox.org.http.get(
    "/services/data/v62.0/sobjects/", headers={"Authorization": f"Bearer {token}"}
)
assert answer.status_code == 200
done = time.perf_counter()
sandbox.stop()
print(imported - began, done - imported)
"""


def cold_start(runs: int) -> tuple[list[float], list[float]]:
    """Import time and start-to-first-authenticated-answer, each in a new process."""
    imports, starts = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", COLD_START],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        imports.append(float(out[0]))
        starts.append(float(out[1]))
    return imports, starts


def soql_page(runs: int) -> list[float]:
    """Round trip of one 2,000-record SOQL page, over HTTPS on loopback."""
    from sfsandbox import Sandbox

    times = []
    with Sandbox.start(seed=0) as sandbox:
        headers = {"Authorization": f"Bearer {sandbox.org.access_token()}"}
        query = "SELECT Id, FirstName, LastName, Email, AccountId FROM Contact"
        for _ in range(runs):
            began = time.perf_counter()
            body = sandbox.org.http.get(
                "/services/data/v62.0/query", params={"q": query}, headers=headers
            ).json()
            times.append(time.perf_counter() - began)
            assert len(body["records"]) == 2000
    return times


def leads_one_by_one_vs_collections(leads: int) -> tuple[float, float]:
    """Wall time to create ``leads`` Leads one request each, then 200 per request
    through sObject Collections, over HTTPS on loopback (one sandbox, one client)."""
    from sfsandbox import Sandbox

    api = "/services/data/v62.0"
    with Sandbox.start(seed=0) as sandbox:
        org = sandbox.org
        org.limits.daily_api_requests = 10 * leads + 1000  # not the limit being timed
        headers = {"Authorization": f"Bearer {org.access_token()}"}

        def lead(i: int) -> dict[str, str]:
            return {"LastName": f"Bench {i}", "Company": "Bench Co",
                    "Email": f"bench.{i}@example.org"}  # fmt: skip

        began = time.perf_counter()
        for i in range(leads):
            answer = org.http.post(
                f"{api}/sobjects/Lead", json=lead(i), headers=headers
            )
            assert answer.status_code == 201, answer.text
        single = time.perf_counter() - began

        began = time.perf_counter()
        for start in range(leads, 2 * leads, 200):
            records = [
                {"attributes": {"type": "Lead"}, **lead(i)}
                for i in range(start, min(start + 200, 2 * leads))
            ]
            answer = org.http.post(
                f"{api}/composite/sobjects", json={"records": records}, headers=headers
            )
            assert all(r["success"] for r in answer.json()), answer.text
        batched = time.perf_counter() - began
    return single, batched


def wall_time(command: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - began


def show(label: str, seconds: list[float] | float, goal: str = "") -> None:
    if isinstance(seconds, list):
        text = (
            f"median {statistics.median(seconds) * 1000:8.1f} ms  "
            f"(min {min(seconds) * 1000:.1f}, max {max(seconds) * 1000:.1f}, "
            f"n={len(seconds)})"
        )
    else:
        text = f"{seconds:8.1f} s"
    print(f"{label:<48} {text}  {goal}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="skip make test and book")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--leads", type=int, default=10_000)
    args = parser.parse_args()

    print(
        f"Python {platform.python_version()} on {platform.machine()}, {platform.node()}"
    )
    imports, starts = cold_start(args.runs)
    show("import sfsandbox (new process)", imports)
    show("start to first authenticated answer", starts, "goal < 500 ms")
    show("SOQL page of 2,000 records, round trip", soql_page(args.runs * 3))
    single, batched = leads_one_by_one_vs_collections(args.leads)
    show(f"{args.leads:,} Leads: one request each", single)
    show(f"{args.leads:,} Leads: collections of 200", batched,
         f"ratio {single / batched:.1f}x")  # fmt: skip
    if not args.quick:
        show("make test (wall)", wall_time(["make", "test"]))
        show("make book, nothing changed (wall)", wall_time(["make", "book"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
