"""Tables of the wallet flows: one-time credential offers and the SD-JWTs issued from them.

``sd_jwt_credentials`` rows without a batch are the SD-JWT anchoring queue
(``service.anchoring.sdjwt.SdJwtAnchorer``); a row's ``batch_id`` and ``leaf_index`` are written
with the batch (``batches``, kind ``sdjwt``) before its root is sent, so a crash between the two
is finished, never doubled; receipts are derived from the batch, as a credential's are.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.storage.models import Base

__all__ = ["CredentialOffer", "SdJwtCredential"]


class CredentialOffer(Base):
    """A one-time OpenID4VCI pre-authorised code offer of one credential to one wallet.

    Only SHA-256 hashes of the pre-authorised code, the access token and the refresh token
    are kept."""

    __tablename__ = "credential_offers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    credential_id: Mapped[str] = mapped_column(ForeignKey("credentials.id"), index=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    code_sha256: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64))
    token_sha256: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, unique=True)
    c_nonce: Mapped[str | None] = mapped_column(String(64), nullable=True)
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # the wallet's refresh token (hashed; rotated on each use): new single-use copies later,
    # on the holder's visible action, for as long as the credential is in force
    refresh_sha256: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, unique=True)


class SdJwtCredential(Base):
    """An SD-JWT VC issued to a wallet key (one copy of a batch: each copy is a row of its own,
    with its own key, salts, status entry and anchored issuer-signed JWT)."""

    __tablename__ = "sd_jwt_credentials"
    __table_args__ = (
        Index(
            "ix_sd_jwt_queue",
            "authority_id",
            "seq",
            postgresql_where=text("batch_id IS NULL"),
            sqlite_where=text("batch_id IS NULL"),
        ),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    credential_id: Mapped[str] = mapped_column(ForeignKey("credentials.id"), index=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    issuer_jwt: Mapped[str] = mapped_column(Text)
    digest: Mapped[bytes] = mapped_column(LargeBinary)
    holder_thumbprint: Mapped[str] = mapped_column(String(64))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), nullable=True)
    leaf_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # its own entry in the authority's Token Status Lists (``service.issuing.status_lists``);
    # None for one made before them (it carries the credential's id instead)
    status_position: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
