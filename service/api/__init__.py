"""The issuing office's HTTP API (FastAPI): issuance, verification, W3C VC API, DID documents."""

from service.api.app import create_app

__all__ = ["create_app"]
