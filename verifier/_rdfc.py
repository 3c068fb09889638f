"""RDF Dataset Canonicalization (RDFC-1.0) of a JSON-LD document, offline and in safe mode.

``canonicalize_rdfc`` turns a JSON-LD document into its canonical N-Quads (W3C RDFC-1.0, which
PyLD calls ``URDNA2015``) for the ``eddsa-rdfc-2022`` cryptosuite. Two rules keep a signature
over those quads honest:

- **No network.** Contexts come only from a document loader, by default
  ``verifier.contexts.document_loader`` (the shipped contexts); any other URL raises
  ``UnknownContext``. Resolved contexts are cached per loader, never in PyLD's process-wide
  cache, so a context another loader resolved can never stand in for a shipped one.
- **Safe mode** (what jsonld.js calls ``safe: true``; PyLD has no such option): a property that
  expands to no absolute IRI would be dropped, and a type or ``@id`` that stays a relative IRI
  would vanish from the quads. Either way the signature would not cover what the document
  shows, so ``UnsafeJsonLd`` is raised instead.

And one rule keeps it cheap: RDFC-1.0 §4.4 warns that crafted blank-node graphs ("poison
graphs") make the N-degree hashing take exponential time, and asks implementations to bound it.
PyLD does not, so ``canonicalize_rdfc`` stops after ``MAX_N_DEGREE_CALLS`` calls of Hash N-Degree
Quads (a credential or presentation needs a handful) and raises ``JsonLdFailure``.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from typing import Any

from cachetools import LRUCache
from pyld import jsonld
from pyld.canon import URDNA2015
from pyld.context_resolver import ContextResolver

from verifier.contexts import document_loader as shipped_loader
from verifier.errors import InvalidInput, JsonLdFailure, UnknownContext, UnsafeJsonLd

__all__ = ["MAX_N_DEGREE_CALLS", "DocumentLoader", "canonicalize_rdfc"]

#: Calls of RDFC-1.0's Hash N-Degree Quads allowed for one canonicalization (poison graphs).
MAX_N_DEGREE_CALLS = 1000

#: PyLD's document loader convention: ``loader(url, options)`` → remote document.
DocumentLoader = Callable[[str, Mapping[str, Any] | None], dict[str, Any]]


class _LockedCache:
    """The two operations PyLD's ContextResolver uses on its shared cache, over an LRU cache
    and under a lock: an office verifies on several threads at once, and ``LRUCache`` is not
    thread-safe."""

    def __init__(self, maxsize: int) -> None:
        self._lock = threading.Lock()
        self._cache: LRUCache[Any, Any] = LRUCache(maxsize=maxsize)

    def get(self, key: Any, default: Any = None) -> Any:
        with self._lock:
            return self._cache.get(key, default)

    def __setitem__(self, key: Any, value: Any) -> None:
        with self._lock:
            self._cache[key] = value


# Resolved contexts of the shipped loader only (immutable files, so caching is safe; inline
# contexts are cached too, under their JCS text, hence a bound).
_SHIPPED_CACHE = _LockedCache(maxsize=64)


class _BoundedRdfc(URDNA2015):  # type: ignore[misc]  # PyLD is untyped
    """PyLD's URDNA2015 (= RDFC-1.0), refusing past ``MAX_N_DEGREE_CALLS`` N-degree hashes."""

    def __init__(self) -> None:
        super().__init__()
        self.n_degree_calls = 0

    def hash_n_degree_quads(self, id_: Any, issuer: Any) -> Any:
        self.n_degree_calls += 1
        if self.n_degree_calls > MAX_N_DEGREE_CALLS:
            raise JsonLdFailure(
                f"RDFC-1.0 canonicalization needs more than {MAX_N_DEGREE_CALLS} N-degree "
                "hashes: too many indistinguishable blank nodes (a poison graph?)"
            )
        return super().hash_n_degree_quads(id_, issuer)


def _dropped(iri: object) -> None:
    raise UnsafeJsonLd(str(iri), "property")


def _is_absolute(value: str) -> bool:
    # what PyLD's toRDF keeps: an IRI with a scheme, or a blank node label (``_:b0``)
    return ":" in value


def _check_absolute(node: object) -> None:
    """Raise ``UnsafeJsonLd`` for the first relative ``@type`` or ``@id`` in expanded JSON-LD."""
    if isinstance(node, list):
        for item in node:
            _check_absolute(item)
        return
    if not isinstance(node, dict):
        return
    if "@value" not in node:  # a value object's @type is a datatype, checked by PyLD
        types = node.get("@type", [])
        for value in types if isinstance(types, list) else [types]:
            if isinstance(value, str) and not _is_absolute(value):
                raise UnsafeJsonLd(value, "type")
    identifier = node.get("@id")
    if isinstance(identifier, str) and not _is_absolute(identifier):
        raise UnsafeJsonLd(identifier, "identifier")
    for key, value in node.items():
        if key not in ("@type", "@id", "@value"):
            _check_absolute(value)


def _refusal(error: BaseException) -> InvalidInput | None:
    """The ``UnknownContext`` or ``UnsafeJsonLd`` a JSON-LD error was raised from, if any."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, UnknownContext | UnsafeJsonLd):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def canonicalize_rdfc(
    document: Mapping[str, Any], *, document_loader: DocumentLoader = shipped_loader
) -> bytes:
    """The RDFC-1.0 canonical N-Quads of ``document`` (UTF-8), expanded in safe mode.

    ``document_loader`` serves the contexts (default: the shipped ones only). Raises
    ``UnknownContext`` for a context the loader refuses, ``UnsafeJsonLd`` for a term that would
    be dropped or a type or ``@id`` left relative, and ``JsonLdFailure`` for any other JSON-LD
    error; the input is never modified.
    """
    cache = _SHIPPED_CACHE if document_loader is shipped_loader else _LockedCache(maxsize=64)
    options: dict[str, Any] = {
        "documentLoader": document_loader,
        "contextResolver": ContextResolver(cache, document_loader),
    }
    processor = jsonld.JsonLdProcessor(on_property_dropped=_dropped)
    try:
        expanded = processor.expand(copy.deepcopy(dict(document)), {**options, "base": None})
        _check_absolute(expanded)
        dataset = processor.to_rdf(expanded, {**options, "produceGeneralizedRdf": False})
        nquads = _BoundedRdfc().main(dataset, {"format": "application/n-quads"})
    except InvalidInput:
        raise
    except jsonld.JsonLdError as e:
        refusal = _refusal(e)
        if refusal is not None:
            raise refusal from e
        raise JsonLdFailure(f"JSON-LD processing failed: {_message(e)}") from e
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as e:
        # PyLD meets input it does not expect (a number where a string should be, …)
        raise JsonLdFailure(f"JSON-LD processing failed: {e!r}") from e
    if not isinstance(nquads, str):
        raise JsonLdFailure("JSON-LD normalization returned no N-Quads")
    return nquads.encode("utf-8")


def _message(error: jsonld.JsonLdError) -> str:
    code = getattr(error, "code", None) or getattr(error, "type", None)
    text = str(error).split("\n", 1)[0]
    return f"{text} ({code})" if code else text
