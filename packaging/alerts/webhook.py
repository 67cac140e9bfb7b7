#!/usr/bin/env python3
"""cmcluster alert script: POST the event as JSON to the URL in ALERT_RECIPIENT, with
Python's urllib (nothing to install). In the cluster file:

  ALERT_SCRIPT /usr/local/share/cmcluster/alerts/webhook.py
    ALERT_RECIPIENT https://hooks.example.com/cluster
    ALERT_TIMEOUT 15s

The body is {"kind": ..., "node": ..., ...}: every CM_ALERT_* variable, named without
the prefix and in lower case (see the README's "Alerts"). Exits non-zero (cmcld logs
it, and does not retry) when the URL does not answer 2xx within 10 s.
"""

import json
import os
import sys
import urllib.error
import urllib.request

PREFIX = "CM_ALERT_"


def main() -> int:
    url = os.environ.get("CM_ALERT_RECIPIENT", "")
    if not url.startswith(("http://", "https://")):
        print(f"webhook.py: ALERT_RECIPIENT {url!r} is not an http(s) URL", file=sys.stderr)
        return 1
    event = {k[len(PREFIX) :].lower(): v for k, v in os.environ.items() if k.startswith(PREFIX)}
    request = urllib.request.Request(
        url,
        data=json.dumps(event, sort_keys=True).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "cmcluster-alert"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            reply.read(65536)
    except (urllib.error.URLError, OSError) as exc:
        print(f"webhook.py: POST {url}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
