"""One HTTP attempt of a delivery: thread-safe and free of the database, so that a drain
runs many at once (``tasks.drain``) and records their outcomes itself.

The URL is checked and resolved again right before the attempt (``urls_guard``) and the
request goes to the address that was checked, with the URL's host in ``Host`` and as the
TLS server name (SNI, and the name the certificate must match): a host name re-pointed
between the check and the connection changes nothing. Redirects are not followed (a 3xx
is a failure); only 2xx is success; the answer's body is read up to
ATRIUM_WEBHOOK_RESPONSE_MAX_BYTES and its first KiB kept; an attempt takes at most
ATRIUM_WEBHOOK_TIMEOUT seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import httpx
from django.utils import timezone

from atrium.conf import atrium_settings

from . import signing
from .urls_guard import UrlRefused, resolve_target

USER_AGENT = "Atrium-Webhooks/1.0"


@dataclass(frozen=True)
class AttemptRequest:
    delivery_id: object
    endpoint_id: object
    url: str
    msg_id: str
    body: bytes
    secrets: tuple[str, ...]  # the current secret first, then one still overlapping


@dataclass(frozen=True)
class AttemptResult:
    request: AttemptRequest
    attempted_at: datetime
    succeeded: bool
    status: int | None
    duration_ms: int
    response_body: str
    error: str


def new_client() -> httpx.Client:
    concurrency = max(1, atrium_settings.WEBHOOK_TENANT_CONCURRENCY)
    return httpx.Client(
        follow_redirects=False,
        timeout=httpx.Timeout(atrium_settings.WEBHOOK_TIMEOUT),
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        trust_env=False,  # no proxy from the environment: the checked address is the peer
    )


def headers_for(request: AttemptRequest, target_host: str, timestamp: int) -> dict[str, str]:
    return {
        "Host": target_host,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        # The body is read up to a cap as it comes over the wire: no compressed answers.
        "Accept-Encoding": "identity",
        "webhook-id": request.msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.signature_header(
            list(request.secrets), msg_id=request.msg_id, timestamp=timestamp, body=request.body
        ),
    }


def attempt(client: httpx.Client, request: AttemptRequest) -> AttemptResult:
    attempted_at = timezone.now()
    started = time.monotonic()
    timeout = atrium_settings.WEBHOOK_TIMEOUT
    deadline = started + timeout
    status: int | None = None
    kept = b""
    error = ""
    try:
        target = resolve_target(request.url)
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        with client.stream(
            "POST",
            target.address_url,
            content=request.body,
            headers=headers_for(request, target.host_header, int(time.time())),
            extensions=extensions,
        ) as response:
            status = response.status_code
            read = bytearray()
            cap = atrium_settings.WEBHOOK_RESPONSE_MAX_BYTES
            for chunk in response.iter_raw():
                read.extend(chunk)
                if len(read) >= cap:
                    break
                if time.monotonic() > deadline:
                    error = f"the answer took longer than {timeout:g} s"
                    break
            kept = bytes(read[: atrium_settings.WEBHOOK_RESPONSE_KEEP_BYTES])
    except UrlRefused as exc:
        error = f"refused: {exc}"
    except httpx.TimeoutException:
        error = f"timed out after {timeout:g} s"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    except OSError as exc:  # a socket error httpx did not wrap
        error = f"{type(exc).__name__}: {exc}"[:300]
    duration_ms = int((time.monotonic() - started) * 1000)
    succeeded = status is not None and 200 <= status < 300 and not error
    if status is not None and 300 <= status < 400 and not error:
        error = "redirects are not followed"
    return AttemptResult(
        request=request,
        attempted_at=attempted_at,
        succeeded=succeeded,
        status=status,
        duration_ms=duration_ms,
        response_body=kept.decode("utf-8", errors="replace"),
        error=error[:300],
    )
