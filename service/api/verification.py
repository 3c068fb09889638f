"""The office's one online verifier, shared by every request, and its DID documents.

The registry index is read from the chain at most every ``Policy.sync_interval``; a bundle whose
receipt names a block the index has not reached yet forces a sync first, so a credential
anchored a moment ago verifies as VALID rather than as an unknown root. Requests take turns on
the index (a lock). ``ChainUnavailable`` propagates: an outage is never a verdict.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from service.api.metrics import Metrics
from service.office import NotFound, Office
from verifier.keys import encode_multikey_ed25519
from verifier.policy import Policy
from verifier.verify import Report, Verifier

__all__ = ["DID_CONTEXTS", "VerificationService"]

DID_CONTEXTS = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"]


def _receipt_block(bundle: object) -> int | None:
    if not isinstance(bundle, Mapping):
        return None
    anchor = bundle.get("anchor")
    if not isinstance(anchor, Mapping):
        return None
    block = anchor.get("blockNumber")
    return block if isinstance(block, int) and not isinstance(block, bool) else None


class VerificationService:
    """Verifies bundles for the API and builds DID documents from the on-chain keys."""

    def __init__(self, office: Office, policy: Policy, metrics: Metrics) -> None:
        self.office = office
        self.metrics = metrics
        self.verifier = Verifier.from_chain(office.chain, office.deployment.anchor_registry, policy)
        self._lock = threading.Lock()

    def _use_office_chain(self) -> None:
        # The office may reconnect (or a test may swap) its chain; always read the current one.
        self.verifier.chain = self.office.chain

    def verify(self, bundle: object) -> Report:
        """The report of ``bundle``; raises ChainUnavailable when a needed sync fails."""
        with self._lock:
            self._use_office_chain()
            block = _receipt_block(bundle)
            if block is not None and block > self.verifier.index.synced_block:
                self.verifier.refresh(force=True)
            report = self.verifier.verify(bundle)
        self.metrics.count_verification(report.verdict.value)
        return report

    def stored_receipt(self, credential: Mapping[str, Any]) -> dict[str, Any] | None:
        """The anchor receipt this office holds for the credential's id, if it issued it."""
        credential_id = credential.get("id")
        if not isinstance(credential_id, str):
            return None
        try:
            receipt = self.office.bundle(credential_id)["anchor"]
        except NotFound:
            return None
        return receipt if isinstance(receipt, dict) else None

    def did_document(self, did: str) -> dict[str, Any]:
        """The DID document of an authority from its keys on chain; raises NotFound."""
        with self._lock:
            self._use_office_chain()
            self.verifier.refresh()
            index = self.verifier.index
            record = index.authority(did)
            keys = (
                sorted(
                    (k for k in index.keys.values() if k.authority_id == record.id),
                    key=lambda k: (k.valid_from, k.key_id),
                )
                if record is not None
                else []
            )
        if record is None:
            raise NotFound(f"{did} is not an accredited authority on chain")
        methods = [
            {
                "id": f"{did}#{k.key_id}",
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": encode_multikey_ed25519(k.public_key),
            }
            for k in keys
            if not k.revoked_at
        ]
        return {
            "@context": DID_CONTEXTS,
            "id": did,
            "verificationMethod": methods,
            "assertionMethod": [m["id"] for m in methods],
        }
