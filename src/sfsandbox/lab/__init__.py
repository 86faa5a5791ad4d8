"""Helpers for the course's lab notebooks: exercise checks and small widgets."""

from sfsandbox.lab.checks import Check
from sfsandbox.lab.widgets import records_frame, soql_console

__all__ = ["Check", "records_frame", "soql_console"]
