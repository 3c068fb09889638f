"""The wallet side of the office: SD-JWT VCs claimed over OpenID4VCI, and authorised use (授权调用).

``oid4vci`` makes one-time offers and runs the pre-authorised code flow (the worker anchors the
SD-JWTs, ``service.anchoring.sdjwt``); ``grants`` lets a holder allow one partner office to
fetch one credential, with every access logged.

May import: ``service.issuing``, ``service.audit``, ``service.storage``, ``config``, ``clock``
and ``verifier``.
"""
