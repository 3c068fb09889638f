"""SD-JWT VC: disclosures, issuance, presentation with key binding, and every refusal."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from verifier.keys import Ed25519KeyPair
from verifier.sdjwt import (
    Disclosure,
    SdJwtError,
    b64url_decode,
    b64url_encode,
    claims_from_credential,
    issue_sd_jwt,
    issuer_jwt_digest,
    jwk_from_p256,
    parse_sd_jwt,
    present,
    sd_hash,
    verify_sd_jwt,
)

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
AUD = "redirect_uri:https://counter.zq.gov.cn/v1/oid4vp/response"

# RFC 9901 Appendix A.1 (example 1): the issuer-signed JWT and three of its disclosures.
RFC_JWT = (
    "eyJhbGciOiAiRVMyNTYifQ.eyJfc2QiOiBbIkNyUWU3UzVrcUJBSHQtbk1ZWGdjNmJkdDJTSDVhVFkxc1VfTS1QZ2tq"
    "UEkiLCAiSnpZakg0c3ZsaUgwUjNQeUVNZmVadTZKdDY5dTVxZWhabzdGN0VQWWxTRSIsICJQb3JGYnBLdVZ1Nnh5bUph"
    "Z3ZrRnNGWEFiUm9jMkpHbEFVQTJCQTRvN2NJIiwgIlRHZjRvTGJnd2Q1SlFhSHlLVlFaVTlVZEdFMHc1cnREc3JaemZV"
    "YW9tTG8iLCAiWFFfM2tQS3QxWHlYN0tBTmtxVlI2eVoyVmE1TnJQSXZQWWJ5TXZSS0JNTSIsICJYekZyendzY002R242"
    "Q0pEYzZ2Vks4QmtNbmZHOHZPU0tmcFBJWmRBZmRFIiwgImdiT3NJNEVkcTJ4Mkt3LXc1d1BFemFrb2I5aFYxY1JEMEFU"
    "TjNvUUw5Sk0iLCAianN1OXlWdWx3UVFsaEZsTV8zSmx6TWFTRnpnbGhRRzBEcGZheVF3TFVLNCJdLCAiaXNzIjogImh0"
    "dHBzOi8vZXhhbXBsZS5jb20vaXNzdWVyIiwgImlhdCI6IDE2ODMwMDAwMDAsICJleHAiOiAxODgzMDAwMDAwLCAic3Vi"
    "IjogInVzZXJfNDIiLCAibmF0aW9uYWxpdGllcyI6IFt7Ii4uLiI6ICJwRm5kamtaX1ZDem15VGE2VWpsWm8zZGgta284"
    "YUlLUWM5RGxHemhhVllvIn0sIHsiLi4uIjogIjdDZjZKa1B1ZHJ5M2xjYndIZ2VaOGtoQXYxVTFPU2xlclAwVmtCSnJX"
    "WjAifV0sICJfc2RfYWxnIjogInNoYS0yNTYiLCAiY25mIjogeyJqd2siOiB7Imt0eSI6ICJFQyIsICJjcnYiOiAiUC0y"
    "NTYiLCAieCI6ICJUQ0FFUjE5WnZ1M09IRjRqNFc0dmZTVm9ISVAxSUxpbERsczd2Q2VHZW1jIiwgInkiOiAiWnhqaVdX"
    "YlpNUUdIVldLVlE0aGJTSWlyc1ZmdWVjQ0U2dDRqVDlGMkhaUSJ9fX0.kmx687kUBiIDvKWgo2Dub-TpdCCRLZwtD7TO"
    "j4RoLsUbtFBI8sMrtH2BejXtm_P6fOAjKAVc_7LRNJFgm3PJhg"
)
RFC_DISCLOSURES = (
    "WyIyR0xDNDJzS1F2ZUNmR2ZyeU5STjl3IiwgImdpdmVuX25hbWUiLCAiSm9obiJd",
    "WyJlbHVWNU9nM2dTTklJOEVZbnN4QV9BIiwgImZhbWlseV9uYW1lIiwgIkRvZSJd",
    "WyI2SWo3dE0tYTVpVlBHYm9TNXRtdlZBIiwgImVtYWlsIiwgImpvaG5kb2VAZXhhbXBsZS5jb20iXQ",
)


class TestRfc9901Interop:
    def test_disclosure_digest_of_the_rfc_example(self) -> None:
        d = Disclosure.parse(RFC_DISCLOSURES[0])
        assert (d.salt, d.name, d.value) == ("2GLC42sKQveCfGfryNRN9w", "given_name", "John")
        assert d.digest == "jsu9yVulwQQlhFlM_3JlzMaSFzglhQG0DpfayQwLUK4"

    def test_the_rfc_sd_jwt_discloses_its_claims(self) -> None:
        parsed = parse_sd_jwt(RFC_JWT + "~" + "~".join(RFC_DISCLOSURES) + "~")
        assert parsed.kb_jwt is None
        assert parsed.payload["_sd_alg"] == "sha-256"
        assert parsed.disclosed() == {
            "given_name": "John",
            "family_name": "Doe",
            "email": "johndoe@example.com",
        }

    def test_a_disclosure_not_in_the_rfc_jwt_is_refused(self) -> None:
        foreign = Disclosure.make("given_name", "Mallory").encoded
        parsed = parse_sd_jwt(f"{RFC_JWT}~{foreign}~")
        with pytest.raises(SdJwtError) as e:
            parsed.disclosed()
        assert e.value.code == "disclosure_not_signed"


@pytest.fixture(scope="module")
def issuer() -> Ed25519KeyPair:
    return Ed25519KeyPair.generate()


@pytest.fixture(scope="module")
def holder() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


SUBJECT = {
    "name": "张三",
    "sex": "male",
    "citizenId": "440106199003071231",
    "residenceAddress": "广州市天河区某路1号",
    "issueDate": "2026-11-21",
}


def _issue(issuer: Ed25519KeyPair, holder: ec.EllipticCurvePrivateKey) -> str:
    plain = {"iss": "did:web:lsj.gz.gov.cn", "iat": int(NOW.timestamp()), "credentialId": "x"}
    return issue_sd_jwt(
        plain,
        SUBJECT,
        signer=issuer,
        kid="did:web:lsj.gz.gov.cn#key-1",
        holder_jwk=jwk_from_p256(holder.public_key()),
    )


def _verify(text: str, issuer: Ed25519KeyPair, **kw: object) -> dict[str, object]:
    args: dict[str, object] = {"nonce": "n-1", "audience": AUD, "now": NOW}
    args.update(kw)
    return verify_sd_jwt(text, issuer.public_bytes, **args)  # type: ignore[arg-type]


def _code(fn: object) -> str:
    with pytest.raises(SdJwtError) as e:
        fn()  # type: ignore[operator]
    return e.value.code


class TestIssueAndPresent:
    def test_issued_payload_hides_every_disclosable_value(self, issuer, holder) -> None:
        sd = _issue(issuer, holder)
        payload = json.loads(b64url_decode(sd.split("~")[0].split(".")[1]))
        assert "citizenId" not in payload and "name" not in payload
        assert "440106199003071231" not in json.dumps(payload)
        assert len(payload["_sd"]) == len(SUBJECT) + 2  # two decoys
        assert payload["_sd"] == sorted(payload["_sd"])
        assert payload["cnf"]["jwk"]["crv"] == "P-256"

    def test_presentation_discloses_exactly_the_chosen_claims(self, issuer, holder) -> None:
        text = present(
            _issue(issuer, holder),
            ["name", "residenceAddress"],
            holder,
            nonce="n-1",
            audience=AUD,
            issued_at=NOW,
        )
        assert _verify(text, issuer) == {"name": "张三", "residenceAddress": "广州市天河区某路1号"}
        assert "440106199003071231" not in json.dumps(parse_sd_jwt(text).disclosed())

    def test_asking_for_a_claim_the_credential_lacks_is_refused(self, issuer, holder) -> None:
        sd = _issue(issuer, holder)
        assert (
            _code(lambda: present(sd, ["uscc"], holder, nonce="n", audience=AUD))
            == "claim_unavailable"
        )

    def test_the_anchored_leaf_is_the_issuer_jwt_alone(self, issuer, holder) -> None:
        sd = _issue(issuer, holder)
        text = present(sd, ["name"], holder, nonce="n-1", audience=AUD, issued_at=NOW)
        assert issuer_jwt_digest(sd) == issuer_jwt_digest(text)


class TestRefusals:
    @pytest.fixture
    def presented(self, issuer, holder) -> str:
        return present(
            _issue(issuer, holder),
            ["name", "sex"],
            holder,
            nonce="n-1",
            audience=AUD,
            issued_at=NOW,
        )

    def test_tampered_disclosure_value(self, issuer, presented) -> None:
        jwt, name_d, *rest = presented.split("~")
        d = Disclosure.parse(name_d)
        forged = b64url_encode(json.dumps([d.salt, d.name, "李四"]).encode())
        tampered = "~".join([jwt, forged, *rest])
        assert _code(lambda: _verify(tampered, issuer)) == "disclosure_not_signed"

    def test_tampered_issuer_payload(self, issuer, presented) -> None:
        head, body, sig = presented.split("~")[0].split(".")
        payload = json.loads(b64url_decode(body))
        payload["credentialId"] = "other"
        forged_jwt = ".".join([head, b64url_encode(json.dumps(payload).encode()), sig])
        tampered = presented.replace(presented.split("~")[0], forged_jwt)
        assert _code(lambda: _verify(tampered, issuer)) == "signature_invalid"

    def test_other_issuer_key(self, presented) -> None:
        other = Ed25519KeyPair.generate()
        assert _code(lambda: _verify(presented, other)) == "signature_invalid"

    def test_wrong_nonce(self, issuer, presented) -> None:
        assert _code(lambda: _verify(presented, issuer, nonce="n-2")) == "kb_nonce_mismatch"

    def test_wrong_audience(self, issuer, presented) -> None:
        assert (
            _code(lambda: _verify(presented, issuer, audience="redirect_uri:https://x"))
            == "kb_audience_mismatch"
        )

    def test_missing_key_binding(self, issuer, presented) -> None:
        bare = presented[: presented.rindex("~") + 1]
        assert _code(lambda: _verify(bare, issuer)) == "kb_missing"

    def test_wrong_holder_key(self, issuer, holder) -> None:
        thief = ec.generate_private_key(ec.SECP256R1())
        stolen = present(
            _issue(issuer, holder), ["name"], thief, nonce="n-1", audience=AUD, issued_at=NOW
        )
        assert _code(lambda: _verify(stolen, issuer)) == "kb_signature_invalid"

    def test_disclosure_added_after_binding(self, issuer, holder) -> None:
        sd = _issue(issuer, holder)
        text = present(sd, ["name"], holder, nonce="n-1", audience=AUD, issued_at=NOW)
        extra = next(d for d in sd.split("~")[1:-1] if Disclosure.parse(d).name == "citizenId")
        kb = text.rsplit("~", 1)[1]
        widened = text[: text.rindex("~")] + "~" + extra + "~" + kb
        assert sd_hash(widened[: widened.rindex("~") + 1]) != sd_hash(text[: text.rindex("~") + 1])
        assert _code(lambda: _verify(widened, issuer)) == "kb_sd_hash_mismatch"

    def test_stale_key_binding(self, issuer, presented) -> None:
        later = NOW + timedelta(minutes=6)
        assert _code(lambda: _verify(presented, issuer, now=later)) == "kb_expired"
        assert _verify(presented, issuer, now=later, max_age=None) == {
            "name": "张三",
            "sex": "male",
        }

    def test_key_binding_from_the_future(self, issuer, presented) -> None:
        earlier = NOW - timedelta(minutes=10)
        assert _code(lambda: _verify(presented, issuer, now=earlier)) == "kb_in_future"

    @pytest.mark.parametrize(
        "text",
        ["", "no-tilde", "a.b~", "e30.e30.AA~!!~", "e30.e30.AA~WyJhIl0~"],
    )
    def test_malformed_input(self, text: str) -> None:
        assert _code(lambda: parse_sd_jwt(text)) in ("sd_jwt_malformed", "disclosure_malformed")

    def test_reserved_claim_names_cannot_be_disclosed(self) -> None:
        bad = b64url_encode(json.dumps(["salt", "_sd", []]).encode())
        assert _code(lambda: Disclosure.parse(bad)) == "disclosure_malformed"


def test_claims_from_a_permit_keep_region_and_endorsement_visible() -> None:
    credential = {
        "id": "urn:uuid:1",
        "type": ["VerifiableCredential", "ResidencePermit"],
        "issuer": "did:web:lsj.gz.gov.cn",
        "validFrom": "2026-11-21T00:00:00Z",
        "validUntil": "2029-11-21T00:00:00Z",
        "credentialSubject": {
            **SUBJECT,
            "birthDate": "1990-03-07",
            "residenceRegion": "440106",
            "endorsements": [{"date": "2026-11-21", "validUntil": "2027-11-21"}],
        },
    }
    plain, disclosable = claims_from_credential(credential, NOW)
    # the city is visible (the issuer check places it), the district is not
    assert plain["residenceCity"] == "440100" and plain["endorsedUntil"] == "2027-11-21"
    assert "residenceRegion" not in plain and disclosable["residenceRegion"] == "440106"
    assert plain["vct"].endswith("/ResidencePermit")
    # no correlator: the credential's id is nowhere; the status is the copy's own entry
    assert "credentialId" not in plain and "urn:uuid:1" not in json.dumps([plain, disclosable])
    reference = {"status_list": {"idx": 7, "uri": "https://lsj.gz.gov.cn/status-lists/token/0"}}
    with_status, _ = claims_from_credential(credential, NOW, status=reference)
    assert with_status["status"] == reference
    assert plain["exp"] == int(datetime(2029, 11, 21, tzinfo=UTC).timestamp())
    assert set(disclosable) == {
        *SUBJECT,
        "birthDate",
        "residenceRegion",
        "endorsements",
        "age_over_18",
        "age_over_60",
    }
    assert disclosable["age_over_18"] is True and disclosable["age_over_60"] is False
    # an authority narrower than a city shows the district: it is what it can vouch for
    narrow, _ = claims_from_credential(credential, NOW, authority_region=440106)
    assert narrow["residenceCity"] == "440106"


@pytest.mark.parametrize(
    ("birth", "on", "over_18", "over_60"),
    [
        ("2008-11-22", datetime(2026, 11, 21, 16, 0, tzinfo=UTC), True, False),  # Beijing 22nd
        ("2008-11-22", datetime(2026, 11, 21, 15, 59, tzinfo=UTC), False, False),  # the 21st
        ("1966-11-21", datetime(2026, 11, 21, 4, 0, tzinfo=UTC), True, True),
        ("1966-11-22", datetime(2026, 11, 21, 4, 0, tzinfo=UTC), True, False),
        ("2016-02-29", datetime(2034, 2, 28, 4, 0, tzinfo=UTC), False, False),
        ("2016-02-29", datetime(2034, 3, 1, 4, 0, tzinfo=UTC), True, False),
    ],
)
def test_age_claims_are_derived_on_the_day_in_beijing(
    birth: str, on: datetime, over_18: bool, over_60: bool
) -> None:
    credential = {
        "id": "urn:uuid:2",
        "type": ["VerifiableCredential", "ResidencePermit"],
        "issuer": "did:web:lsj.gz.gov.cn",
        "credentialSubject": {**SUBJECT, "birthDate": birth, "residenceRegion": "440106"},
    }
    _, disclosable = claims_from_credential(credential, on)
    assert (disclosable["age_over_18"], disclosable["age_over_60"]) == (over_18, over_60)
