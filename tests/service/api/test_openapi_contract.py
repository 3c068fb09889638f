"""The OpenAPI document, walked: every error each operation declares is made to happen and has
the declared shape, and every request example in the document runs as given (issue 19).

Each declared error status gets a way to provoke it (a generic one where the status has a
generic cause — a body that is not UTF-8, no key, an unknown id, a body too large — and a
specific one otherwise). A declared status nothing here can provoke fails the test: the
document then promises an answer the service cannot give, or the test misses a way in.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.anchoring.worker import AnchorWorker
from service.api.openapi import limits_table
from service.app import create_app
from service.issuing.office import Office as OfficeCore
from service.storage.db import Database
from tests.service.conftest import Api, OfficeWorld, TestClient, auth, settings
from verifier.chain import RpcChain
from verifier.http_signatures import sign_request
from verifier.keys import Ed25519KeyPair
from verifier.sdjwt import SD_JWT_FORMAT

PROBLEM = "application/problem+json"
UNKNOWN = {
    "credential_id": "urn:uuid:00000000-0000-4000-8000-000000000000",
    "key_id": "nokey0000000000",
    "grant_id": "nogrant",
    "did": "did:web:nobody.example",
    "request_id": "norequest",
    "sd_id": "nowallet",
    "version": "v9",
    "credential_type": "Passport",
    "purpose": "revocation",
    "number": "99",
}
DEAD_NODE = "http://127.0.0.1:9"


@dataclass
class Operation:
    path: str
    method: str
    spec: dict[str, Any]

    @property
    def has_body(self) -> bool:
        return "requestBody" in self.spec

    @property
    def secured(self) -> bool:
        return bool(self.spec.get("security"))

    def url(self, values: dict[str, str]) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], self.path)

    def declared(self) -> dict[str, dict[str, Any]]:
        return {s: r for s, r in self.spec.get("responses", {}).items() if s[0] in "45"}


@dataclass
class Office:
    """The API with real things to point at: a permit, a licence, keys of every kind."""

    api: Api
    full: str  # every scope of the permit authority
    licence_full: str
    issue_only: str
    revoke_only: str
    permit: dict[str, Any]
    licence: dict[str, Any]
    key_id: str
    holder: Ed25519KeyPair
    holder_credential: str
    workdir: Path  # a directory of the test's own (never the checkout)

    @property
    def client(self) -> TestClient:
        return self.api.client

    def known(self, operation: Operation) -> dict[str, str]:
        """Path values that exist, for the operation's own credential type."""
        licence = operation.path.endswith("/amend")
        return {
            "credential_id": (self.licence if licence else self.permit)["credential"]["id"],
            "key_id": self.key_id,
            "grant_id": "nogrant",
            "did": "did:web:lsj.gz.gov.cn",
            "request_id": "norequest",
            "sd_id": "nowallet",
            "version": "v2",
            "credential_type": "ResidencePermit",
            "purpose": "revocation",
            "number": "0",
        }

    def key_for(self, operation: Operation) -> str:
        return self.licence_full if operation.path.endswith("/amend") else self.full

    def send(
        self,
        operation: Operation,
        *,
        values: dict[str, str] | None = None,
        key: str | None = None,
        json: Any = None,
        content: bytes | None = None,
        query: str = "",
    ) -> httpx.Response:
        url = operation.url(values or self.known(operation)) + query
        headers = {**auth(key)} if key else {}
        if content is not None:
            headers["Content-Type"] = "application/json"
        return self.client.request(
            operation.method.upper(), url, headers=headers, json=json, content=content
        )


