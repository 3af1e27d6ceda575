"""The pre-dial check (issue 23, SPEC 9): ask the account's own system before each call.

The dialer POSTs the call (ids, attempt, numbers, variables) as JSON to the campaign's
`predial.url`, signed like the webhooks (`X-Campaignflow-Signature`, `dialer.signing`)
with the account's pre-dial secret, and dials only on `{"dial": true}`. An answer
`{"dial": false, "reason": "..."}` makes the call `skipped`, hang-up cause
`predial:<reason>`. A check that fails (timeout, a status other than 200, a redirect,
an answer over 16 KiB or not such a JSON object, a refused connection, an address that
is not public (`dialer.targets`: private, link-local, ...; loopback is allowed), no secret
for the account) follows the campaign's `on_error`: `skip` reports the call `skipped` with
cause `predial_error:<what>`, `dial` dials it anyway.

Each check runs in the call's own task (`dialer.placer`), so checks overlap; the whole
check, answer included, is bounded by `timeout_ms`; redirects are not followed.

Secrets: one file per account, `<dir>/<account_id>.key` (mode 0600), written by
`campaignflow accounts predial-secret ACCOUNT`; read again when the file changes.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import re
import secrets as token
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from campaigns.models import ACCOUNT_ID, predial_url_refusal
from dialer import metrics
from dialer.calls import Call, Outcome, now_ms
from dialer.exceptions import PredialFailed
from dialer.signing import SIGNATURE_HEADER, check_secret, sign
from dialer.targets import guarded_socket_factory

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 16 * 1024
MAX_REASON_CHARS = 48
MAX_URLS_KEPT = 10_000
SECRET_RECHECK_S = 1.0  # a secret file is looked at again at most this often
_REASON_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Verdict:
    """What a check decided: dial, or not with the outcome's hang-up cause."""

    dial: bool
    cause: str | None = None  # predial:<reason> or predial_error:<what> when not dialling

    def outcome(self) -> Outcome:
        """The `skipped` outcome of a call not dialled (SPEC 9)."""
        return Outcome("skipped", ended_at=now_ms(), hangup_cause=self.cause)


def reason_text(value: Any) -> str:
    """A refusal's reason fit for a hang-up cause: safe characters, at most 48."""
    text = value if isinstance(value, str) else ""
    cleaned = _REASON_UNSAFE.sub("_", text.strip())[:MAX_REASON_CHARS].strip("_")
    return cleaned or "refused"


def secret_path(directory: Path, account_id: str) -> Path:
    if not ACCOUNT_ID.match(account_id):
        raise ValueError(f"not an account id: {account_id[:80]!r}")
    return directory / f"{account_id}.key"


