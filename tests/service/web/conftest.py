"""Fixtures of the wallet and counter tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from tests.service.conftest import Api
from tests.service.web.counters import STANDALONE, Counter, lists_from
from tests.service.web.test_wallet_api import anchored_state, claim
from verifier.counter.app import create_counter_app
from verifier.counter.core import load_or_create_key
from verifier.verify import Verifier


@pytest.fixture(params=["office", "standalone"])
def any_counter(request: pytest.FixtureRequest, api: Api, tmp_path: Path) -> Iterator[Counter]:
    """The office's counter, then the standalone one, with a claimed and anchored SD-JWT VC."""
    holder = ec.generate_private_key(ec.SECP256R1())
    _, sd_jwt, sd_id = claim(api, holder)
    anchor = anchored_state(api, sd_id)["anchor"]
    if request.param == "office":
        yield Counter("office", api.client, "http://testserver", sd_jwt, holder, anchor)
        return
    deployment = api.world.office.deployment
    verifier = Verifier.from_chain(
        api.world.office.chain, deployment.anchor_registry, deployment=deployment
    )
    app = create_counter_app(
        verifier, load_or_create_key(tmp_path / "counter.key"), status_lists=lists_from(api.client)
    )
    with TestClient(app, base_url=STANDALONE) as client:
        yield Counter("standalone", client, STANDALONE, sd_jwt, holder, anchor)
