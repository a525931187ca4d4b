"""Passwords and tokens: a slow KDF (scrypt, standard library) and random tokens.

A stored password is `scrypt$<n>$<r>$<p>$<salt>$<hash>` (salt and hash in
unpadded base64url), so the cost parameters travel with each hash: raising
them later leaves old hashes verifiable, and `needs_rehash` tells the login
code to upgrade a hash while it has the clear password in hand.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

SCHEME = "scrypt"


class PasswordFormatError(ValueError):
    """A stored hash that this module cannot read."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class PasswordHasher:
    """scrypt with cost n (a power of two), block size r, parallelism p.

    The default (n=2**15, r=8, p=3, 32 MiB) is one of OWASP's recommended
    scrypt settings; tests pass a cheap hasher.
    """

    n: int = 2 ** 15
    r: int = 8
    p: int = 3
    salt_bytes: int = 16
    key_bytes: int = 32

    def __post_init__(self) -> None:
        if self.n < 2 or self.n & (self.n - 1):
            raise ValueError("scrypt n must be a power of two >= 2")

    def hash(self, password: str) -> str:
        salt = secrets.token_bytes(self.salt_bytes)
        key = _derive(password, salt, self.n, self.r, self.p, self.key_bytes)
        return f"{SCHEME}${self.n}${self.r}${self.p}${_b64(salt)}${_b64(key)}"

    def verify(self, password: str, stored: str) -> bool:
        """True when `password` matches; constant-time comparison of the keys."""
        n, r, p, salt, key = parse(stored)
        return hmac.compare_digest(_derive(password, salt, n, r, p, len(key)), key)

    def needs_rehash(self, stored: str) -> bool:
        n, r, p, _salt, key = parse(stored)
        return (n, r, p, len(key)) != (self.n, self.r, self.p, self.key_bytes)

    def dummy_verify(self, password: str) -> None:
        """Spend the same time as a real check (unknown users must not answer faster)."""
        _derive(password, b"\0" * self.salt_bytes, self.n, self.r, self.p, self.key_bytes)


def parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise PasswordFormatError("not an scrypt password hash")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, key = _unb64(parts[4]), _unb64(parts[5])
    except ValueError as exc:
        raise PasswordFormatError(str(exc)) from exc
    if n < 2 or r < 1 or p < 1 or not key or not salt:
        raise PasswordFormatError("bad scrypt parameters")
    return n, r, p, salt, key


def _derive(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    # scrypt needs 128*n*r bytes; allow that plus headroom (default cap is 32 MiB).
    maxmem = 128 * n * r * 2 + 1024 * 1024
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=length)


def new_token(nbytes: int = 32) -> str:
    """A random URL-safe token (session ids, CSRF tokens)."""
    return secrets.token_urlsafe(nbytes)


def token_digest(token: str) -> str:
    """What is stored for a session id: a Redis dump then holds no live cookie."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_token(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
