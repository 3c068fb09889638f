"""W3C VC API verification results (``verified``, ``checks``, ``warnings``, ``errors``) from the
verifier's reports, honouring ``options.checks``, ``challenge`` and ``domain``.

The VC API (w3c-ccg/vc-api, "Verifying": VerifyCredentialRequest / VerificationResult) answers
``verified: true`` when no error was detected in the checks asked for. Here:

- ``options.checks`` names the checks to run: the VC API's usual ``proof``, ``status`` (or
  ``credentialStatus``) and ``validity`` (or ``expiration``), or the verifier's own names. Left
  out, every check that applies runs: all seven for a Suixin credential; for a foreign one
  (``verifier.foreign``) all but ``issuer``, ``key_validity`` and ``anchor``, which say what a
  foreign credential cannot be, and are answered as warnings.
- A requested check that failed is an error; one that is pending (an anchor not on chain
  yet, inside the grace period) or that does not apply (a foreign credential's status list
  not supplied) is a warning; one skipped because an earlier check failed is an error.
- A check not asked for that failed or is pending is a warning, never silence.
- ``challenge`` and ``domain``, when given, must be those of the proof (errors otherwise).

The ``verdict`` goes with every answer: ``verified: true`` for a foreign credential comes with
the verdict ``NOT_ACCREDITED`` and the ``issuer_not_accredited`` warning — never ``VALID``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from service.api.errors import Problem, field_errors_from_pydantic, validation_problem
from service.api.models import VerifyOptions
from verifier.errors import FieldError
from verifier.foreign import ForeignOutcome
from verifier.verify import CHECKS, Outcome, Report

__all__ = ["CHECK_ALIASES", "VcResult", "credential_result", "requested_checks", "verify_options"]

CHECK_ALIASES: dict[str, str] = {
    **{name: name for name in CHECKS},
    "proof": "signature",
    "credentialStatus": "status",
    "validity": "validity_period",
    "expiration": "validity_period",
}
_FOREIGN_ONLY_WARN = ("issuer", "key_validity", "anchor")


def verify_options(options: dict[str, Any]) -> VerifyOptions:
    """The request's ``options`` read as VerifyOptions; raises the 422 validation problem
    naming each bad member under ``options``."""
    try:
        return VerifyOptions.model_validate(options)
    except ValidationError as e:
        located = [{**err, "loc": ("options", *err["loc"])} for err in e.errors()]
        raise validation_problem(field_errors_from_pydantic(located)) from None


def requested_checks(
    checks: Sequence[str] | None, path: str = "options.checks"
) -> list[tuple[str, str]] | None:
    """The (name as asked, verifier check) pairs of ``options.checks``; None when not given.
    Raises a 422 Problem naming each unknown check."""
    if checks is None:
        return None
    unknown = [
        FieldError(
            f"{path}[{i}]",
            "check_unknown",
            f"不认识的检查项 {name!r}；可用：{', '.join(CHECK_ALIASES)}",
            f"Unknown check {name!r}; known: {', '.join(CHECK_ALIASES)}",
        )
        for i, name in enumerate(checks)
        if name not in CHECK_ALIASES
    ]
    if unknown:
        raise Problem(
            422,
            "validation",
            "请求内容不符合要求 / Invalid request",
            "options.checks 含有不认识的检查项 / options.checks names an unknown check",
            errors=unknown,
        )
    seen: dict[str, str] = {}
    for name in checks:
        seen.setdefault(CHECK_ALIASES[name], name)
    return [(label, check) for check, label in seen.items()]


@dataclass
class VcResult:
    """A VC API verification result of one credential (or presentation)."""

    verdict: str
    checks: list[str] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    foreign: bool = False

    @property
    def verified(self) -> bool:
        """No error in the checks asked for."""
        return not self.errors

    def to_json(self, prefix: str = "") -> dict[str, Any]:
        """The result as the VC API's JSON (errors with their paths under ``prefix``)."""
        out: dict[str, Any] = {
            "verified": self.verified,
            "verdict": self.verdict,
            "checks": self.checks,
            "warnings": self.warnings,
            "errors": [e.as_dict() for e in self.errors_under(prefix)],
        }
        if self.foreign:
            out["foreign"] = True
        return out

    def errors_under(self, prefix: str) -> list[FieldError]:
        """The errors, their paths under ``prefix``."""
        return [FieldError(prefix + e.path, e.code, e.zh, e.en) for e in self.errors]


def _warning(name: str, code: str, zh: str, en: str) -> dict[str, str]:
    return {"check": name, "code": code, "zh": zh, "en": en}


def credential_result(
    report: Report,
    requested: list[tuple[str, str]] | None,
    binding: Sequence[ForeignOutcome] = (),
) -> VcResult:
    """The VC API result of ``report`` for the ``requested`` checks (None: every check that
    applies), with the proof's ``challenge`` / ``domain`` checks in ``binding``."""
    by_name = {c.name: c for c in report.checks}
    if requested is None:
        wanted = [
            (n, n)
            for n in CHECKS
            if n in by_name and not (report.foreign and n in _FOREIGN_ONLY_WARN)
        ]
    else:
        wanted = [(label, name) for label, name in requested if name in by_name]
    result = VcResult(report.verdict.value, foreign=report.foreign)
    asked = {name for _, name in wanted}
    for label, name in wanted:
        check = by_name[name]
        reason = check.reason
        if check.outcome is Outcome.PASS:
            result.checks.append(label)
        elif check.outcome is Outcome.FAIL or reason.code == "not_checked":
            result.errors.append(FieldError(label, reason.code, reason.zh, reason.en))
        else:  # pending, or does not apply (e.g. a status list not supplied)
            result.warnings.append(_warning(label, reason.code, reason.zh, reason.en))
    for check in report.checks:
        if check.name in asked or check.reason.code == "not_checked":
            continue
        if check.outcome in (Outcome.FAIL, Outcome.PENDING) or (
            report.foreign and check.outcome is Outcome.SKIPPED
        ):
            r = check.reason
            result.warnings.append(_warning(check.name, r.code, r.zh, r.en))
    result.warnings += [{"check": "", **w.as_dict()} for w in report.warnings]
    for outcome in binding:
        if outcome.held:
            result.checks.append(outcome.name)
        else:
            r = outcome.reason
            result.errors.append(FieldError(outcome.name, r.code, r.zh, r.en))
    return result
