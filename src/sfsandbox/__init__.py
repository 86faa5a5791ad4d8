"""sfsandbox: a local, offline stand-in for a Salesforce org and its neighbours."""

from sfsandbox.sandbox import Sandbox

__all__ = ["Sandbox"]
__version__ = "0.1.0"
