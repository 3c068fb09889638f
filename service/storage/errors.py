"""Errors of stored data: what the database holds no longer checks out.

::

    SuixinError
    └── StorageError                 stored data cannot be used
        └── StoredDataAltered        a row fails its integrity check (a document whose digest
                                     does not match, batch leaves that do not make the root)
"""

from __future__ import annotations

from verifier.errors import SuixinError

__all__ = ["StorageError", "StoredDataAltered"]


class StorageError(SuixinError):
    """Stored data cannot be used."""


class StoredDataAltered(StorageError):
    """A stored row fails its integrity check: it was changed outside the office. Never served
    as genuine; the audit trail and ``suixin chain reconcile`` help find what happened."""
