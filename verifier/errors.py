"""The verifier's exceptions: one base with ``diagnostics()``, and a small tree beneath it.

::

    SuixinError                      base of every error Suixin raises on purpose
    ├── InvalidInput                 a value a person or a file supplied is wrong
    │   ├── InvalidCredential        a credential or issuance request breaks its rules
    │   │                            (carries field-level errors in 中文 and English)
    │   ├── UnknownContext           a JSON-LD context this package does not ship (never fetched)
    │   ├── UnsafeJsonLd             a JSON-LD term no context defines, or a relative type or id:
    │   │                            RDFC would drop it from what is signed (safe mode)
    │   └── JsonLdFailure            any other JSON-LD / RDFC-1.0 failure (syntax, a protected
    │                                term redefined, a poison graph past the work bound)
    ├── ArtifactError                compiled contract artifacts are missing or stale
    ├── ChainError                   anything that went wrong talking to the chain
    │   ├── ChainUnavailable         the node cannot be reached (never read as "not issued")
    │   ├── ContractReverted         a call reverted; carries the custom error's name and args
    │   ├── ReceiptTimeout           a transaction was sent but no receipt came in time
    │   ├── ChainMismatch            the node serves another chain than the deployment's (a
    │   │                            reset, another network): never a verdict
    │   └── TransactionDropped       the node lost a sent transaction: it will never be mined
    ├── SnapshotError                a trust snapshot cannot be read or does not match
    └── VerificationError            a verification could not be carried out at all

A *failed* verification is not an exception: it is a report with verdict ``INVALID``.
Exceptions are for the cases where no honest verdict can be given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ArtifactError",
    "ChainError",
    "ChainMismatch",
    "ChainUnavailable",
    "ContractReverted",
    "FieldError",
    "InvalidCredential",
    "InvalidInput",
    "JsonLdFailure",
    "ReceiptTimeout",
    "SnapshotError",
    "SuixinError",
    "TransactionDropped",
    "UnknownContext",
    "UnsafeJsonLd",
    "VerificationError",
]


class SuixinError(Exception):
    """Base of every error Suixin raises on purpose."""

    def diagnostics(self) -> str:
        """Return a text a person can act on."""
        return str(self) or self.__class__.__name__


class InvalidInput(SuixinError):
    """A value supplied by a person or a file is wrong."""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One broken rule of one field: a JSON path, a stable code and the reason in two languages."""

    path: str
    code: str
    zh: str
    en: str

    def as_dict(self) -> dict[str, str]:
        """Return the error as a JSON-ready mapping."""
        return {"path": self.path, "code": self.code, "zh": self.zh, "en": self.en}


class InvalidCredential(InvalidInput):
    """A credential or an issuance request breaks its schema or a domain rule."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        first = self.errors[0] if self.errors else None
        summary = f"{first.path}: {first.en}" if first else "invalid credential"
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        super().__init__(summary + more)

    def diagnostics(self) -> str:
        lines = ["The credential is not valid / 凭证不合规:"]
        lines += [f"  - {e.path}: {e.zh} / {e.en} [{e.code}]" for e in self.errors]
        return "\n".join(lines)


class UnknownContext(InvalidInput):
    """A document names a JSON-LD context that this package does not ship.

    Contexts are never fetched from the network; ``url`` is the one asked for.
    """

    def __init__(self, url: object) -> None:
        self.url = url
        super().__init__(f"JSON-LD context not shipped with the verifier: {url!r}")

    def diagnostics(self) -> str:
        return (
            f"核验程序未内置该 JSON-LD 上下文，也不会联网获取：{self.url!r} / "
            f"The verifier does not ship this JSON-LD context and never fetches one: {self.url!r}"
        )


class UnsafeJsonLd(InvalidInput):
    """A term of a JSON-LD document is not defined by its contexts (dropped on expansion), or a
    type or identifier stays a relative IRI: the canonical form would not hold it.

    ``term`` is what was found; ``what`` is ``"property"``, ``"type"`` or ``"identifier"``.
    """

    def __init__(self, term: str, what: str) -> None:
        problem = "is a relative IRI" if what == "identifier" else "is not defined by a context"
        super().__init__(f"{what} {term!r} {problem}")
        self.term = term
        self.what = what


class JsonLdFailure(InvalidInput):
    """The JSON-LD processor refused a document (invalid syntax, a protected term redefined, a
    context that cannot be processed), or RDFC-1.0 canonicalization exceeded its work bound."""


class ArtifactError(SuixinError):
    """Compiled contract artifacts are missing, unreadable or out of date."""


class ChainError(SuixinError):
    """Something went wrong talking to the chain."""


class ChainUnavailable(ChainError):
    """The chain node cannot be reached; a verifier must never read this as "not issued"."""


class ChainMismatch(ChainError):
    """The node answers, but not with the deployment's chain: another chain id, or the block
    that deployed the registries is gone or different (the chain was reset or replaced). Like
    an outage, it is never a verdict: a genuine credential must not read as a forgery because
    the verifier is looking at the wrong chain."""

    def __init__(self, problem: str, *, expected: str, found: str) -> None:
        self.problem = problem
        self.expected = expected
        self.found = found
        super().__init__(f"{problem}: expected {expected}, found {found}")

    def diagnostics(self) -> str:
        return (
            f"链节点所服务的不是本部署的链（{self.problem}）：应为 {self.expected}，实际为 "
            f"{self.found}。请检查节点地址，或恢复原链后再试；在此之前不作任何核验结论。 / "
            f"The chain node does not serve this deployment's chain ({self.problem}): expected "
            f"{self.expected}, found {self.found}. Check the node URL or restore the chain; "
            "no verdict is given until then."
        )


class ContractReverted(ChainError):
    """A contract call reverted with a custom error, decoded to its name and arguments."""

    def __init__(self, name: str, arguments: dict[str, Any], *, selector: str = "") -> None:
        self.name = name
        self.arguments = dict(arguments)
        self.selector = selector
        rendered = ", ".join(f"{k}={_show(v)}" for k, v in self.arguments.items())
        super().__init__(f"{name}({rendered})")

    def diagnostics(self) -> str:
        return f"The contract refused the call: {self}"


class ReceiptTimeout(ChainError):
    """A transaction was sent but its receipt did not arrive in time."""


class TransactionDropped(ChainError):
    """A sent transaction is no longer known to the node (a restart, an eviction): it was not
    mined and will not be; sending it again is safe."""


class SnapshotError(SuixinError):
    """A trust snapshot cannot be read, or it does not match what it claims."""


class VerificationError(SuixinError):
    """A verification could not be carried out at all (as opposed to failing)."""


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return repr(value)
