"""The conformance issuer: an unaccredited did:key of the office's own that signs any well-formed
VC 2.0 credential (eddsa-jcs-2022), for the W3C test suites. Opt-in (``SUIXIN_CONFORMANCE_ISSUER``),
refused in production mode; its credentials are neither stored nor anchored, and every verifier
reports them as NOT_ACCREDITED: the key is on no TrustRegistry.

The key is made on first use and kept in the data directory (``conformance-issuer.key``, the
secret Multikey, mode 0600), so the did:key stays the same across restarts.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from verifier.errors import FieldError, InvalidCredential, InvalidInput
from verifier.foreign import foreign_format_errors, is_foreign
from verifier.keys import Ed25519KeyPair, encode_private_multikey_ed25519
from verifier.proofs import sign_credential

__all__ = ["KEY_FILE", "ConformanceIssuer"]

KEY_FILE = "conformance-issuer.key"

# where each format rule of ``verifier.foreign`` points in an issue request
_PATHS = {
    "context_invalid": "credential.@context",
    "type_invalid": "credential.type",
    "id_invalid": "credential.id",
    "issuer_invalid": "credential.issuer",
    "subject_invalid": "credential.credentialSubject",
    "dates_inconsistent": "credential.validUntil",
    "context_term_redefined": "credential.@context",
    "type_undefined": "credential.type",
}


class ConformanceIssuer:
    """Signs well-formed VC 2.0 credentials with the office's own unaccredited did:key."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / KEY_FILE
        self._key: Ed25519KeyPair | None = None
        self._lock = threading.Lock()

    @property
    def key(self) -> Ed25519KeyPair:
        """The key, read from the data directory or made there on first use (raises
        InvalidInput when the file holds no Ed25519 secret Multikey)."""
        with self._lock:
            if self._key is None:
                self._key = self._load_or_create()
            return self._key

    def _load_or_create(self) -> Ed25519KeyPair:
        if not self.path.exists():
            key = Ed25519KeyPair.generate()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process made it meanwhile: read theirs
            else:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(encode_private_multikey_ed25519(key.private_bytes()) + "\n")
                return key
        try:
            return Ed25519KeyPair.from_private_multikey(self.path.read_text("utf-8").strip())
        except (OSError, InvalidInput) as e:
            raise InvalidInput(f"the conformance issuer's key file {self.path} is unusable") from e

    @property
    def did(self) -> str:
        """The issuer's did:key."""
        return self.key.did

    def issue(self, credential: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        """``credential`` signed by the did:key: ``issuer`` is set to it when absent, and must
        name it when present (a null issuer is refused, as any malformed one). Raises
        InvalidCredential (field errors under ``credential``) for a credential that is not
        well-formed VC 2.0 (``verifier.foreign.foreign_format_errors``), names a Suixin type, or
        carries a proof."""
        unsigned = dict(credential)
        issuer = credential.get("issuer")
        named = issuer.get("id") if isinstance(issuer, Mapping) else issuer
        if "issuer" not in credential:  # absent, not null: a null issuer is no issuer
            unsigned["issuer"] = self.did
        errors = [
            FieldError(_PATHS.get(r.code, "credential"), r.code, r.zh, r.en)
            for r in foreign_format_errors(unsigned, signed=False)
        ]
        if "issuer" in credential and not errors and named != self.did:
            errors.append(
                FieldError(
                    "credential.issuer",
                    "issuer_unknown",
                    f"一致性测试签发方只以 {self.did} 的名义签发",
                    f"The conformance issuer signs only as {self.did}",
                )
            )
        if not errors and not is_foreign(credential):
            errors.append(
                FieldError(
                    "credential.type",
                    "type_accredited_only",
                    "居住证、营业执照等类型只由经认证的签发机关签发",
                    "Suixin's credential types are issued only by accredited authorities",
                )
            )
        if "proof" in credential:
            errors.append(
                FieldError(
                    "credential.proof",
                    "proof_present",
                    "待签发的凭证不应已带证明",
                    "A credential to issue must not carry a proof yet",
                )
            )
        if errors:
            raise InvalidCredential(errors)
        created = now.replace(microsecond=0).isoformat().replace("+00:00", "Z")
        return sign_credential(unsigned, self.key, self.key.verification_method, created)
