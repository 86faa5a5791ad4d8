"""``python -m sfsandbox serve``: the sandbox as a standalone process, for curl
or Postman.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from sfsandbox.sandbox import Sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sfsandbox")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the sandbox until interrupted")
    serve.add_argument("--seed", type=int, default=0, help="seed of IDs and data")
    args = parser.parse_args(argv)

    sandbox = Sandbox.start(seed=args.seed)
    org = sandbox.org
    print(
        f"""sfsandbox is running (seed {args.seed}). Stop it with Ctrl+C.

Instance URL   {org.instance_url}
CometD         {org.cometd_url}  (Streaming API: subscribe to /event/Order_Closed__e)
CA file        {sandbox.ca_file}
Client ID      {org.client_id}
Client secret  {org.client_secret}
Integration user (for SOAP login() at {org.soap_url}):
  username {org.integration_user.username}
  password {org.integration_user.password}
  security token {org.integration_user.security_token}

Get a token:
  curl --cacert {sandbox.ca_file} {org.token_url} \\
    -d grant_type=client_credentials \\
    -d client_id={org.client_id} \\
    -d client_secret={org.client_secret}

Then call the API with it:
  curl --cacert {sandbox.ca_file} {org.instance_url}{org.data_url}/sobjects/ \\
    -H "Authorization: Bearer <access_token>"

The systems around the org:
  Web form (marketing site)  {sandbox.webform.url}
  Credit bureau              {sandbox.credit_bureau.url}
                             (header X-Api-Key: {sandbox.credit_bureau.api_key})
""",
        flush=True,
    )
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    try:
        stopped.wait()
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