@pytest.fixture
def office(api: Api, tmp_path: Path) -> Iterator[Office]:
    world = api.world
    full = world.key(world.permits, "issue:ResidencePermit", "lifecycle", "revoke", "admin")
    licence_full = world.key(world.licences, "issue:BusinessLicense", "lifecycle", "revoke")
    permit = api.issue({"type": "ResidencePermit", "subject": api.permit()}, full).json()
    licence = api.issue({"type": "BusinessLicense", "subject": api.licence()}, licence_full)
    AnchorWorker(world.office).drain()
    key_id = world.office.create_api_key(world.permits.id, ["revoke"], label="victim")[0]
    holder = Ed25519KeyPair.generate()
    held = api.issue({"type": "ResidencePermit", "subject": api.permit(id=holder.did)}, full)
    yield Office(
        api,
        full,
        licence_full,
        world.key(world.permits, "issue:ResidencePermit"),
        world.key(world.permits, "revoke"),
        world.office.bundle(permit["credential"]["id"]),
        world.office.bundle(licence.json()["credential"]["id"]),
        key_id,
        holder,
        held.json()["credential"]["id"],
        tmp_path,
    )


def operations(client: TestClient) -> list[Operation]:
    spec = client.get("/openapi.json").json()
    return [
        Operation(path, method, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
    ]


# ------------------------------------------------------------------ bodies that pass


def _valid_body(o: Office, op: Operation) -> Any:
    """A body the operation accepts, so a check after validation (scope, existence) answers."""
    if not op.has_body:
        return None
    if op.path == "/v1/credentials":
        return {"type": "ResidencePermit", "subject": o.api.permit()}
    if op.path == "/v1/credentials/batch":
        return {"items": [{"type": "ResidencePermit", "subject": o.api.permit()}]}
    if op.path == "/credentials/issue":
        return {
            "credential": {
                "type": ["VerifiableCredential", "ResidencePermit"],
                "credentialSubject": o.api.permit(),
            }
        }
    if op.path == "/v1/apikeys":
        return {"scopes": ["revoke"], "label": "窗口"}
    if op.path.startswith("/v1/credentials/{credential_id}/"):
        return _step_body(op.path.rsplit("/", 1)[1])
    return {}


def _step_body(step: str) -> Any:
    return {
        "change-address": {
            "residenceAddress": "广州市越秀区北京路50号",
            "residenceRegion": "440104",
        },
        "amend": {"subject": {"domicile": "广州市海珠区新港东路1000号"}},
        "revoke": {"reason": "issuer_error"},
        "cancel": {"reason": "deceased"},
    }.get(step, {})


# ------------------------------------------------------------------ signed (authorised use)


def _signed(
    o: Office, op: Operation, who: Ed25519KeyPair, values: dict[str, str], body: Any
) -> httpx.Response:
    url = op.url(values)
    raw = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
    headers = sign_request(op.method.upper(), url, key=who, keyid=who.verification_method, body=raw)
    if raw:
        headers["Content-Type"] = "application/json"
    return o.client.request(op.method.upper(), url, content=raw, headers=headers)


def _grant_terms(credential_id: str, partner: str) -> dict[str, Any]:
    until = datetime.now(UTC) + timedelta(days=7)
    return {
        "credentialId": credential_id,
        "partner": partner,
        "purpose": "子女入学 / school enrolment",
        "validUntil": until.replace(microsecond=0).isoformat(),
    }


def _grants(o: Office, op: Operation, status: str) -> httpx.Response | None:
    holder, partner, stranger = o.holder, Ed25519KeyPair.generate(), Ed25519KeyPair.generate()
    own = o.holder_credential
    if op.path == "/v1/grants" and op.method == "post":
        terms = {
            "403": (stranger, _grant_terms(own, partner.did)),  # not the holder
            "404": (holder, _grant_terms(UNKNOWN["credential_id"], partner.did)),
            "422": (
                holder,
                {**_grant_terms(own, partner.did), "validUntil": "2020-01-01T00:00:00Z"},
            ),
        }.get(status)
        return _signed(o, op, terms[0], {}, terms[1]) if terms else None
    if status == "404":
        fetch = op.path.endswith("/credential")
        body = {"purpose": "子女入学 / school enrolment"} if fetch else None
        return _signed(o, op, holder, {"grant_id": UNKNOWN["grant_id"]}, body)
    if status == "422" and op.path.endswith("/credential"):  # signed, but states no purpose
        return _signed(o, op, partner, {"grant_id": UNKNOWN["grant_id"]}, {})
    if status == "403" and op.path.endswith("/credential"):
        made = _signed(
            o,
            Operation("/v1/grants", "post", {}),
            holder,
            {},
            _grant_terms(own, partner.did),
        )
        assert made.status_code == 201, made.text
        grant_id = made.json()["id"]
        other_purpose = {"purpose": "购房资格审核 / house purchase"}  # not what was granted
        return _signed(o, op, partner, {"grant_id": grant_id}, other_purpose)
    return None


# ------------------------------------------------------------------ generic causes


def _400(o: Office, op: Operation) -> httpx.Response:
    if op.has_body:
        return o.send(op, key=o.key_for(op), content=b'{"x": "\xff\xfe"}')
    return o.send(op, key=o.key_for(op), query="?q=%00")


def _counter_request(o: Office) -> tuple[str, dict[str, str]]:
    """A new counter request: its id and its session's header."""
    created = o.client.post(
        "/v1/oid4vp/requests",
        json={"credentialType": "ResidencePermit", "fields": ["name"], "verifierName": "窗口"},
    ).json()
    return created["requestId"], {"X-Counter-Secret": created["sessionSecret"]}


def _401(o: Office, op: Operation) -> httpx.Response | None:
    if op.path == "/v1/oid4vci/credential":
        return o.send(op, json={"proofs": {"jwt": ["x"]}})  # no access token
    if op.path.startswith("/v1/oid4vp/requests/{request_id}/"):  # a bystander, no secret
        request_id, _ = _counter_request(o)
        return o.send(op, values={**o.known(op), "request_id": request_id})
    return o.send(op, json=_valid_body(o, op))  # no key, no signature


def _403(o: Office, op: Operation) -> httpx.Response | None:
    if op.path.startswith("/v1/grants"):
        return _grants(o, op, "403")
    for key in (o.issue_only, o.revoke_only):
        response = o.send(op, key=key, json=_valid_body(o, op))
        if response.status_code == 403:
            return response
    return None


def _404(o: Office, op: Operation) -> httpx.Response | None:
    if op.path.startswith("/v1/grants"):
        return _grants(o, op, "404")
    if op.path == "/.well-known/did.json":
        return _no_authority(o, op)
    if op.path.startswith("/status-lists"):  # a Host no authority of the office has
        return o.send(op, values=UNKNOWN)
    if op.path == "/v1/oid4vp/verify":
        envelope = {"format": SD_JWT_FORMAT, "requestId": UNKNOWN["request_id"]}
        return o.send(op, json=envelope)
    if "{" not in op.path:
        return None
    return o.send(op, values=UNKNOWN, key=o.key_for(op), json=_valid_body(o, op))


def _413(o: Office, op: Operation) -> httpx.Response:
    size = 16 * 1024 * 1024 if op.path.endswith("/batch") else 256 * 1024
    return o.send(op, key=o.key_for(op), content=b'{"x": "' + b"a" * size + b'"}')


def _422(o: Office, op: Operation) -> httpx.Response | None:
    if op.path.startswith("/v1/grants") and op.method == "post":
        return _grants(o, op, "422")
    if op.path == "/credentials/verify":  # a credential that does not verify: not verified
        return o.send(op, json={"verifiableCredential": {"hello": "世界"}})
    if op.path == "/v1/oid4vp/verify":
        return o.send(op, json={"format": SD_JWT_FORMAT})  # an SD-JWT answers a request
    if op.path == "/v1/oid4vp/requests":
        return o.send(op, json={"credentialType": "Passport", "fields": ["x"], "verifierName": "x"})
    if "{purpose}" in op.path:  # a status purpose no list has
        return o.send(op, values={**o.known(op), "purpose": "expired"})
    if op.has_body:
        response = o.send(op, key=o.key_for(op), content=b"{not json")
        if response.status_code == 422:
            return response
    parameters = op.spec.get("parameters", [])
    if any(p["in"] == "query" for p in parameters):
        return o.send(op, key=o.key_for(op), query="?limit=0&before=0")
    header = next((p["name"] for p in parameters if p["in"] == "header"), None)
    if header is not None:  # a header beyond its length (Idempotency-Key, X-Counter-Secret)
        url = op.url(o.known(op))
        headers = {**auth(o.key_for(op)), header: "k" * 300}
        return o.client.request(op.method.upper(), url, headers=headers, json=_valid_body(o, op))
    return None


# ------------------------------------------------------------------ specific causes


def _no_authority(o: Office, op: Operation) -> httpx.Response:
    """An office that holds no authority yet (its first start, before `keys init`)."""
    world = o.api.world
    empty = Database(f"sqlite:///{_tmp(o) / 'empty.sqlite'}")
    empty.migrate()
    bare = OfficeCore(empty, world.office.chain, world.office.deployment, world.office.master)
    app = create_app(bare, settings(_tmp(o)), start_worker=False)
    try:
        with TestClient(app) as client:
            return client.get(op.path)
    finally:
        empty.dispose()


def _409(o: Office, op: Operation) -> httpx.Response | None:
    permit = o.permit["credential"]
    if op.path in ("/v1/credentials", "/credentials/issue"):
        subject = {
            k: v
            for k, v in permit["credentialSubject"].items()
            if k not in ("issuingAuthority", "issueDate", "endorsements", "id")
        }
        body = _valid_body(o, op)
        if op.path == "/v1/credentials":
            body["subject"] = subject
        else:
            body["credential"]["credentialSubject"] = subject
        return o.send(op, key=o.full, json=body)  # the same person again
    if op.path.startswith("/v1/credentials/{credential_id}/"):
        step = op.path.rsplit("/", 1)[1]
        # a credential no longer current (revoked first): every step refuses it
        revoked = _revoked(o, licence=step == "amend")
        return o.send(
            op,
            values={**o.known(op), "credential_id": revoked},
            key=o.key_for(op),
            json=_valid_body(o, op),
        )
    if op.path.startswith("/v1/oid4vp/requests/{request_id}/") or op.path == "/v1/oid4vp/verify":
        request_id, session = _counter_request(o)
        values = {**o.known(op), "request_id": request_id}
        if op.path.endswith("/response") or op.path == "/v1/oid4vp/verify":
            response = "/v1/oid4vp/requests/" + request_id + "/response"
            o.client.post(response, json={"error": "access_denied"})  # declined: answered …
            if op.path == "/v1/oid4vp/verify":
                return o.send(op, json={"format": SD_JWT_FORMAT, "requestId": request_id})
            return o.send(op, values=values, json={"error": "access_denied"})  # … once
        url = op.url(values)  # the counter's own, not answered yet
        return o.client.request(op.method.upper(), url, headers=session)
    if op.path == "/v1/oid4vci/credential":
        return None  # an SM2 authority's wallet credential: tests/test_gm_story.py
    return None


def _revoked(o: Office, *, licence: bool) -> str:
    key = o.licence_full if licence else o.full
    kind = "BusinessLicense" if licence else "ResidencePermit"
    subject = o.api.licence() if licence else o.api.permit()
    credential_id = o.api.issue({"type": kind, "subject": subject}, key).json()["credential"]["id"]
    o.client.post(
        f"/v1/credentials/{credential_id}/revoke",
        json={"reason": "issuer_error"},
        headers=auth(key),
    )
    return credential_id


def _429(o: Office, op: Operation) -> httpx.Response | None:
    app = create_app(
        o.api.world.office, settings(_tmp(o), public_rate_per_minute=1), start_worker=False
    )
    with TestClient(app) as client:
        response = None
        for _ in range(3):
            response = client.request(
                op.method.upper(), op.url(o.known(op)), json=_valid_body(o, op)
            )
            if response.status_code == 429:
                return response
    return response


def _tmp(o: Office) -> Path:
    path = o.workdir / "contract"
    path.mkdir(exist_ok=True)
    return path


def _503(o: Office, op: Operation) -> httpx.Response | None:
    """The chain cannot be read while a verification needs it: an app that reads new registry
    events before every answer, over a node that does not answer."""
    fresh = o.api.issue({"type": "ResidencePermit", "subject": o.api.permit()}, o.full).json()
    office = o.api.world.office
    app = create_app(office, settings(_tmp(o), verify_sync_seconds=0.001), start_worker=False)
    with TestClient(app) as client:
        live = office.chain
        office.chain = RpcChain(DEAD_NODE, request_timeout=2)
        try:
            time.sleep(0.01)
            body: Any = fresh
            if op.path == "/credentials/verify":
                body = {"verifiableCredential": fresh["credential"]}
            elif op.path == "/presentations/verify":  # its credentials are verified regardless
                body = {"verifiablePresentation": {"verifiableCredential": [fresh["credential"]]}}
            elif not op.has_body:
                body = None
            url = op.url(o.known(op))
            return client.request(op.method.upper(), url, json=body, headers=auth(o.full))
        finally:
            office.chain.close()
            office.chain = live


# Declared errors this walk cannot provoke without changing what other tests share, each with
# the test that does provoke it. The walk checks they are still declared.
ELSEWHERE = {
    "POST /v1/oid4vci/credential 409": (
        "an authority whose key became SM2 between offer and claim (this suite's authorities "
        "share one chain and keep Ed25519 keys): tests/service/trust/test_sm2_keys.py"
    ),
}


def _415(o: Office, op: Operation) -> httpx.Response | None:
    if op.path == "/v1/oid4vp/requests/{request_id}/response":  # a form or JSON, nothing else
        request_id, _ = _counter_request(o)
        url = op.url({**o.known(op), "request_id": request_id})
        return o.client.post(url, content=b"vp_token=x", headers={"Content-Type": "text/plain"})
    return None


CAUSES: dict[str, Callable[[Office, Operation], httpx.Response | None]] = {
    "400": _400,
    "401": _401,
    "403": _403,
    "404": _404,
    "409": _409,
    "413": _413,
    "415": _415,
    "422": _422,
    "429": _429,
    "503": _503,
}


def _shape(response: httpx.Response, declared: dict[str, Any], where: str) -> None:
    media = response.headers["content-type"].split(";")[0]
    assert media in declared.get("content", {}), (where, media, list(declared.get("content", {})))
    body = response.json()
    if media == PROBLEM:
        assert {"type", "title", "status", "code", "detail"} <= body.keys(), (where, body)
        assert body["status"] == response.status_code
        zh, _, en = body["detail"].partition(" / ")
        assert zh and en, (where, body["detail"])
    else:  # OAuth's error shape (OpenID4VCI's token and credential endpoints)
        assert isinstance(body.get("error"), str), (where, body)


def test_every_declared_error_of_every_operation_happens_in_its_declared_shape(
    office: Office, figures: list[str]
) -> None:
    provoked: list[str] = []
    missing: list[str] = []
    elsewhere: list[str] = []
    for op in operations(office.client):
        for status, declared in sorted(op.declared().items()):
            where = f"{op.method.upper()} {op.path} {status}"
            if where in ELSEWHERE:
                elsewhere.append(where)
                continue
            cause = CAUSES.get(status)
            response = cause(office, op) if cause else None
            if response is None or str(response.status_code) != status:
                got = None if response is None else (response.status_code, response.text[-300:])
                missing.append(f"{where}: {got}")
                continue
            _shape(response, declared, where)
            provoked.append(where)
    assert not missing, "\n".join(missing)
    assert sorted(elsewhere) == sorted(ELSEWHERE)
    figures.append(f"OpenAPI contract: {len(provoked)} declared errors provoked, each in shape")


def _withdraw(office: Office, op: Operation, answer: Any, key: str) -> None:
    """Revoke what an issuing example issued: the next example may name the same person (the
    examples are each written for an office that has not issued to them yet)."""
    if op.path not in ("/v1/credentials", "/v1/credentials/batch", "/credentials/issue"):
        return
    bundles = answer.get("items") or [answer]
    for bundle in bundles:
        credential = bundle.get("credential") or bundle.get("verifiableCredential") or bundle
        revoked = office.client.post(
            f"/v1/credentials/{credential['id']}/revoke",
            json={"reason": "issuer_error"},
            headers=auth(key),
        )
        assert revoked.status_code == 200, revoked.text


def _grant_example(office: Office, op: Operation, example: Any, made: dict[str, Any]) -> int:
    """A holder's grant as the example states it (its own credential, a partner of its own),
    then the partner's fetch as its example states it."""
    if op.path == "/v1/grants":
        partner = Ed25519KeyPair.generate()
        terms = {**example, "credentialId": office.holder_credential, "partner": partner.did}
        response = _signed(office, op, office.holder, {}, terms)
        assert response.status_code == 201, response.text
        made.update(grant=response.json()["id"], partner=partner)
        return 1
    if op.path == "/v1/grants/{grant_id}/credential":
        response = _signed(office, op, made["partner"], {"grant_id": made["grant"]}, example)
        assert response.status_code == 200, response.text
        return 1
    raise AssertionError(f"an example of {op.path} this test does not know how to sign")


def test_every_request_example_runs_as_given(office: Office, world: OfficeWorld) -> None:
    spec = office.client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    ran = 0
    grants: dict[str, Any] = {}
    for op in sorted(operations(office.client), key=lambda o: o.path):  # a grant before a fetch
        content = op.spec.get("requestBody", {}).get("content", {}).get("application/json", {})
        schema = content.get("schema", {})
        if "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        examples = list(schema.get("examples", []))
        examples += [e["value"] for e in content.get("examples", {}).values()]
        for example in examples:
            if op.path.startswith("/v1/grants"):
                ran += _grant_example(office, op, example, grants)
                continue
            values = office.known(op)
            if op.path.startswith("/v1/credentials/{credential_id}/"):
                fresh = office.api.issue(
                    {
                        "type": "BusinessLicense"
                        if op.path.endswith("/amend")
                        else "ResidencePermit",
                        "subject": office.api.licence()
                        if op.path.endswith("/amend")
                        else office.api.permit(),
                    },
                    office.key_for(op),
                )
                values["credential_id"] = fresh.json()["credential"]["id"]
            key = office.key_for(op)
            if op.path in ("/v1/credentials", "/credentials/issue") and "BusinessLicense" in str(
                example
            ):
                key = office.licence_full
            response = office.send(op, values=values, key=key, json=example)
            where = f"{op.method.upper()} {op.path}: {response.status_code} {response.text[:300]}"
            if op.path in ("/credentials/verify", "/presentations/verify"):  # illustrative
                assert response.status_code == 422 and response.json()["verified"] is False, where
            elif op.path == "/v1/verify":
                assert response.status_code == 200 and response.json()["verdict"], where
            else:
                assert response.status_code in (200, 201), where
                _withdraw(office, op, response.json(), key)
            ran += 1
    assert ran >= 11


README = Path(__file__).resolve().parents[3] / "README.md"
TABLE = re.compile(r"<!-- routes: begin -->\n(.*?)<!-- routes: end -->", re.S)


def test_the_readme_lists_every_route_with_its_body_limit(api: Api) -> None:
    """The README's route table is the document's (``limits_table``): a route added, or a limit
    changed, without the README following fails here, with the table to paste."""
    document = api.client.get("/openapi.json").json()
    expected = limits_table(document)
    found = TABLE.search(README.read_text(encoding="utf-8"))
    assert found is not None, "README.md lacks the <!-- routes: begin/end --> table"
    assert found.group(1) == expected, (
        f"README.md's route table is stale; it should be:\n{expected}"
    )
    limits = [
        op["x-max-body-bytes"]
        for item in document["paths"].values()
        for op in item.values()
        if "x-max-body-bytes" in op
    ]
    assert 256 * 1024 in limits and 16 * 1024 * 1024 in limits, limits
    batch = document["paths"]["/v1/credentials/batch"]["post"]["x-max-body-bytes"]
    assert batch == 16 * 1024 * 1024
