"""Who is chatting: the automatic local user, or password users stored in Redis.

Why scrypt from hashlib: it is memory-hard, in the standard library, and needs no extra
dependency. Hashes are self-describing (``scrypt$n$r$p$salt$hash``) so parameters can be
raised later without breaking old accounts. Failed logins are throttled per user name.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import time
from typing import Any

from wellness.store import keys

log = logging.getLogger(__name__)

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
MAX_FAILURES = 5
LOCKOUT_S = 300
MIN_PASSWORD = 8
LOCAL_PROVIDER = "local"


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """A salted scrypt hash string for ``password``."""
    salt = os.urandom(16)
    dk = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32,
                        maxmem=128 * n * r * 2)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(dk)}"


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of ``password`` against a :func:`hash_password` string."""
    try:
        algo, n_s, r_s, p_s, salt_s, dk_s = encoded.split("$")
        if algo != "scrypt":
            return False
        n, r, p = int(n_s), int(r_s), int(p_s)
        salt, expected = base64.b64decode(salt_s), base64.b64decode(dk_s)
    except (ValueError, TypeError):
        return False
    dk = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                        dklen=len(expected), maxmem=128 * n * r * 2)
    return hmac.compare_digest(dk, expected)


def valid_username(name: str) -> bool:
    """User names double as data-scoping ids, so they follow the key-safe id rule."""
    try:
        keys.require_user(name)
    except ValueError:
        return False
    return True


# -- user management (sync: used by the CLI) -----------------------------------------------
def add_user(r: Any, username: str, password: str) -> None:
    if not valid_username(username):
        raise ValueError("user names may use letters, digits and . _ @ - (up to 128)")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"passwords need at least {MIN_PASSWORD} characters")
    r.hset(keys.cl_password(username), mapping={"hash": hash_password(password),
                                                "created": str(int(time.time()))})


def remove_user(r: Any, username: str) -> bool:
    return bool(r.delete(keys.cl_password(username), keys.cl_login_attempts(username)))


def list_users(r: Any) -> list[str]:
    prefix = keys.cl_password("")
    names = []
    for k in r.scan_iter(match=prefix + "*", count=500):
        k = k.decode() if isinstance(k, bytes) else k
        names.append(k[len(prefix):])
    return sorted(names)


# -- login (async: used by the Chainlit callback) ------------------------------------------
async def check_login(r: Any, username: str, password: str) -> bool:
    """True when the password matches; throttled after repeated failures (fails closed)."""
    if not valid_username(username) or not password:
        return False
    attempts_key = keys.cl_login_attempts(username)
    failures = int(await r.get(attempts_key) or 0)
    if failures >= MAX_FAILURES:
        log.warning("login throttled for a user after repeated failures")
        return False
    encoded = await r.hget(keys.cl_password(username), "hash")
    if isinstance(encoded, bytes):
        encoded = encoded.decode()
    import asyncio
    ok = bool(encoded) and await asyncio.to_thread(verify_password, password, encoded)
    if ok:
        await r.delete(attempts_key)
        return True
    pipe = r.pipeline()
    pipe.incr(attempts_key)
    pipe.expire(attempts_key, LOCKOUT_S)
    await pipe.execute()
    return False
