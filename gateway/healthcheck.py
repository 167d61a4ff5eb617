"""``python -m gateway.healthcheck [PATH]``: exit 0 when the local gateway answers 200.

For a container's ``HEALTHCHECK`` and for exec probes of a gateway bound to the pod's
loopback (a sidecar), where an HTTP probe from the kubelet cannot reach it. The port
is ``GATEWAY_PORT`` (default 8080); the path defaults to ``/healthz``.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

from gateway.config.settings import DEFAULT_PORT


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    path = args[0] if args else "/healthz"
    port = os.environ.get("GATEWAY_PORT") or str(DEFAULT_PORT)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
