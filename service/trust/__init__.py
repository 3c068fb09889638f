"""Trust: the registries and an office's place in them.

``deployment`` deploys the TrustRegistry and AnchorRegistry and keeps a data directory's record
of them (and the development governance root); ``governance`` is the province root's side
(accredit, suspend, remove); ``authorities`` enrols an authority in an office; ``keys``,
``rotation`` and ``compromise`` are the key operations (rotate, revoke from a past moment,
re-issue what a revocation invalidates, move to a new chain account).

May import: ``service.anchoring`` (a rotation anchors the old key's queue first),
``service.lifecycle``, ``service.issuing``, ``service.audit``, ``service.storage``, ``config``,
``clock`` and ``verifier``; never ``cli``, ``api`` or ``web``.
"""
