"""The server secret and the keys derived from it (credentials encryption, API key hashing, JWTs).

One 32-byte secret per installation: ``WORKBENCH_SECRET_KEY`` (base64) or, for the embedded default,
a file ``secret.key`` created once in ``WORKBENCH_HOME`` with owner-only permissions. Each use gets its
own key through HKDF, so no key serves two purposes.
"""

from __future__ import annotations

import base64
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from workbench.config import Settings
from workbench.errors import ConfigError

SECRET_FILE = "secret.key"


def _derive(secret: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(secret)


def _read_or_create(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(base64.urlsafe_b64encode(os.urandom(32)))
    raw = path.read_bytes().strip()
    if not raw:  # another process is between create and write
        raise ConfigError(f"secret key file {path} is empty; delete it to generate a new one")
    return base64.urlsafe_b64decode(raw)


@dataclass(frozen=True, slots=True)
class Keys:
    """Purpose-specific keys."""

    credentials: bytes
    """Fernet key material for the credentials vault."""
    api_keys: bytes
    """HMAC key for hashing API keys and one-time tokens."""
    jwt: bytes
    """HS256 signing key of access tokens."""

    def cipher(self, purpose: str) -> Fernet:
        """A Fernet cipher of its own for ``purpose`` (``"workbench trigger secrets v1"``), its key
        derived by HKDF from the vault's: it depends on ``WORKBENCH_SECRET_KEY`` the same way."""
        derived = _derive(base64.urlsafe_b64decode(self.credentials), purpose)
        return Fernet(base64.urlsafe_b64encode(derived))

    @classmethod
    def load(cls, settings: Settings) -> Keys:
        """From ``WORKBENCH_SECRET_KEY`` or the file in the data folder (created on first use)."""
        env = os.environ.get("WORKBENCH_SECRET_KEY")
        if env:
            try:
                secret = base64.urlsafe_b64decode(env + "=" * (-len(env) % 4))
            except ValueError as exc:
                raise ConfigError("WORKBENCH_SECRET_KEY must be base64 (32 random bytes)") from exc
            if len(secret) < 32:
                raise ConfigError("WORKBENCH_SECRET_KEY must decode to at least 32 bytes")
        else:
            secret = _read_or_create(settings.home / SECRET_FILE)
        return cls(
            credentials=base64.urlsafe_b64encode(_derive(secret, "workbench credentials v1")),
            api_keys=_derive(secret, "workbench api keys v1"),
            jwt=_derive(secret, "workbench jwt v1"),
        )
