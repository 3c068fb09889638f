"""The office the browser tests drive: uvicorn in a thread over the embedded chain and SQLite,
with the two 广州 authorities (来穗局 for 居住证, 市场监管局 for 营业执照) and an API key of
each; optionally 肇庆's authority, accredited on the same chain by the province (not an
authority of this office), with a dedicated key registered for its counter."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from eth_account.signers.local import LocalAccount

from service.anchoring.devnode import free_port
from service.app import create_app
from service.config import Settings
from service.issuing.office import Office
from service.storage.db import Database
from service.storage.sealing import MasterKey
from service.trust.authorities import create_authority
from service.trust.deployment import deploy_registries
from tests.conftest import funded
from verifier.chain import EmbeddedChain
from verifier.contracts import load_artifact
from verifier.keys import Ed25519KeyPair
from verifier.registry import KeyAlgorithmCode

__all__ = [
    "COUNTER_KEY_ID",
    "ZHAOQING_DID",
    "ZHAOQING_EN",
    "ZHAOQING_ZH",
    "BrowserOffice",
    "Served",
    "running_office",
    "serve",
    "trust_tx",
]

ZHAOQING_DID = "did:web:zwfw.zhaoqing.gov.cn"
ZHAOQING_ZH = "肇庆市政务服务数据管理局"
ZHAOQING_EN = "Zhaoqing Government Services and Data Administration"
COUNTER_KEY_ID = "counter-1"


@dataclass
class BrowserOffice:
    url: str
    office: Office
    root: LocalAccount  # the governance root that deployed the registries
    key: str  # an API key of 来穗局: issue:ResidencePermit, lifecycle, revoke, admin
    licence_key: str  # an API key of 市场监管局: issue:BusinessLicense, lifecycle, revoke
    zhaoqing: LocalAccount | None  # 肇庆's authority account, when a counter key was given


@dataclass
class Served:
    """An app served by uvicorn in a daemon thread."""

    port: int
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve(app: Any, **config: Any) -> Served:
    """Serve ``app`` on a free port of 127.0.0.1 (uvicorn ``config`` on top), once started."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "a server did not start"
    return Served(port, server, thread)


def trust_tx(office: Office, sender: LocalAccount, fn: str, args: list[Any]) -> None:
    """A transaction of ``sender`` to the office's trust registry."""
    office.chain.transact(
        office.deployment.trust_registry, load_artifact("TrustRegistry").abi, fn, args, sender
    )


@contextmanager
def running_office(
    tmp: Path,
    master_key: str,
    label: str,
    *,
    counter_key: Ed25519KeyPair | None = None,
    **settings: Any,
) -> Iterator[BrowserOffice]:
    """The office in ``tmp``, sealed with ``master_key``, its API keys labelled ``label``;
    with ``counter_key``, 肇庆's authority is accredited and registers it as
    ``COUNTER_KEY_ID``. ``settings`` override the app's (the public rate is generous)."""
    chain = EmbeddedChain(None)
    root = funded(chain)
    db = Database(f"sqlite:///{tmp / 'office.sqlite'}")
    db.migrate()
    office = Office(db, chain, deploy_registries(chain, root), MasterKey(master_key))
    permits = create_authority(
        office,
        "did:web:lsj.gz.gov.cn",
        "广州市来穗人员服务管理局",
        "Guangzhou Migrant Population Service Administration",
        440100,
        ("ResidencePermit",),
        root=root,
        uscc="11440100007502156G",
    )
    key = office.create_api_key(
        permits.id, ("issue:ResidencePermit", "lifecycle", "revoke", "admin"), label=label
    )[1]
    licences = create_authority(
        office,
        "did:web:scjgj.gz.gov.cn",
        "广州市市场监督管理局",
        "Guangzhou Administration for Market Regulation",
        440100,
        ("BusinessLicense",),
        root=root,
        uscc="11440100007502233T",
    )
    licence_key = office.create_api_key(
        licences.id, ("issue:BusinessLicense", "lifecycle", "revoke"), label=label
    )[1]
    zhaoqing = None
    if counter_key is not None:
        zhaoqing = funded(chain)
        accredit = [ZHAOQING_DID, ZHAOQING_ZH, ZHAOQING_EN, 441200, ["ResidencePermit"]]
        trust_tx(office, root, "accredit", [*accredit, zhaoqing.address, ""])
        trust_tx(
            office,
            zhaoqing,
            "addKey",
            [ZHAOQING_DID, COUNTER_KEY_ID, KeyAlgorithmCode.ED25519, counter_key.public_bytes],
        )
    values: dict[str, Any] = {"data_dir": tmp, "public_rate_per_minute": 100_000, **settings}
    app = create_app(office, Settings(_env_file=None, **values), start_worker=False)  # type: ignore[call-arg]
    served = serve(app, lifespan="on")
    try:
        yield BrowserOffice(
            f"http://127.0.0.1:{served.port}", office, root, key, licence_key, zhaoqing
        )
    finally:
        served.stop()
        db.dispose()
        chain.close()


def offered(url: str, key: str, body: dict[str, Any]) -> tuple[str, str]:
    """Issue ``body`` at the office on ``url`` with API ``key`` and offer it to a wallet: the
    credential's id and the wallet link the holder opens."""
    auth = {"Authorization": f"Bearer {key}"}
    issued = httpx.post(f"{url}/v1/credentials", json=body, headers=auth)
    assert issued.status_code == 201, issued.text
    credential_id = issued.json()["credential"]["id"]
    offer = httpx.post(f"{url}/v1/credentials/{credential_id}/offer", headers=auth)
    assert offer.status_code == 201, offer.text
    return credential_id, offer.json()["walletLink"]
