"""Make the sandbox's seed data: CSV files of Accounts, Contacts, Opportunities, Leads.

The output is committed (src/sfsandbox/seed/), so a sandbox starts by reading small
files rather than by generating data. Run it again and it writes the same bytes: the
data comes from a fixed seed and a pinned Faker. Record IDs are not in the files; the
sandbox gives each record an ID from its own seed when it loads them, and rows refer to
each other by a ``Ref`` column.

    python data/make_seed.py            # rewrite the files
    python data/make_seed.py --check    # exit 1 if the files differ from what it makes
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from faker import Faker

SEED = 2026
OUT = Path(__file__).resolve().parent.parent / "src" / "sfsandbox" / "seed"
COUNTS = {"Account": 600, "Contact": 2400, "Opportunity": 1200, "Lead": 800}
# Seed records were created before the sandbox clock's start (2026-01-12 09:00 UTC).
HISTORY_START = datetime(2024, 1, 1, tzinfo=UTC)
HISTORY_END = datetime(2026, 1, 9, 18, 0, tzinfo=UTC)

INDUSTRIES = [
    "Agriculture", "Banking", "Chemicals", "Communications", "Construction",
    "Consulting", "Education", "Electronics", "Energy", "Engineering",
    "Finance", "Healthcare", "Hospitality", "Insurance", "Manufacturing",
    "Media", "Retail", "Technology", "Transportation", "Utilities",
]  # fmt: skip
ACCOUNT_TYPES = [
    "Prospect",
    "Customer - Direct",
    "Customer - Channel",
    "Partner",
    "Other",
]
LEAD_SOURCES = ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"]
STAGES = {
    "Prospecting": 10, "Qualification": 10, "Needs Analysis": 20,
    "Value Proposition": 50, "Id. Decision Makers": 60, "Perception Analysis": 70,
    "Proposal/Price Quote": 75, "Negotiation/Review": 90, "Closed Won": 100,
    "Closed Lost": 0,
}  # fmt: skip
LEAD_STATUSES = [
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Not Converted",
]
TITLES = [
    "CEO", "CFO", "CIO", "VP Sales", "VP Operations", "Director of IT",
    "Procurement Manager", "Sales Manager", "Operations Analyst", "Buyer",
]  # fmt: skip


def _stamp(rng: random.Random) -> str:
    span = int((HISTORY_END - HISTORY_START).total_seconds())
    moment = HISTORY_START + timedelta(seconds=rng.randrange(span))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def make_rows() -> dict[str, list[dict[str, object]]]:
    """Every seed row, by object, from the fixed seed."""
    fake = Faker("en_US")
    fake.seed_instance(SEED)
    rng = random.Random(SEED)
    rows: dict[str, list[dict[str, object]]] = {}

    accounts = []
    for n in range(COUNTS["Account"]):
        company = fake.unique.company()
        accounts.append(
            {
                "Ref": f"A{n:04d}",
                "Name": company,
                "AccountNumber": f"CD{rng.randrange(100000, 999999)}",
                "Type": rng.choice(ACCOUNT_TYPES),
                "Industry": rng.choice(INDUSTRIES),
                "Rating": rng.choice(["Hot", "Warm", "Cold", ""]),
                "AnnualRevenue": rng.randrange(1, 5000) * 10000,
                "NumberOfEmployees": rng.randrange(5, 20000),
                "Phone": fake.numerify("(###) 555-####"),
                "Website": f"https://www.{fake.domain_name()}",
                "BillingStreet": fake.street_address(),
                "BillingCity": fake.city(),
                "BillingState": fake.state_abbr(),
                "BillingPostalCode": fake.postcode(),
                "BillingCountry": "USA",
                "Description": fake.catch_phrase(),
                "CreatedDate": _stamp(rng),
            }
        )
    rows["Account"] = accounts

    contacts = []
    for n in range(COUNTS["Contact"]):
        account = accounts[n % len(accounts)]
        first, last = fake.first_name(), fake.last_name()
        domain = str(account["Website"]).removeprefix("https://www.")
        contacts.append(
            {
                "Ref": f"C{n:04d}",
                "AccountRef": account["Ref"],
                "FirstName": first,
                "LastName": last,
                "Title": rng.choice(TITLES),
                "Email": f"{first.lower()}.{last.lower()}{n}@{domain}",
                "Phone": fake.numerify("(###) 555-####"),
                "LeadSource": rng.choice(LEAD_SOURCES),
                "MailingCity": account["BillingCity"],
                "MailingCountry": "USA",
                "CreatedDate": max(_stamp(rng), str(account["CreatedDate"])),
            }
        )
    rows["Contact"] = contacts

    opportunities = []
    for n in range(COUNTS["Opportunity"]):
        account = rng.choice(accounts)
        stage = rng.choice(list(STAGES))
        close = date(2025, 1, 1) + timedelta(days=rng.randrange(0, 540))
        opportunities.append(
            {
                "Ref": f"O{n:04d}",
                "AccountRef": account["Ref"],
                "Name": f"{account['Name']} - {fake.bs().title()}",
                "StageName": stage,
                "CloseDate": close.isoformat(),
                "Amount": rng.randrange(10, 2000) * 500,
                "Probability": STAGES[stage],
                "LeadSource": rng.choice(LEAD_SOURCES),
                "CreatedDate": max(_stamp(rng), str(account["CreatedDate"])),
            }
        )
    rows["Opportunity"] = opportunities

    leads = []
    for n in range(COUNTS["Lead"]):
        first, last = fake.first_name(), fake.last_name()
        company = fake.company()
        leads.append(
            {
                "Ref": f"L{n:04d}",
                "FirstName": first,
                "LastName": last,
                "Company": company,
                "Title": rng.choice(TITLES),
                "Email": f"{first.lower()}.{last.lower()}{n}@"
                f"{fake.free_email_domain()}",
                "Phone": fake.numerify("(###) 555-####"),
                "Status": rng.choice(LEAD_STATUSES),
                "LeadSource": rng.choice(LEAD_SOURCES),
                "Industry": rng.choice(INDUSTRIES),
                "Rating": rng.choice(["Hot", "Warm", "Cold", ""]),
                "City": fake.city(),
                "Country": "USA",
                "CreatedDate": _stamp(rng),
            }
        )
    rows["Lead"] = leads
    return rows


def render(rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()

    stale = []
    for name, rows in make_rows().items():
        path = OUT / f"{name}.csv"
        text = render(rows)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"{path.relative_to(OUT.parent.parent.parent)}: {len(rows)} rows")
    if stale:
        print("Seed files differ from what make_seed.py makes:", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
