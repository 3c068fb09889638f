"""The cross-city story (scripts/cross_city.py) as real processes: anvil, three offices, one chain.

Every step's verdict is the expected one, and the named steps say what the issue asks to show:
who verified what, which check caught each forgery, how long a revocation took to reach 肇庆,
and how old 肇庆's offline snapshot was.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
from pathlib import Path
from types import ModuleType

import pytest

from service.anchoring.devnode import anvil_binary
from tests.conftest import require

pytestmark = [pytest.mark.chain_rpc, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cross_city", ROOT / "scripts" / "cross_city.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["cross_city"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_cross_city_story(tmp_path: Path) -> None:
    require(anvil_binary() is not None, "anvil not installed: run `npm ci` (@foundry-rs/anvil)")
    cross_city = _script()
    lines: list[str] = []
    with cross_city.Federation(tmp_path, lines.append) as federation:
        offices = federation.cities
        # three offices, three databases, three master keys, one deployment of the registries
        assert len({c.master_key for c in offices.values()}) == 3
        assert all((c.data_dir / "suixin.sqlite").exists() for c in offices.values())
        assert len({(c.data_dir / "deployment.json").read_text() for c in offices.values()}) == 1
        assert offices["zq"].api_keys == {}  # the counter enrolled nothing
        story = cross_city.run_story(federation, revocations=2, say=lines.append)
        assert all(c.process is not None and c.process.poll() is None for c in offices.values())

    failed = [(s.en, s.expected, s.actual) for s in story.steps if not s.ok]
    assert story.ok and not failed, failed
    assert len(story.steps) == 16

    def step(name: str) -> tuple[str, str]:
        found = story.step(name)
        return found.where, found.actual

    assert step("Guangzhou permit at the 肇庆 counter") == ("肇庆", "VALID")
    assert step("Shenzhen licence verified in Guangzhou") == ("广州", "VALID")
    assert step("Guangzhou residence years at the 肇庆 counter") == ("肇庆", "VALID")
    assert "years in 440100 since 2019-03-01" in story.step("Guangzhou residence years").detail
    assert step("tampered years")[1] == "INVALID (format: residence_years_mismatch)"
    assert step("impostor tries to anchor")[1] == "REFUSED (NotAnAuthority)"
    assert "issuer: issuer_not_accredited" in step("impostor's 'Guangzhou' permit")[1]
    assert "issuer: issuer_key_unknown" in step("impostor using")[1]
    assert step("Shenzhen office asked")[1] == "422 ['region_outside_authority']"
    assert step("Shenzhen key forges") == ("肇庆", "INVALID (issuer: issuer_region_outside)")
    assert step("Shenzhen public security forges")[1] == (
        "INVALID (issuer: issuer_type_not_accredited)"
    )
    assert step("offline verification of the permit") == ("肇庆", "VALID")
    assert step("offline verification of the years")[1] == "VALID"
    assert step("offline verification of the revoked")[1] == "INVALID (status: credential_revoked)"
    assert "snapshot_stale" in step("offline with a snapshot older")[1]
    assert story.snapshot_age_seconds is not None and story.snapshot_age_seconds >= 0

    # revocation → 肇庆's first INVALID: on chain at once, visible within one sync interval
    times = story.revocation_seconds
    assert len(times) == 2 and len(story.on_chain_seconds) == 2
    bound = cross_city.SYNC_INTERVAL + cross_city.REVOCATION_SLACK
    assert all(
        0 < on_chain <= seconds <= bound
        for on_chain, seconds in zip(story.on_chain_seconds, times, strict=True)
    )
    assert statistics.median(story.on_chain_seconds) < cross_city.SYNC_INTERVAL
    # every process was stopped
    assert all(c.process is None for c in federation.cities.values())
    assert any(line.startswith("✓ ") for line in lines)


def test_the_command_exits_non_zero_when_a_step_disagrees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cross_city = _script()

    def wrong(federation: object, *, revocations: int, say: object) -> object:
        story = cross_city.Story()
        story.steps.append(cross_city.Step("甲", "a", "肇庆", "VALID", "INVALID", "", False))
        return story

    class NoFederation:
        def __init__(self, workdir: Path, say: object) -> None:
            self.cities: dict[str, object] = {}

        def __enter__(self) -> NoFederation:
            return self

        def __exit__(self, *_exc: object) -> None:
            return None

    monkeypatch.setattr(cross_city, "run_story", wrong)
    monkeypatch.setattr(cross_city, "Federation", NoFederation)
    assert cross_city.main(["--keep", str(tmp_path)]) == 1
