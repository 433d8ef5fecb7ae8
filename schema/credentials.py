"""Tenant secrets at rest: Fernet tokens under `CREDENTIALS_KEY` (comma-separated, newest first).

The newest key encrypts; every listed key decrypts, so a key is rotated by
putting a new one in front, running `streamrelay rotate-credentials` (which
re-encrypts every stored secret with it), and then dropping the old one.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

HINT_MIN_LENGTH = 12  # shorter secrets show no hint: four characters would give too much away


class CredentialsError(Exception):
    """A secret cannot be stored or read; the message is for people and never contains the secret."""


def generate_key() -> str:
    return Fernet.generate_key().decode()


def hint(secret: str) -> str | None:
    """The last four characters, shown so that an admin can tell which key is set."""
    return secret[-4:] if len(secret) >= HINT_MIN_LENGTH else None


class Credentials:
    def __init__(self, keys: str | None) -> None:
        """ValueError (naming CREDENTIALS_KEY, never the key) when a key is malformed."""
        self.fernet: MultiFernet | None = None
        entries = [key.strip() for key in (keys or "").split(",") if key.strip()]
        if entries:
            try:
                self.fernet = MultiFernet([Fernet(key) for key in entries])
            except (ValueError, TypeError):
                raise ValueError(
                    "CREDENTIALS_KEY must be Fernet keys (32 url-safe base64-encoded bytes each), comma-separated"
                ) from None

    @property
    def configured(self) -> bool:
        return self.fernet is not None

    def _require(self) -> MultiFernet:
        if self.fernet is None:
            raise CredentialsError("CREDENTIALS_KEY is not set, so no secret can be stored or read.")
        return self.fernet

    def encrypt(self, secret: str) -> str:
        return self._require().encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._require().decrypt(token.encode()).decode()
        except InvalidToken:
            raise CredentialsError("A stored secret cannot be decrypted with CREDENTIALS_KEY.") from None

    def rotate(self, token: str) -> str:
        """The same secret, encrypted with the newest key."""
        try:
            return self._require().rotate(token.encode()).decode()
        except InvalidToken:
            raise CredentialsError("A stored secret cannot be decrypted with CREDENTIALS_KEY.") from None
