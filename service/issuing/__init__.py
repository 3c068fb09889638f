"""Issuing: the office (its authorities, keys, API keys) and issuance into durable storage.

``office`` holds the ``Office`` every other package works through (database, chain, deployment,
signers and accounts opened from the key store), ``issuance`` builds and signs a credential,
``signer`` is the seam for an HSM, ``signing_pool`` signs on every core, ``bulk`` reads CSV and
JSON Lines files into ``Office.issue_many``.

May import: ``service.audit``, ``service.storage``, ``config``, ``clock`` and ``verifier``.
"""
