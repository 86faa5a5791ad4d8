"""A day of orders: Closed Won Opportunities to load into the org, seeded.

The same seed and day give the same rows on every run. A few rows are broken on
purpose, the way real extracts from an order system are, so that loads fail per row:

- ``blank-name``: the org refuses it (``Name`` is required);
- ``bad-amount``: the org refuses it (``1.234,50`` is not a number);
- ``bad-date``: the org refuses it (there is no 31 February);
- ``negative-amount``: the org takes it, the warehouse refuses it (an order's amount
  is never below zero there), so reconciliation finds it.

Besides, ``unassigned`` orders come from the web shop without an Account: valid, but a
rule that wants an Account on every numbered order refuses them later.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from datetime import date

from faker import Faker

PRODUCTS = (
    "Pallet Racking", "Forklift Service Plan", "Cold Storage Units", "Conveyor Belts",
    "Barcode Scanners", "Loading Dock Seals", "Safety Barriers", "Shelving Kits",
    "Packing Stations", "Dock Levellers", "Warehouse Software Licences",
    "Stretch Wrappers",
)  # fmt: skip
BREAKAGES = ("blank-name", "bad-amount", "bad-date", "negative-amount")
COLUMNS = ("Name", "AccountId", "StageName", "CloseDate", "Amount", "LeadSource")


@dataclass
class DayOfOrders:
    """The rows of one day's orders, as CSV-ready text values, and which are broken."""

    day: date
    rows: list[dict[str, str]]
    broken: dict[int, str]  # row index: the breakage
    unassigned: list[int] = field(default_factory=list)  # rows without an Account

    def csv(self) -> str:
        """The rows as a Bulk API 2.0 CSV (comma, LF)."""
        out = io.StringIO()
        writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue()

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return (
            f"<DayOfOrders {self.day} {len(self.rows)} orders, "
            f"{len(self.broken)} broken>"
        )


def day_of_orders(
    account_ids: list[str],
    day: date,
    count: int = 200,
    broken: int = 4,
    seed: int = 0,
    unassigned: int = 0,
) -> DayOfOrders:
    """``count`` Closed Won orders closing on ``day``, of which ``broken`` are broken
    and ``unassigned`` others have no Account.

    Amounts follow a log-normal spread (most orders a few thousand, a few large
    ones), rounded to cents. ``account_ids`` are the Accounts the orders belong to.
    """
    if not account_ids:
        raise ValueError("day_of_orders needs at least one Account Id")
    if not 0 <= broken <= count:
        raise ValueError(f"broken must be between 0 and count ({count}); got {broken}")
    rng = random.Random(f"{seed}-{day.isoformat()}")
    fake = Faker("en_US")
    fake.seed_instance(rng.randrange(2**32))
    rows = []
    for _ in range(count):
        amount = min(rng.lognormvariate(8.8, 1.0), 2_000_000)
        rows.append(
            {
                "Name": f"{fake.company()} - {rng.choice(PRODUCTS)}",
                "AccountId": rng.choice(account_ids),
                "StageName": "Closed Won",
                "CloseDate": day.isoformat(),
                "Amount": f"{amount:.2f}",
                "LeadSource": rng.choice(("Web", "Phone Inquiry", "Partner Referral")),
            }
        )
    if broken + unassigned > count:
        raise ValueError(f"broken + unassigned must be at most count ({count})")
    spots = rng.sample(range(count), broken + unassigned)
    marks = {}
    for number, index in enumerate(sorted(spots[:broken])):
        kind = BREAKAGES[number % len(BREAKAGES)]
        _break(rows[index], kind, day)
        marks[index] = kind
    for index in spots[broken:]:
        rows[index]["AccountId"] = ""
    return DayOfOrders(day, rows, marks, sorted(spots[broken:]))


def _break(row: dict[str, str], kind: str, day: date) -> None:
    if kind == "blank-name":
        row["Name"] = ""
    elif kind == "bad-amount":
        whole, cents = row["Amount"].split(".")
        row["Amount"] = f"{int(whole):,}".replace(",", ".") + "," + cents
        if "." not in row["Amount"]:
            row["Amount"] = "1.234," + cents
    elif kind == "bad-date":
        row["CloseDate"] = f"{day.year}-02-31"
    elif kind == "negative-amount":
        row["Amount"] = "-" + row["Amount"]
