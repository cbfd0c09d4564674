"""Container healthcheck of the web service: exit 0 when ``/readyz`` answers 200.

``python scripts/healthcheck.py [URL]`` (default ``http://127.0.0.1:8000/readyz``). The
image has no curl; this needs nothing but Python. ``/readyz`` answers on the platform host
(``ATRIUM_BASE_DOMAIN``), and is 503 while PostgreSQL or Redis is unreachable.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8000/readyz"


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else DEFAULT_URL
    host = os.environ.get("ATRIUM_BASE_DOMAIN", "localhost")
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status = response.status
    except urllib.error.HTTPError as error:  # 503: not ready
        status = error.code
    except OSError as error:  # refused, timed out: not serving
        print(f"healthcheck: {url}: {error}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"healthcheck: {url} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
