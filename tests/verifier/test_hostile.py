"""Hostile bundles: every leaf of an anchored bundle replaced by values parsers and encoders
choke on. The verifier answers each with a report, never an exception, and a credential changed
anywhere is never VALID."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Registries
from tests.verifier.office import GZ_PERMITS, Office
from verifier.verify import Verdict, Verifier

HOSTILE: list[Any] = [
    "\ud800",  # a lone surrogate: no UTF-8 encoder takes it
    "a\udfffb",
    "9999-12-31T23:59:59-12:00",  # past the last instant a datetime holds, once in UTC
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "\x00",
    "\u202e",
    10**400,  # no double holds it
    2**256,
    2**53 + 1,
    float("inf"),
    1e308,
    -1,
    None,
    [],
    {},
    "",
    "x" * 100_000,
    True,
]


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, (*path, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _paths(child, (*path, i))
    if path:
        yield path


def _replaced(bundle: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(bundle)
    node = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


@pytest.mark.parametrize("chain", ["embedded"], indirect=True)
def test_every_leaf_replaced_by_hostile_values_gives_a_report(registries: Registries) -> None:
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    (bundle,) = gz.anchor(gz.permit())
    verifier = Verifier.from_chain(registries.chain, registries.anchor)
    assert verifier.verify(bundle).verdict is Verdict.VALID
    cases = 0
    for path in list(_paths(bundle)):
        node: Any = bundle
        for part in path:
            node = node[part]
        for value in HOSTILE:
            if value == node and type(value) is type(node):
                continue  # no change
            report = verifier.verify(_replaced(bundle, path, value))  # never raises
            cases += 1
            if path[0] == "credential":  # signed: any change breaks it
                assert report.verdict is Verdict.INVALID, (path, repr(value)[:40])
    # keys: a lone surrogate in a member name, at the top and inside the subject
    for target in ((), ("credential", "credentialSubject")):
        hostile = copy.deepcopy(bundle)
        node = hostile
        for part in target:
            node = node[part]
        node["\ud800"] = "x"
        report = verifier.verify(hostile)
        assert report.verdict is Verdict.INVALID
        assert report.check("format").reason.code == "text_forbidden_character"
    assert cases > 500
