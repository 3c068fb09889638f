"""Suixin verifier: check a credential bundle against the chain alone (standalone library)."""
