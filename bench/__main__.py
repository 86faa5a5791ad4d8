"""Print the course's benchmark figures for this machine.

python -m bench                 # every figure, including make test and make book
python -m bench --quick         # the sandbox's own figures only
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
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


def bulk_child(rows: int) -> dict[str, float]:
    """Bulk API 2.0 against a bare read of the same file, in this process.

    ``rows`` Contacts are written to a CSV; the API figure runs from creating the
    ingest job to seeing JobComplete by polling, as a client does (upload streamed
    over HTTPS, close, poll every 0.1 s). The bare reads are pandas.read_csv and a
    DuckDB table made from read_csv. Then a query job exports every Contact,
    paged 100,000 at a time, from creating the job to the last page.
    """
    import csv
    import resource
    import tempfile

    import duckdb
    import pandas

    from sfsandbox import Sandbox

    folder = Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    path = folder / "contacts.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["FirstName", "LastName", "Email", "Phone", "Title"])
        writer.writerows(
            [
                f"First{i}",
                f"Last {i}",
                f"person.{i}@example.org",
                f"+1 415 555 {i % 10_000:04d}",
                "Buyer",
            ]  # fmt: skip
            for i in range(rows)
        )
    figures: dict[str, float] = {"megabytes": path.stat().st_size / 1e6}
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    jobs = "/services/data/v62.0/jobs"
    with Sandbox.start(seed=0) as sandbox:
        org = sandbox.org
        http = org.http
        headers = {"Authorization": f"Bearer {org.access_token()}"}

        def until_complete(url: str) -> dict:
            while True:
                info = http.get(url, headers=headers).json()
                if info["state"] in {"JobComplete", "Failed", "Aborted"}:
                    return info
                time.sleep(0.1)

        began = time.perf_counter()
        job = http.post(
            f"{jobs}/ingest",
            json={"object": "Contact", "operation": "insert"},
            headers=headers,
        ).json()
        with path.open("rb") as data:
            answer = http.put(
                f"{jobs}/ingest/{job['id']}/batches",
                content=data,
                headers={**headers, "Content-Type": "text/csv"},
                timeout=600,
            )
        assert answer.status_code == 201, answer.text
        figures["upload"] = time.perf_counter() - began
        http.patch(
            f"{jobs}/ingest/{job['id']}",
            json={"state": "UploadComplete"},
            headers=headers,
        )
        info = until_complete(f"{jobs}/ingest/{job['id']}")
        figures["ingest"] = time.perf_counter() - began
        assert info["numberRecordsProcessed"] == rows, info
        assert info["numberRecordsFailed"] == 0, info
        figures["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        figures["rss_before"] = base

        began = time.perf_counter()
        query = http.post(
            f"{jobs}/query",
            json={
                "operation": "query",
                "query": "SELECT Id, FirstName, LastName, Email, Phone, Title "
                "FROM Contact",
            },
            headers=headers,
        ).json()
        until_complete(f"{jobs}/query/{query['id']}")
        exported, locator = 0, ""
        while locator != "null":
            params = {
                "maxRecords": 100_000,
                **({"locator": locator} if locator else {}),
            }
            with http.stream(
                "GET",
                f"{jobs}/query/{query['id']}/results",
                params=params,
                headers=headers,
                timeout=600,
            ) as page:
                for _ in page.iter_bytes():
                    pass
                exported += int(page.headers["Sforce-NumberOfRecords"])
                locator = page.headers["Sforce-Locator"]
        figures["export"] = time.perf_counter() - began
        figures["exported"] = exported

    began = time.perf_counter()
    frame = pandas.read_csv(path)
    figures["pandas"] = time.perf_counter() - began
    assert len(frame) == rows
    del frame
    began = time.perf_counter()
    with duckdb.connect() as con:
        con.execute(f"CREATE TABLE contacts AS SELECT * FROM read_csv('{path}')")
        assert con.execute("SELECT count(*) FROM contacts").fetchone()[0] == rows
    figures["duckdb"] = time.perf_counter() - began
    shutil.rmtree(folder, ignore_errors=True)
    return figures


def bulk_vs_bare_read(rows: int) -> dict[str, float]:
    """``bulk_child`` in a fresh process, so its memory figure is its own."""
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--bulk-child", str(rows)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def events_over_cometd(burst: int, paced: int, rate: float) -> dict[str, float]:
    """Platform Events through the bus and out over CometD, on loopback.

    A real CometD client (aiocometd_ng, in a thread with its own event loop)
    subscribes with -1. Then: ``burst`` events published as fast as the org takes
    them (in process, as ``EventBus.publish`` does), timed until the last one is
    received; ``burst`` more published through the REST API, one request each; and
    ``paced`` events at ``rate`` per second, each timed from its publish to its
    receipt (a backlog would measure the queue, not the bus).
    """
    import asyncio
    import ssl
    import threading

    import aiocometd_ng

    from sfsandbox import Sandbox
    from sfsandbox.runtime.cometd_client import OAuthHeader, ReplayExtension

    event, channel = "Order_Closed__e", "/event/Order_Closed__e"
    total = 2 * burst + paced
    received: dict[int, float] = {}
    subscribed = threading.Event()

    with Sandbox.start(seed=0) as sandbox:
        org, bus = sandbox.org, sandbox.org.events
        bus.hourly_publish_limit = bus.daily_delivery_limit = 2 * total
        org.limits.daily_api_requests = 2 * total  # not the limit being timed
        context = ssl.create_default_context(cafile=sandbox.ca_file)

        async def listen() -> None:
            async with aiocometd_ng.Client(
                org.cometd_url,
                ssl=context,
                auth=OAuthHeader(org.access_token),
                extensions=[ReplayExtension({channel: -1})],
            ) as client:
                await client.subscribe(channel)
                subscribed.set()
                while len(received) < total:
                    message = await client.receive()
                    received[message["data"]["event"]["replayId"]] = time.perf_counter()

        def run() -> None:
            loop = asyncio.new_event_loop()
            # The client reports its cancelled long poll at close: not a figure.
            loop.set_exception_handler(lambda _loop, _context: None)
            loop.run_until_complete(listen())
            loop.close()

        listener = threading.Thread(target=run, daemon=True)
        listener.start()
        if not subscribed.wait(30):
            raise RuntimeError("the CometD client did not subscribe")

        def wait_for(count: int) -> None:
            deadline = time.monotonic() + 300
            while len(received) < count and time.monotonic() < deadline:
                time.sleep(0.001)

        began = time.perf_counter()
        for i in range(burst):
            bus.publish(event, {"Order_Number__c": f"B-{i}", "Amount__c": 100.0})
        published = time.perf_counter() - began
        wait_for(burst)
        delivered = max(received.values()) - began

        headers = {"Authorization": f"Bearer {org.access_token()}"}
        url = f"{org.data_url}/sobjects/{event}/"
        began = time.perf_counter()
        for i in range(burst):
            org.http.post(url, json={"Order_Number__c": f"R-{i}"}, headers=headers)
        rest = time.perf_counter() - began
        wait_for(2 * burst)

        sent: dict[int, float] = {}
        for i in range(paced):
            at = time.perf_counter()
            sent[bus.publish(event, {"Order_Number__c": f"P-{i}"}).replay_id] = at
            time.sleep(max(0.0, at + 1 / rate - time.perf_counter()))
        wait_for(total)
        listener.join(30)
    latencies = sorted(received[r] - at for r, at in sent.items() if r in received)
    percentiles = statistics.quantiles(latencies, n=100)
    return {
        "published_per_s": burst / published,
        "delivered_per_s": burst / delivered,
        "rest_per_s": burst / rest,
        "p50": percentiles[49],
        "p99": percentiles[98],
        "lost": total - len(received),
    }


def wall_time(command: list[str]) -> float:
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        # A figure for a failed run means nothing; show why it failed instead.
        raise SystemExit(
            f"{' '.join(command)} failed (exit {done.returncode}):\n"
            f"{done.stdout[-4000:]}{done.stderr[-2000:]}"
        )
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
    parser.add_argument("--bulk-rows", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--bulk-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bulk_child:
        print(json.dumps(bulk_child(args.bulk_child)))
        return 0

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
    events = events_over_cometd(args.events, args.events // 5, rate=200)
    print(
        f"{'Platform Events, in process, to CometD':<48} "
        f"{events['published_per_s']:8,.0f} published/s, "
        f"{events['delivered_per_s']:,.0f} delivered/s ({args.events:,} events)"
    )
    print(
        f"{'  published through REST, one request each':<48} "
        f"{events['rest_per_s']:8,.0f} published/s"
    )
    print(
        f"{'  publish to CometD delivery, 200 events/s':<48} "
        f"p50 {events['p50'] * 1000:6.1f} ms, p99 {events['p99'] * 1000:.1f} ms  "
        f"({events['lost']:.0f} of {2 * args.events + args.events // 5:,} lost)"
    )
    bulk = bulk_vs_bare_read(args.bulk_rows)
    rows = args.bulk_rows
    show(f"{rows:,} Contacts ({bulk['megabytes']:.0f} MB CSV): pandas.read_csv",
         bulk["pandas"])  # fmt: skip
    show("  the same file: DuckDB read_csv into a table", bulk["duckdb"])
    ratio = bulk["ingest"] / bulk["pandas"]
    versus_duckdb = bulk["ingest"] / bulk["duckdb"]
    show("  the same file: Bulk API 2.0 ingest job", bulk["ingest"],
         f"{rows / bulk['ingest']:,.0f} rows/s; ratio {ratio:.1f}x pandas, "
         f"{versus_duckdb:.1f}x DuckDB (goal < 5x)")  # fmt: skip
    show("    of which the upload (streamed, HTTPS)", bulk["upload"])
    print(f"{'    peak memory of the ingest process':<48} {bulk['rss']:8.0f} MB  "
          f"({bulk['rss_before']:.0f} MB before the sandbox started)")  # fmt: skip
    show(f"Bulk query job export of {bulk['exported']:,.0f} records", bulk["export"],
         f"{bulk['exported'] / bulk['export']:,.0f} rows/s")  # fmt: skip
    if not args.quick:
        show("make test (wall)", wall_time(["make", "test"]))
        show("make book, nothing changed (wall)", wall_time(["make", "book"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
