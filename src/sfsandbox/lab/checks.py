"""Exercise checks: each says what passed, or what is wrong and why.

A check never raises for a learner's mistake; it prints a verdict. Its output is plain
text, so it reads the same in JupyterLab, on the static site and in nbval's comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Check:
    """The verdict of one exercise, built from expectations in order.

    The first failed expectation stops the check: later ones usually depend on it, and
    one clear reason helps more than a list of consequences.
    """

    def __init__(self, exercise: str) -> None:
        self.exercise = exercise
        self.lines: list[str] = []
        self.failed = False

    def expect(self, ok: bool, passed: str, failed: str) -> bool:
        """Record one expectation; True if it held and no earlier one failed."""
        if self.failed:
            return False
        if ok:
            self.lines.append(f"  ✔ {passed}")
        else:
            self.lines.append(f"  ✘ {failed}")
            self.failed = True
        return ok

    def run(self, label: str, function: Callable[..., Any], *args: Any) -> Any:
        """Call the learner's function; an exception becomes a failed expectation."""
        if self.failed:
            return None
        try:
            return function(*args)
        except Exception as error:  # the learner's code: report, never raise
            self.expect(False, "", f"{label} raised {type(error).__name__}: {error}")
            return None

    @property
    def passed(self) -> bool:
        return not self.failed

    def report(self) -> None:
        """Print the verdict. Checks print rather than return, so a check cell shows
        the same output whether or not its last line is an expression."""
        verdict = "passed" if self.passed else "not yet"
        print(f"{self.exercise}: {verdict}")
        print("\n".join(self.lines))

    def __repr__(self) -> str:
        return f"<Check {self.exercise!r} {'passed' if self.passed else 'not yet'}>"
