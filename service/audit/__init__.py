"""The audit trail: every state-changing action is a row of a hash chain whose head goes on chain.

``trail`` records rows (into an inbox, chained by the worker), chains them and checks the
chain; ``anchor`` puts the head on chain (``HeadAnchorer``); ``verify`` checks the whole trail
against its anchors (``suixin audit verify``).

May import: ``service.storage``, ``config``, ``clock`` and ``verifier``. It does not import the
office: the head anchorer takes anything with a database, chain, deployment and accounts
(``anchor.ChainOffice``), so issuing can record rows without a cycle.
"""
