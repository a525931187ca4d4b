"""Passwords (scrypt KDF with its parameters stored) and tokens."""
import hashlib

import pytest

from web.auth import PasswordFormatError, PasswordHasher, new_token, parse, same_token, token_digest

FAST = PasswordHasher(n=2 ** 4, r=8, p=1)


def test_hash_verifies_only_the_right_password():
    stored = FAST.hash("正确的密码 horse battery")
    assert FAST.verify("正确的密码 horse battery", stored)
    assert not FAST.verify("正确的密码 horse batterY", stored)
    assert not FAST.verify("", stored)


def test_parameters_and_salt_are_stored_with_the_hash():
    a, b = FAST.hash("same password"), FAST.hash("same password")
    assert a != b                                  # a fresh salt each time
    n, r, p, salt, key = parse(a)
    assert (n, r, p, len(salt), len(key)) == (16, 8, 1, 16, 32)
    assert a.startswith("scrypt$16$8$1$")
    # the stored key really is scrypt of the password with that salt
    assert key == hashlib.scrypt(b"same password", salt=salt, n=16, r=8, p=1, dklen=32)


def test_old_hashes_still_verify_and_ask_for_rehash():
    old = FAST.hash("a password")
    stronger = PasswordHasher(n=2 ** 6, r=8, p=1)
    assert stronger.verify("a password", old)
    assert stronger.needs_rehash(old)
    assert not FAST.needs_rehash(old)
    assert not stronger.needs_rehash(stronger.hash("a password"))


def test_default_cost_is_a_slow_kdf():
    h = PasswordHasher()
    assert h.n >= 2 ** 15 and h.r >= 8 and h.n * h.r * h.p >= 2 ** 17 * 8 // 2


@pytest.mark.parametrize("stored", ["", "plain", "bcrypt$1$2$3$abc$def", "scrypt$x$8$1$abc$def",
                                    "scrypt$16$8$1$$", "scrypt$16$8$1$abc"])
def test_malformed_hashes_are_refused(stored):
    with pytest.raises(PasswordFormatError):
        FAST.verify("anything", stored)


def test_cost_must_be_a_power_of_two():
    with pytest.raises(ValueError):
        PasswordHasher(n=1000)


def test_tokens_are_random_urlsafe_and_stored_as_digests():
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    t = next(iter(tokens))
    assert len(t) >= 43 and all(c.isalnum() or c in "-_" for c in t)
    assert token_digest(t) == hashlib.sha256(t.encode()).hexdigest()
    assert token_digest(t) != t and len({token_digest(x) for x in tokens}) == 200
    assert same_token(t, t) and not same_token(t, t[:-1] + ("A" if t[-1] != "A" else "B"))
