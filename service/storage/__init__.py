"""Durable storage: SQLAlchemy models, engine set-up, Alembic migrations, sealing at rest.

``models`` and ``wallet`` hold every table, ``db`` the engine and sessions (with SQLite's
writer lock), ``sealing`` the master key that encrypts private keys at rest.

May import: ``config``, ``clock`` and ``verifier`` only; every other package builds on it.
"""
