"""Who may use the sink's query endpoint: the bearer token in a 0600 file, loopback names only.

The endpoint listens on 127.0.0.1, but any local process, and a web page through DNS
rebinding (a name of the attacker's that resolves to 127.0.0.1), can reach a loopback
port. So a query needs the token of the state directory's `sink.token` (readable by
its owner only; the sink creates it at first start and refuses to start when others
may read it), and a request whose Host or Origin is not a loopback name with the
endpoint's port is refused before anything else is looked at.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

from sinks.exceptions import TokenFileError
from topics.loopback import host_allowed

TOKEN_FILE = "sink.token"
TOKEN_BYTES = 32  # of randomness; the file holds it URL-safe base64 encoded


def token_path(home: Path) -> Path:
    return home / TOKEN_FILE


def _check_mode(path: Path) -> None:
    info = path.lstat()
    if not stat.S_ISREG(info.st_mode):
        raise TokenFileError(f"{path} is not a regular file")
    if info.st_mode & 0o077:
        raise TokenFileError(
            f"{path} may be read by group or others (mode {stat.S_IMODE(info.st_mode):04o});"
            f" run `chmod 600 {path}` (or delete it: the sink writes a new token at start)"
        )


def read_token(path: Path) -> str:
    """The token in `path`; raises TokenFileError naming the file and what is wrong."""
    try:
        _check_mode(path)
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise TokenFileError(
            f"no token file {path}: `campaignflow sink` writes it at start"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenFileError(f"cannot read the token file {path}: {exc}") from None
    if len(token) < 32:
        raise TokenFileError(f"the token file {path} holds no token (delete it to get a new one)")
    return token


def ensure_token(path: Path) -> str:
    """The token of `path`, written first (mode 0600, new random token) when there is none."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            pass  # another sink wrote it meanwhile: read that one
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(secrets.token_urlsafe(TOKEN_BYTES) + "\n")
    return read_token(path)


def bearer_ok(authorization: str | None, token: str) -> bool:
    """Whether an Authorization header carries `token` (compared in constant time)."""
    if not authorization:
        return False
    scheme, _, given = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))


def loopback_host(host: str | None, port: int) -> bool:
    """Whether a Host header names this endpoint by a loopback name (with its port)."""
    return host_allowed(host, port)


def loopback_origin(origin: str | None, port: int) -> bool:
    """Whether an Origin header (absent: not a browser's cross-site request) is this endpoint."""
    if origin is None:
        return True
    scheme, sep, rest = origin.strip().lower().partition("://")
    return bool(sep) and scheme == "http" and loopback_host(rest, port)
