"""The tamper suite: change any one field of a valid bundle and it must come out INVALID.

Every leaf of the credential, of its proof and of the anchor receipt is changed, one at a time;
the report must name the check that catches it: the signature for the credential's content and
its proof (or the format check, when the change also breaks a field rule), the anchor for the
receipt.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import Registries
from tests.verifier.office import GZ_PERMITS, Office
from verifier.chain import EmbeddedChain
from verifier.policy import Policy
from verifier.verify import Outcome, Verdict, Verifier

Path = tuple[str | int, ...]


def leaves(value: Any, here: Path = ()) -> Iterator[Path]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*here, key))
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            yield from leaves(item, (*here, i))
    else:
        yield here


def changed(value: Any) -> Any:
    """A different value of a similar kind, as a forger would write it."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        if value.startswith("0x") and len(value) > 2:
            last = value[-1].lower()
            return value[:-1] + ("1" if last != "1" else "2")
        if len(value) > 1 and value[-1].isdigit():
            return value[:-1] + str((int(value[-1]) + 1) % 10)
        return value[:-1] + ("某" if value[-1] != "某" else "甲")
    if value is None:
        return "2099-01-01"
    if value == []:
        return [{"date": "2027-01-01", "validUntil": "2028-01-01"}]
    raise AssertionError(f"no change rule for {value!r}")


def mutate(bundle: dict[str, Any], path: Path) -> dict[str, Any]:
    forged = copy.deepcopy(bundle)
    node: Any = forged
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = changed(node[path[-1]])
    return forged


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Verifier, dict[str, Any]]]:
    chain = EmbeddedChain(None)
    from service.trust.deployment import deploy_registries
    from tests.conftest import funded

    root = funded(chain)
    registries = Registries(chain=chain, root=root, deployment=deploy_registries(chain, root))
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    bundles = gz.anchor(gz.permit(), gz.permit(), gz.permit())
    verifier = Verifier.from_chain(chain, registries.anchor, Policy(sync_interval=timedelta(0)))
    yield verifier, bundles[1]  # a middle leaf: its path has both left and right siblings
    chain.close()


def credential_paths() -> list[Path]:
    from tests.verifier.factories import residence_permit

    sample = residence_permit()
    sample["proof"] = {
        "type": "",
        "cryptosuite": "",
        "created": "",
        "verificationMethod": "",
        "proofPurpose": "",
        "proofValue": "",
        "@context": ["x"],
    }
    return [("credential", *p) for p in leaves(sample)]


ANCHOR_FIELDS = ("chainId", "registry", "root", "leafIndex", "treeSize", "path")
# where the root landed: the chain's own record of the root counts, not the receipt's words
BLOCK_FACTS = ("blockNumber", "blockTime", "transactionHash")


def test_the_untouched_bundle_is_valid(world: tuple[Verifier, dict[str, Any]]) -> None:
    verifier, bundle = world
    assert verifier.verify(bundle).verdict is Verdict.VALID


@pytest.mark.parametrize("path", credential_paths(), ids=lambda p: ".".join(map(str, p[1:])))
def test_changing_a_credential_field_breaks_the_signature(
    world: tuple[Verifier, dict[str, Any]], path: Path
) -> None:
    verifier, bundle = world
    report = verifier.verify(mutate(bundle, path))
    assert report.verdict is Verdict.INVALID
    failed = {c.name: c for c in report.failed}
    if "format" in failed:
        # the change also broke a field rule: format catches it and names the field
        field = ".".join(str(p) for p in path[1:] if not isinstance(p, int))
        named = failed["format"].reason.en.split(":")[0]
        assert re.sub(r"\[\d+\]", "", named).startswith(field), named
    else:
        assert "signature" in failed, report.to_json()
        assert report.check("anchor").outcome is Outcome.FAIL  # the digest changed too


@pytest.mark.parametrize("name", ANCHOR_FIELDS)
def test_changing_a_receipt_field_breaks_only_the_anchor(
    world: tuple[Verifier, dict[str, Any]], name: str
) -> None:
    verifier, bundle = world
    path: Path = ("anchor", name, 0) if name == "path" else ("anchor", name)
    report = verifier.verify(mutate(bundle, path))
    assert report.verdict is Verdict.INVALID
    assert [c.name for c in report.failed] == ["anchor"], report.to_json()
    assert report.check("signature").outcome is Outcome.PASS


@pytest.mark.parametrize("name", BLOCK_FACTS)
def test_a_receipts_block_facts_are_taken_from_the_chain_not_the_receipt(
    world: tuple[Verifier, dict[str, Any]], name: str
) -> None:
    # A root is anchored once, so a receipt naming another block is stale (the chain lost that
    # block and the root was anchored again) or edited; either way the root and the inclusion
    # path prove the credential, the chain says when: VALID, with the holder told to refresh
    verifier, bundle = world
    report = verifier.verify(mutate(bundle, ("anchor", name)))
    assert report.verdict is Verdict.VALID, report.to_json()
    assert report.check("anchor").reason.code == "anchor_receipt_stale"
    assert str(bundle["anchor"]["blockNumber"]) in report.check("anchor").reason.en


@pytest.mark.parametrize("index", [0, 1])
def test_every_element_of_the_inclusion_path_matters(
    world: tuple[Verifier, dict[str, Any]], index: int
) -> None:
    verifier, bundle = world
    assert len(bundle["anchor"]["path"]) == 2
    report = verifier.verify(mutate(bundle, ("anchor", "path", index)))
    assert report.check("anchor").reason.code == "anchor_path_mismatch"


def test_a_receipt_moved_to_another_credential_fails(
    world: tuple[Verifier, dict[str, Any]],
) -> None:
    verifier, bundle = world
    forged = copy.deepcopy(bundle)
    forged["anchor"]["leafIndex"] = 0
    assert verifier.verify(forged).check("anchor").outcome is Outcome.FAIL
