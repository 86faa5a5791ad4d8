"""The systems around the org, each a small server of its own that the sandbox starts.

- ``webform``: the marketing site's "Request a demo" form, which creates Leads in the
  org from its server side (the Remote Call-In pattern).
"""
