"""SOQL for the sandbox: parse a query, compile it to SQLite, run it a page at a time.

    query = parse_soql("SELECT Name, Account.Name FROM Contact WHERE Name LIKE 'a%'")
    compiled = compile_query(query, schema, clock.now())
    total = count(conn, compiled)
    records = run_page(conn, compiled, offset=0, limit=2000, version="62.0")

Emulated: SELECT lists of fields and parent relationship paths (``Account.Owner.Name``),
one level of child subqueries (``(SELECT LastName FROM Contacts)``), ``COUNT()``, WHERE
with ``= != <> < <= > >=``, ``LIKE``, ``IN``, ``NOT IN``, ``AND``, ``OR``, ``NOT`` and
parentheses, string, number, boolean, null, date, dateTime and relative date literals
(TODAY, LAST_N_DAYS:n, THIS_MONTH, ... but not the fiscal ones), ORDER BY with ASC,
DESC, NULLS FIRST and NULLS LAST, LIMIT and OFFSET. Comparisons and sorting of text are
case-insensitive; picklists sort in the order their values are defined.

Not emulated: each of these is valid SOQL and raises ``NotEmulated`` naming it, so the
book's "What the sandbox does not emulate" page can list them:

- GROUP BY (and ROLLUP, CUBE) and HAVING
- aggregate functions other than a bare COUNT(): COUNT(field), COUNT_DISTINCT, SUM, AVG,
  MIN, MAX
- every other function: FIELDS(), toLabel(), convertCurrency(), FORMAT(), date functions
  such as CALENDAR_YEAR(), DISTANCE(), GEOLOCATION()
- TYPEOF
- WITH clauses (SECURITY_ENFORCED, USER_MODE, DATA CATEGORY)
- USING SCOPE
- FOR VIEW, FOR REFERENCE, FOR UPDATE; UPDATE TRACKING, UPDATE VIEWSTAT
- semi-joins and anti-joins (``IN`` / ``NOT IN`` with a subquery)
- INCLUDES and EXCLUDES (multi-select picklists)
- object aliases (``FROM Account a``)
- fiscal date literals (THIS_FISCAL_YEAR, LAST_N_FISCAL_QUARTERS:n, ...)
- child subqueries nested more than one level, and COUNT() inside one
"""

from sfsandbox.org.soql.ast import Query
from sfsandbox.org.soql.compiler import CompiledQuery, compile_query, count, run_page
from sfsandbox.org.soql.parser import parse_soql

__all__ = [
    "CompiledQuery",
    "Query",
    "compile_query",
    "count",
    "parse_soql",
    "run_page",
]
