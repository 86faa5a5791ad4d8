"""Helpers for the course's lab notebooks: exercise checks and small widgets."""

from sfsandbox.lab.checks import Check
from sfsandbox.lab.widgets import credit_check_panel, records_frame, soql_console

__all__ = ["Check", "credit_check_panel", "records_frame", "soql_console"]
