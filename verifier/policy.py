"""What a verifying office accepts: which chain and registry, grace periods, snapshot age, clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

__all__ = ["Policy", "utc_now"]


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Policy:
    """The rules a verifier applies beyond the credential itself.

    - ``chain_id`` / ``anchor_registry``: the only chain and AnchorRegistry whose anchors count
      (None: whatever the trust source is for).
    - ``pending_grace``: how long after ``proof.created`` an unanchored credential is PENDING
      rather than INVALID.
    - ``max_snapshot_age``: a trust snapshot older than this still verifies, with a warning.
    - ``accept_suspended_authority_history``: credentials anchored before their authority was
      suspended stay acceptable (the authority's later anchors are impossible anyway). A
      removed authority's credentials are never accepted.
    - ``sync_interval``: an online verifier reads new chain events at most this often.
    - ``clock_skew``: how far a signer's clock (``proof.created``) may be behind the chain's
      block times when a pending credential's key is checked.
    - ``clock``: the time used for every "now" (tests and replays set it).
    """

    chain_id: int | None = None
    anchor_registry: str | None = None
    pending_grace: timedelta = timedelta(hours=1)
    max_snapshot_age: timedelta = timedelta(hours=24)
    accept_suspended_authority_history: bool = True
    sync_interval: timedelta = timedelta(seconds=5)
    clock_skew: timedelta = timedelta(minutes=5)
    clock: Callable[[], datetime] = field(default=utc_now, compare=False)

    def now(self) -> datetime:
        """The policy's current time."""
        return self.clock()