def create_secret(directory: Path, account_id: str, replace: bool = False) -> str:
    """Write a new random secret for the account (mode 0600) and return it; refuses to
    overwrite one unless `replace` (a rotation: the account's server must follow)."""
    path = secret_path(directory, account_id)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists() and not replace:
        raise FileExistsError(f"{path} exists; rotate it with --replace")
    value = token.token_hex(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(value + "\n")
    os.replace(tmp, path)
    return value


class PredialSecrets:
    """The accounts' pre-dial secrets, read from their files (again when a file changes)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._cache: dict[str, tuple[float, str]] = {}  # account -> (mtime, secret)
        self._fresh: dict[str, tuple[float, str]] = {}  # account -> (looked at, secret)

    def get(self, account_id: str) -> str | None:
        """The account's secret; None when there is no usable one (logged)."""
        fresh = self._fresh.get(account_id)
        now = time.monotonic()
        if fresh is not None and now - fresh[0] < SECRET_RECHECK_S:
            return fresh[1]
        value = self._read(account_id)
        if value is not None:
            self._fresh[account_id] = (now, value)
        return value

    def _read(self, account_id: str) -> str | None:
        if self.directory is None:
            return None
        try:
            path = secret_path(self.directory, account_id)
            mtime = path.stat().st_mtime
        except (OSError, ValueError):
            return None
        cached = self._cache.get(account_id)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        try:
            value = path.read_text(encoding="utf-8").strip()
            check_secret(value, str(path))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            log.warning("pre-dial secret of account %s unusable: %s", account_id, exc)
            return None
        self._cache[account_id] = (mtime, value)
        return value


def check_body(call: Call) -> bytes:
    """What the check is asked about: the call, as JSON."""
    return json.dumps(
        {
            "call_id": call.call_id,
            "campaign_id": call.campaign_id,
            "account_id": call.account_id,
            "contact_id": call.contact_id,
            "attempt": call.attempt,
            "to": call.to,
            "from": call.from_,
            "variables": call.variables,
        },
        separators=(",", ":"),
    ).encode("utf-8")


def read_verdict(status: int, body: bytes) -> Verdict:
    """The verdict of an answer; PredialFailed for one that is not `{"dial": bool, ...}`."""
    if 300 <= status < 400:
        raise PredialFailed("redirect")
    if status != 200:
        raise PredialFailed(f"http_{status}")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PredialFailed("bad_json") from None
    if not isinstance(data, dict) or not isinstance(data.get("dial"), bool):
        raise PredialFailed("bad_answer")
    if data["dial"]:
        return Verdict(True)
    return Verdict(False, f"predial:{reason_text(data.get('reason'))}")


async def capped_body(resp: aiohttp.ClientResponse) -> bytes:
    """The answer's bytes; PredialFailed past MAX_ANSWER_BYTES (not read further)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise PredialFailed("too_large")
        chunks.append(chunk)
    return b"".join(chunks)


class PredialChecker:
    """Runs the checks of one dialer over one HTTP session (no connection limit of its
    own: the dialer's concurrency bounds the checks in flight)."""

    def __init__(self, secrets: PredialSecrets) -> None:
        self.secrets = secrets
        self._session: aiohttp.ClientSession | None = None
        self._good_urls: set[str] = set()  # checked once (most calls share a few URLs)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # Only public addresses (and loopback, which `predial.url` allows over http):
            # an account's URL must not reach the platform's own network (dialer.targets).
            connector = aiohttp.TCPConnector(
                limit=0, ttl_dns_cache=60, socket_factory=guarded_socket_factory(True)
            )
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def verdict(self, call: Call) -> Verdict:
        """Ask the call's check; a failure follows its `on_error` (never raises)."""
        spec = call.predial
        if spec is None:
            return Verdict(True)
        try:
            verdict = await self._ask(call, spec.url, spec.timeout_ms / 1000)
            metrics.PREDIAL.labels("dial" if verdict.dial else "refused").inc()
            return verdict
        except asyncio.CancelledError:
            raise
        except PredialFailed as exc:
            what = str(exc)
        except TimeoutError:
            what = "timeout"
        except aiohttp.ClientConnectorError as exc:
            refused = exc.os_error.errno == errno.EACCES  # dialer.targets refused the address
            what = "refused_address" if refused else "unreachable"
        except aiohttp.ClientConnectionError:
            what = "unreachable"
        except Exception as exc:  # anything else (aiohttp, TLS, a bug) never stalls a call
            what = type(exc).__name__
        log.warning(
            "pre-dial check of %s failed (%s): %s",
            call.call_id,
            what,
            "dialling anyway" if spec.on_error == "dial" else "not dialled",
        )
        if spec.on_error == "dial":
            metrics.PREDIAL.labels("error_dialled").inc()
            return Verdict(True)
        metrics.PREDIAL.labels("error_skipped").inc()
        return Verdict(False, f"predial_error:{what}")

    async def _ask(self, call: Call, url: str, timeout_s: float) -> Verdict:
        if url not in self._good_urls:
            if predial_url_refusal(url) is not None:
                raise PredialFailed("bad_url")
            if len(self._good_urls) < MAX_URLS_KEPT:
                self._good_urls.add(url)
        secret = self.secrets.get(call.account_id)
        if secret is None:
            raise PredialFailed("no_secret")
        body = check_body(call)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, body, int(time.time())),
        }
        async with asyncio.timeout(timeout_s):  # connect, send and the whole answer
            async with self._client().post(
                url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                if resp.status != 200:
                    return read_verdict(resp.status, b"")
                return read_verdict(200, await capped_body(resp))
