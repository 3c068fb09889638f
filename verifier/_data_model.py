"""VC Data Model 2.0 rules a JSON reading can hold a credential or presentation to, beyond its
shape: URLs, identifiers, typed objects, names and descriptions, related resources, and the
inline ``@context`` entries (JSON-LD terms without a JSON-LD processor).

The ``@context`` rules read the base context (``credentials-v2.jsonld``, shipped), the
undefined-terms context (its ``@vocab`` defines every term) and the inline context objects; a
context named by any other URL is not fetched, so when one is present a type may be defined
there and is not called undefined. What is checked (VCDM 2.0 section in
brackets):

- every context URL and every term an inline context maps is an absolute URL, a compact IRI, a
  keyword or a defined term (§4.3), and no inline context redefines a protected term: every term
  of the base context, and those of an inline context marked ``@protected`` (§5.2, JSON-LD 1.1
  protected term definitions);
- ``type`` values are strings, each an absolute URL or a term a context defines (§4.5);
- every ``id`` is a single URL: of the document, its subjects, its status, schemas, evidence,
  terms of use, refresh services and related resources (§4.4);
- ``credentialStatus``, ``credentialSchema``, ``evidence``, ``termsOfUse`` and
  ``refreshService`` objects have a ``type`` (§4.5, §4.10, §4.11, §5.4–5.6), a schema an ``id``;
- ``name`` and ``description`` (of the credential and of its issuer) are strings or language
  value objects (§4.6, §11.1);
- ``relatedResource`` is one or more objects, each with a unique ``id`` and a ``digestSRI`` or
  ``digestMultibase`` (§5.3). The digests are not compared with the resource: nothing is fetched.

``data_model_errors`` returns a ``Reason`` per rule broken, the path first in each text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from verifier.contexts import UNDEFINED_TERMS_CONTEXT, VC_V2_CONTEXT, load_context
from verifier.messages import Reason

__all__ = ["data_model_errors", "is_url"]

# RFC 3986: a scheme, a colon, then no whitespace, controls or characters a URL never holds raw
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`\x00-\x1f\x7f]+")
_LANGUAGE_VALUE_KEYS = frozenset({"@value", "@language", "@direction"})
# the objects VCDM 2.0 requires a type on, by property
_TYPED = ("credentialStatus", "credentialSchema", "evidence", "termsOfUse", "refreshService")


def is_url(value: object) -> bool:
    """Whether ``value`` is a string holding an absolute URL (a scheme, then no whitespace)."""
    return isinstance(value, str) and _URL.fullmatch(value) is not None


@cache
def _base_terms() -> dict[str, object]:
    context = load_context(VC_V2_CONTEXT)["@context"]
    return {term: value for term, value in context.items() if not term.startswith("@")}


def _items(value: object) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _reason(code: str, path: str, zh: str, en: str) -> Reason:
    return Reason(code, f"{path}：{zh}", f"{path}: {en}")


class _Terms:
    """What the ``@context`` entries define, as far as a reading without fetching can tell."""

    def __init__(self) -> None:
        self.defined: dict[str, object] = dict(_base_terms())
        self.protected: dict[str, object] = dict(_base_terms())
        self.vocab = False
        self.unknown_contexts = False  # a context URL other than the base one: terms unknown

    def maps_to_iri(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        if value.startswith("@") or is_url(value):
            return True
        prefix, colon, _ = value.partition(":")
        return bool(colon and prefix in self.defined) or value in self.defined or self.vocab

    def defines(self, term: str) -> bool:
        return term in self.defined or self.vocab or self.unknown_contexts


def _context_errors(context: list[Any], terms: _Terms) -> Iterator[Reason]:
    for index, entry in enumerate(context[1:], start=1):
        path = f"@context[{index}]"
        if isinstance(entry, str):
            if not is_url(entry):
                yield _reason("context_invalid", path, "应为 URL", "must be a URL.")
            elif entry == UNDEFINED_TERMS_CONTEXT:
                terms.vocab = True  # its @vocab maps every term no other context defines
            elif entry != VC_V2_CONTEXT:
                terms.unknown_contexts = True
            continue
        if not isinstance(entry, Mapping):
            yield _reason("context_invalid", path, "应为 URL 或对象", "must be a URL or an object.")
            continue
        protect = entry.get("@protected") is True
        if "@vocab" in entry:
            terms.vocab = entry["@vocab"] is not None
        for term, definition in entry.items():
            if term.startswith("@"):
                continue
            iri = definition.get("@id") if isinstance(definition, Mapping) else definition
            if definition is not None and not terms.maps_to_iri(iri):
                yield _reason(
                    "context_invalid",
                    f"{path}.{term}",
                    "术语应映射到绝对 URL",
                    "a term must map to an absolute URL.",
                )
                continue
            if term in terms.protected and terms.protected[term] != definition:
                yield _reason(
                    "context_term_redefined",
                    f"{path}.{term}",
                    "不得重新定义受保护的术语",
                    "a protected term must not be redefined.",
                )
                continue
            terms.defined[term] = definition
            if protect:
                terms.protected[term] = definition


def _type_errors(path: str, value: object, terms: _Terms, *, required: bool) -> Iterator[Reason]:
    if value is None:
        if required:
            yield _reason("type_missing", path, "缺少 type", "type is required.")
        return
    values = _items(value)
    if not values or not all(isinstance(t, str) and t for t in values):
        yield _reason("type_invalid", path, "type 应为字符串或字符串数组", "type must be strings.")
        return
    for name in values:
        if not is_url(name) and not terms.defines(name):
            yield _reason(
                "type_undefined",
                path,
                f"类型 {name} 既不是 URL，也未在 @context 中定义",
                f"the type {name} is neither a URL nor a term the @context defines.",
            )


def _id_errors(path: str, node: Mapping[str, Any]) -> Iterator[Reason]:
    if "id" in node and not is_url(node["id"]):
        yield _reason("id_invalid", f"{path}.id", "id 应为单个 URL", "id must be a single URL.")


def _language_errors(path: str, value: object) -> Iterator[Reason]:
    for item in _items(value):
        if isinstance(item, str):
            continue
        if (
            isinstance(item, Mapping)
            and isinstance(item.get("@value"), str)
            and set(item) <= _LANGUAGE_VALUE_KEYS
            and all(isinstance(item[k], str) for k in item)
        ):
            continue
        yield _reason(
            "language_value_invalid",
            path,
            "应为字符串，或只含 @value、@language、@direction 的语言值对象",
            "must be a string or a language value object (@value, @language, @direction only).",
        )
        return


def _related_errors(value: object) -> Iterator[Reason]:
    seen: set[str] = set()
    for index, item in enumerate(_items(value)):
        path = f"relatedResource[{index}]"
        if not isinstance(item, Mapping):
            yield _reason("related_invalid", path, "应为对象", "must be an object.")
            continue
        if not is_url(item.get("id")):
            yield _reason("related_invalid", f"{path}.id", "应为 URL", "must be a URL.")
        elif item["id"] in seen:
            yield _reason("related_invalid", f"{path}.id", "id 重复", "the id is not unique.")
        else:
            seen.add(item["id"])
        if not any(isinstance(item.get(k), str) for k in ("digestSRI", "digestMultibase")):
            yield _reason(
                "related_invalid",
                path,
                "应有 digestSRI 或 digestMultibase",
                "must have a digestSRI or a digestMultibase.",
            )


def data_model_errors(document: Mapping[str, Any]) -> list[Reason]:
    """The VCDM 2.0 rules (module docstring) ``document`` breaks; it must already have the
    shape of a credential or presentation (an ``@context`` array starting with the base
    context, string types, a URL ``id`` if any: ``verifier.foreign`` checks those)."""
    errors: list[Reason] = []
    terms = _Terms()
    context = document.get("@context")
    if isinstance(context, list):
        errors += _context_errors(context, terms)
    errors += _type_errors("type", document.get("type"), terms, required=False)
    issuer = document.get("issuer")
    for name in ("name", "description"):
        if name in document:
            errors += _language_errors(name, document[name])
        if isinstance(issuer, Mapping) and name in issuer:
            errors += _language_errors(f"issuer.{name}", issuer[name])
    subject = document.get("credentialSubject")
    for index, node in enumerate(_items(subject)):
        if isinstance(node, Mapping):
            errors += _id_errors(f"credentialSubject[{index}]", node)
    for prop in _TYPED:
        if prop not in document:
            continue
        for index, node in enumerate(_items(document[prop])):
            path = f"{prop}[{index}]"
            if not isinstance(node, Mapping):
                errors.append(_reason("object_invalid", path, "应为对象", "must be an object."))
                continue
            errors += _id_errors(path, node)
            errors += _type_errors(f"{path}.type", node.get("type"), terms, required=True)
            if prop == "credentialSchema" and not is_url(node.get("id")):
                errors.append(_reason("id_invalid", f"{path}.id", "应为 URL", "must be a URL."))
    if "relatedResource" in document:
        errors += _related_errors(document["relatedResource"])
    return errors
