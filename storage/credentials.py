"""Sign-in secrets: rows of the credential table, looked up by person or token prefix."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from .tables import CredentialRow


class CredentialRepository:
    """Passwords and API tokens (hashes only)."""

    def __init__(self, session: Session):
        self.session = session

    def add(self, row: CredentialRow) -> None:
        """Store a new credential."""
        self.session.add(row)

    def password_of(self, person: str) -> CredentialRow | None:
        """The person's current password, if set."""
        return self.session.exec(select(CredentialRow).where(
            CredentialRow.person == person, CredentialRow.kind == "password",
            col(CredentialRow.revoked).is_(False))).first()

    def token(self, lookup: str) -> CredentialRow | None:
        """The live token with this public prefix."""
        return self.session.exec(select(CredentialRow).where(
            CredentialRow.kind == "token", CredentialRow.lookup == lookup,
            col(CredentialRow.revoked).is_(False))).first()

    def of(self, person: str) -> Sequence[CredentialRow]:
        """A person's credentials, oldest first."""
        return self.session.exec(select(CredentialRow).where(CredentialRow.person == person)
                                 .order_by(col(CredentialRow.id))).all()

    def revoke_passwords(self, person: str) -> None:
        """Retire the person's earlier passwords (a new one replaces them)."""
        for row in self.session.exec(select(CredentialRow).where(
                CredentialRow.person == person, CredentialRow.kind == "password")).all():
            row.revoked = True
            self.session.add(row)

    def touch(self, row: CredentialRow, at: datetime) -> None:
        """Note when a credential was last used."""
        row.last_used_at = at
        self.session.add(row)
