"""The JSON-LD contexts Suixin credentials name, shipped here, and a loader that never fetches.

Four documents ship inside the package (see ``README.md`` beside this file for their sources,
digests and licences):

- ``SUIXIN_CONTEXT`` (``suixin-v2.jsonld``): every Suixin term, ``@protected``; what credentials
  and receipts are made with now. It is v1 with three terms added: ``licenceId`` (the national
  electronic licence identifier, 电子证照标识) and, in an anchor receipt, ``blockHash`` and
  ``hash`` (the Merkle hash, ``sha-256`` or ``sm3``);
- ``SUIXIN_CONTEXT_V1`` (``suixin-v1.jsonld``): the first version, which credentials made before
  carry; unchanged, as a published context stays;
- ``VC_V2_CONTEXT``: the W3C Verifiable Credentials 2.0 context;
- ``UNDEFINED_TERMS_CONTEXT``: the W3C context VCDM 2.0 §5.2 names for documents with terms
  no context defines.

``document_loader`` hands a JSON-LD processor (PyLD's ``documentLoader`` calling convention)
exactly these documents and raises ``UnknownContext`` for any other URL: verification never goes
to the network, so no context can change under a verifier and no server learns what it checks.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from verifier.errors import UnknownContext

__all__ = [
    "CONTEXT_FILES",
    "SUIXIN_CONTEXT",
    "SUIXIN_CONTEXT_V1",
    "SUIXIN_VOCAB",
    "UNDEFINED_TERMS_CONTEXT",
    "VC_V2_CONTEXT",
    "context_bytes",
    "document_loader",
    "load_context",
]

VC_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
UNDEFINED_TERMS_CONTEXT = "https://www.w3.org/ns/credentials/undefined-terms/v2"
# Same host as the credential schemas every credential names (``SCHEMA_BASE_URL``); versioned
# and immutable once published: a changed term gets a new URL (``…/contexts/v3`` next).
SUIXIN_CONTEXT = "https://schemas.suixin.gov.cn/contexts/v2"
SUIXIN_CONTEXT_V1 = "https://schemas.suixin.gov.cn/contexts/v1"
# The namespace of every term the Suixin context defines (``sx:`` in the context).
SUIXIN_VOCAB = "https://schemas.suixin.gov.cn/vocab#"

# context URL → file in this package
CONTEXT_FILES: Mapping[str, str] = {
    VC_V2_CONTEXT: "credentials-v2.jsonld",
    UNDEFINED_TERMS_CONTEXT: "credentials-undefined-terms-v2.jsonld",
    SUIXIN_CONTEXT: "suixin-v2.jsonld",
    SUIXIN_CONTEXT_V1: "suixin-v1.jsonld",
}


def context_bytes(url: str) -> bytes:
    """The shipped bytes of the context at ``url`` (what an office serves at that URL).

    Raises ``UnknownContext`` for a URL this package does not ship.
    """
    return _read(_file(url))


def load_context(url: str) -> dict[str, Any]:
    """The context document at ``url``, parsed: a fresh copy the caller may change.

    Raises ``UnknownContext`` for a URL this package does not ship.
    """
    return copy.deepcopy(_parsed(_file(url)))


def document_loader(url: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A JSON-LD document loader serving only the shipped contexts, never the network.

    Returns the remote-document shape JSON-LD processors expect (``document``,
    ``documentUrl``, ``contextUrl``, ``contentType``); pass it as PyLD's
    ``{"documentLoader": document_loader}``. ``options`` is accepted and ignored. Raises
    ``UnknownContext`` for any other URL; a processor reports that as a loading failure.
    """
    return {
        "contentType": "application/ld+json",
        "contextUrl": None,
        "documentUrl": url,
        "document": load_context(url),
    }


def _file(url: str) -> str:
    name = CONTEXT_FILES.get(url) if isinstance(url, str) else None
    if name is None:
        raise UnknownContext(url)
    return name


@cache
def _read(name: str) -> bytes:
    return resources.files("verifier.contexts").joinpath(name).read_bytes()


@cache
def _parsed(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(_read(name))
    return document
