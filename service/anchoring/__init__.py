"""Anchoring: the office's chain side, and the worker that drives it.

``worker`` (``AnchorWorker``) runs every background pass: credential batches (``batches``:
Merkle roots on chain, receipts), SD-JWT batches (``sdjwt``), the sweep and the queued status
changes (``tasks``, ``status_sender``), the audit trail's head (``service.audit.anchor``).
``node`` hosts the embedded chain as a JSON-RPC node, ``devnode`` starts anvil.

May import: ``service.lifecycle``, ``service.wallet``, ``service.issuing``, ``service.audit``,
``service.storage``, ``config``, ``clock`` and ``verifier``; never ``trust``, ``cli``, ``api``
or ``web``.
"""
