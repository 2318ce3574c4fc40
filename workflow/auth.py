"""Who is asking: passwords and API tokens, stored only as salted scrypt hashes.

A token reads `rct_<lookup>_<secret>`: the lookup finds its row, the secret is checked against
the hash, so the database never holds a usable token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from states.errors import InvalidInput, RectificationError
from states.permissions import Actor
from storage.tables import CredentialRow

from .app import App

_N, _R, _P = 2**14, 8, 1  # scrypt cost: about 20 ms a check on this machine


class NotAuthenticated(RectificationError):
    """No valid credentials were given."""

    def __init__(self, why: str = "sign in with a password or an API token"):
        super().__init__(f"Not signed in: {why}")


def _hash(secret: str, salt: bytes) -> str:
    return hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32).hex()


def _check(secret: str, row: CredentialRow) -> bool:
    return hmac.compare_digest(_hash(secret, bytes.fromhex(row.salt)), row.secret_hash)


def create_token(app: App, person: str, label: str = "") -> str:
    """Make an API token for `person`; it is shown once and kept only as a hash."""
    lookup, secret = secrets.token_hex(6), secrets.token_urlsafe(24)
    salt = secrets.token_bytes(16)
    with app.uow() as uow:
        uow.people.actor(person)  # NotFound for a stranger
        uow.credentials.add(CredentialRow(person=person, kind="token", lookup=lookup, secret_hash=_hash(secret, salt),
                                          salt=salt.hex(), label=label, created_at=app.clock()))
        uow.commit()
    return f"rct_{lookup}_{secret}"


def set_password(app: App, person: str, password: str) -> None:
    """Give `person` a password (replacing any earlier one)."""
    if len(password) < 8:
        raise InvalidInput("password", "use at least 8 characters")
    salt = secrets.token_bytes(16)
    with app.uow() as uow:
        uow.people.actor(person)
        uow.credentials.revoke_passwords(person)
        uow.credentials.add(CredentialRow(person=person, kind="password", secret_hash=_hash(password, salt),
                                          salt=salt.hex(), created_at=app.clock()))
        uow.commit()


def by_token(app: App, token: str) -> Actor:
    """The person an API token belongs to, or NotAuthenticated."""
    parts = token.split("_", 2)  # the secret itself may hold "_"
    if len(parts) != 3 or parts[0] != "rct":
        raise NotAuthenticated("that is not a rectify API token")
    with app.uow() as uow:
        row = uow.credentials.token(parts[1])
        if row is None or not _check(parts[2], row):
            raise NotAuthenticated("the API token is unknown or revoked")
        actor = uow.people.actor(row.person)
        uow.credentials.touch(row, app.clock())
        uow.commit()
    return actor


def by_password(app: App, person: str, password: str) -> Actor:
    """The person, if the password is theirs; else NotAuthenticated (the same answer for every failure)."""
    with app.uow() as uow:
        row = uow.credentials.password_of(person)
        if row is None or not _check(password, row):
            raise NotAuthenticated("wrong person or password")
        actor = uow.people.actor(person)
        uow.credentials.touch(row, app.clock())
        uow.commit()
    return actor


class TokenCache:
    """Tokens checked in the last `ttl_s` seconds, by their SHA-256: a busy API client pays the scrypt
    check (and the last-used write) once a minute, not on every request. A revoked token therefore
    keeps working for up to `ttl_s` in a server that saw it."""

    def __init__(self, ttl_s: float = 60.0, size: int = 4096):
        self.ttl_s, self.size = ttl_s, size
        self._seen: dict[str, tuple[float, Actor]] = {}
        self._lock = threading.Lock()

    def actor(self, app: App, token: str) -> Actor:
        """The person the token belongs to, checked now or within the last `ttl_s`; else NotAuthenticated."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._seen.get(digest)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        actor = by_token(app, token)
        with self._lock:
            if len(self._seen) >= self.size:
                self._seen.clear()
            self._seen[digest] = (now, actor)
        return actor
