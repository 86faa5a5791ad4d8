"""The systems around the org, each a small server of its own that the sandbox starts.

- ``webform``: the marketing site's "Request a demo" form, which creates Leads in the
  org from its server side (the Remote Call-In pattern).
- ``credit_bureau``: the credit bureau the org calls out to (Request and Reply): REST
  credit checks, SOAP address verification (``address_verification``), faults on
  demand and a wiretap.
- ``warehouse``: the data warehouse (DuckDB) that orders are copied to (Batch Data
  Synchronization); ``nightly``: its 02:00 sync; ``orders``: a seeded day of orders.
"""
