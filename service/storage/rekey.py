"""Re-sealing everything under a new master key or algorithm (``suixin keys rotate-master``), and
the data directory's own development key.

Everything sealed at rest — authorities' account keys, issuer keys, credential documents — is
opened with the key ring (the new key and the old one) and sealed again under the new key, a
chunk per transaction; credentials' blind indexes, derived from the master key, are recomputed
from their documents on the way. A value already sealed as the new key seals (its header names
that key and algorithm) is skipped, so a rotation that stopped is finished by running it again.
The same run moves values between AES-256-GCM and SM4-GCM when ``SUIXIN_SEALING`` changed,
under the same master key or a new one. Nothing is logged but
counts.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update

from service.storage.columns import subject_key
from service.storage.db import Database
from service.storage.models import Authority, Credential, IssuerKey
from service.storage.sealing import KeyRing, MasterKey

__all__ = ["DEV_KEY_FILE", "Rekeyed", "development_key", "needs_rekey", "rekey"]

DEV_KEY_FILE = "master.key"
_CHUNK = 500


@dataclass
class Rekeyed:
    """How many sealed values a rotation re-sealed."""

    account_keys: int = 0
    issuer_keys: int = 0
    documents: int = 0


def development_key(data_dir: Path) -> tuple[str, bool]:
    """The data directory's own master key for development (``master.key``, mode 0600), made
    at random on first use; returns it and whether it was made now."""
    path = data_dir / DEV_KEY_FILE
    try:
        return path.read_text(encoding="utf-8").strip(), False
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process of the office made it first
        return path.read_text(encoding="utf-8").strip(), False
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secret + "\n")
    return secret, True


def needs_rekey(db: Database, key: MasterKey) -> bool:
    """Whether anything in ``db`` is sealed under another key than ``key``."""
    with db.session() as s:
        for sealed in s.scalars(select(Authority.account_key_encrypted).limit(50)):
            if not key.sealed_here(bytes(sealed)):
                return True
        for sealed in s.scalars(select(IssuerKey.private_key_encrypted).limit(50)):
            if not key.sealed_here(bytes(sealed)):
                return True
        body = s.scalar(select(Credential.body).limit(1))
        return body is not None and not key.sealed_here(bytes(body))


def rekey(
    db: Database, ring: KeyRing, *, progress: Callable[[Rekeyed], None] | None = None
) -> Rekeyed:
    """Seal every sealed value of ``db`` under ``ring``'s current key (the ring opens what the
    previous keys sealed); returns the counts. Raises KeyStoreError for a value no key of the
    ring opens (nothing after it in its chunk is written)."""
    done = Rekeyed()
    with db.session() as s:
        for authority in s.scalars(select(Authority)):
            for column, purpose in (
                ("account_key_encrypted", f"account:{authority.did}"),
                ("next_account_key_encrypted", f"account:{authority.did}"),
            ):
                sealed = getattr(authority, column)
                if sealed is not None and not ring.sealed_here(bytes(sealed)):
                    setattr(
                        authority, column, ring.seal(ring.open(bytes(sealed), purpose), purpose)
                    )
                    done.account_keys += 1
        keys = s.execute(
            select(IssuerKey, Authority.did).join(Authority, Authority.id == IssuerKey.authority_id)
        ).all()
        for key, did in keys:
            purpose = f"issuer-key:{did}#{key.key_id}"
            if not ring.sealed_here(bytes(key.private_key_encrypted)):
                plain = ring.open(bytes(key.private_key_encrypted), purpose)
                key.private_key_encrypted = ring.seal(plain, purpose)
                done.issuer_keys += 1
    last = 0
    while True:
        with db.session() as s:
            rows = s.execute(
                select(Credential.seq, Credential.id, Credential.credential_type, Credential.body)
                .where(Credential.seq > last)
                .order_by(Credential.seq)
                .limit(_CHUNK)
            ).all()
            if not rows:
                break
            changes = []
            for seq, credential_id, kind, body in rows:
                if ring.sealed_here(bytes(body)):
                    continue
                canonical = ring.open_document(bytes(body), credential_id)
                subject = json.loads(canonical).get("credentialSubject") or {}
                changes.append(
                    {
                        "seq": seq,
                        "body": ring.seal_document(canonical, credential_id),
                        "subject_key": subject_key(ring, kind, subject),
                    }
                )
            if changes:
                s.execute(update(Credential), changes)
            done.documents += len(changes)
            last = rows[-1][0]
        if progress is not None:
            progress(done)
    return done
