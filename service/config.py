"""The service's settings (environment ``SUIXIN_*`` or a ``.env`` file), checked at start."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from verifier.errors import InvalidInput

__all__ = ["PLACEHOLDER_MASTER_KEY", "Settings"]

# The master key a development checkout starts with. Outside development mode the service
# refuses to start while the master key still holds it.
PLACEHOLDER_MASTER_KEY = "change-me-development-only-master-key"


class Settings(BaseSettings):
    """Everything an office deployment can set; secrets are SecretStr and never printed."""

    model_config = SettingsConfigDict(env_prefix="SUIXIN_", env_file=".env", extra="ignore")

    mode: Literal["development", "production"] = "development"
    data_dir: Path = Path("data")
    database_url: str = ""
    chain: str = "embedded"
    master_key: SecretStr = SecretStr(PLACEHOLDER_MASTER_KEY)
    # keys sealed values may still be under while a rotation re-seals them (comma-separated)
    previous_master_keys: SecretStr = SecretStr("")
    # the AEAD keys and documents are sealed with at rest: AES-256-GCM, or SM4-GCM (国密,
    # GB/T 32907); values sealed with either open, `suixin keys rotate-master` moves them over
    sealing: Literal["aes-256-gcm", "sm4-gcm"] = "aes-256-gcm"
    host: str = "127.0.0.1"
    port: int = 8000
    # the embedded chain's JSON-RPC node (`suixin serve`): the same port at every start, so a
    # partner's --rpc stays right; 0 takes any free port
    node_port: int = Field(8545, ge=0, le=65535)
    # the JSON-RPC URL /v1/deployment gives partners (default: the office's own http chain URL)
    public_rpc_url: str | None = None
    batch_size: int = Field(1000, ge=1, le=100_000)
    batch_age_seconds: float = Field(5.0, gt=0)
    worker_poll_seconds: float = Field(0.5, gt=0)
    in_process_worker: bool = True
    # the in-process worker sleeps this many times as long as each of its steps took, so its
    # CPU comes in short bursts between requests (one GIL per process); 0 runs it flat out
    worker_pace: float = Field(1.0, ge=0, le=10)
    # threads that run issuing requests at once (the VC API's; POST /v1/credentials's run on
    # its group commit's thread); the work is CPU under one GIL, so more threads only take
    # turns less fairly (a latency tail) without issuing more
    issue_threads: int = Field(2, ge=1, le=64)
    # processes that sign large batch requests (POST /v1/credentials/batch); 0 signs in the
    # server process. Bulk files (`suixin issue`) use one per core unless told otherwise.
    signing_processes: int = Field(0, ge=0, le=64)
    public_rate_per_minute: int = Field(600, ge=1)
    # partner hosts the public per-address limit does not apply to (comma-separated networks,
    # e.g. "10.20.0.0/16,192.0.2.7"); a request with a valid API key of this office is exempt too
    partner_networks: str = ""
    # request bodies: every route, and the batch issuance route (10,000 items)
    max_body_bytes: int = Field(256 * 1024, ge=1024)
    max_batch_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    pending_grace_minutes: float = Field(60.0, gt=0)
    # /v1/verify reads new registry events at most this often: the longest a revocation made by
    # another office takes to show here (besides its own trip to the chain)
    verify_sync_seconds: float = Field(5.0, gt=0, le=3600)
    # life cycle: the endorsement window before a permit's term ends, how often the worker
    # suspends lapsed permits, and how many status changes go in one chain transaction
    endorse_window_days: int = Field(30, ge=1, le=365)
    sweep_interval_seconds: float = Field(3600.0, gt=0)
    status_batch_size: int = Field(200, ge=1, le=2000)
    # how long an authority's status changes may wait for a full batch (0: sent on every pass).
    # A province at a million changes a day sets 15-30: the list set digest each transaction
    # carries then costs under 100 gas a change (scripts/gas_report.py), and a revocation still
    # reaches the chain within that time
    status_max_wait_seconds: float = Field(0.0, ge=0, le=3600)
    # how often the worker anchors the audit trail's head (only when rows were added)
    audit_anchor_seconds: float = Field(60.0, gt=0)
    # /readyz turns unready when the anchoring worker's passes have failed this long
    worker_failure_seconds: float = Field(300.0, gt=0)
    # the worker compares what the office believes is on chain with the chain this often, over
    # what was recorded in this many hours when the chain lost blocks (service.anchoring.reconcile)
    reconcile_seconds: float = Field(30.0, gt=0)
    reconcile_window_hours: float = Field(24.0, gt=0)
    # the W3C test suites' issuer: /credentials/issue also signs any well-formed VC 2.0
    # credential with an unaccredited did:key of the office's own (service.issuing.conformance);
    # refused in production mode
    conformance_issuer: bool = False

    @property
    def worker_stale_seconds(self) -> float:
        """A worker whose last heartbeat is older than this counts as down (``/readyz``)."""
        return max(15.0, 10 * self.worker_poll_seconds)

    def environment(self) -> dict[str, str]:
        """These settings as ``SUIXIN_*`` variables, for the service's own child processes
        (the master key included: it reaches them as it reached this one, never a log)."""
        out = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue  # unset: the child's default
            shown = value.get_secret_value() if isinstance(value, SecretStr) else value
            out[f"SUIXIN_{name.upper()}"] = str(shown)
        return out

    @cached_property
    def partner_network_list(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """``partner_networks`` parsed; InvalidInput names an entry that is not a network."""
        found = []
        for entry in (part.strip() for part in self.partner_networks.split(",")):
            if not entry:
                continue
            try:
                found.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise InvalidInput(
                    f"SUIXIN_PARTNER_NETWORKS: {entry!r} is not an address or network "
                    "(e.g. 10.20.0.0/16 or 192.0.2.7)"
                ) from None
        return tuple(found)

    def is_partner(self, address: str) -> bool:
        """Whether ``address`` (a client's IP) lies in a partner network."""
        networks = self.partner_network_list
        if not networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in networks)

    def effective_database_url(self) -> str:
        """The database URL: the configured one, else SQLite in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'suixin.sqlite').resolve()}"

    def check(self) -> None:
        """Refuse settings that are unsafe outside development; raises InvalidInput."""
        self.partner_network_list  # noqa: B018 (parsed now: a typo stops the start, not a request)
        secret = self.master_key.get_secret_value()
        if self.mode != "development" and (secret == PLACEHOLDER_MASTER_KEY or len(secret) < 32):
            raise InvalidInput(
                "SUIXIN_MASTER_KEY still holds the development placeholder (or is shorter than "
                "32 characters): set a real master key before running outside development mode"
            )
        if self.mode == "production" and self.conformance_issuer:
            raise InvalidInput(
                "SUIXIN_CONFORMANCE_ISSUER signs anything with an unaccredited test key: it is "
                "for conformance testing only and refused in production mode"
            )
