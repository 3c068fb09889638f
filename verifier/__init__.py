"""Suixin verifier: the standalone library partner cities install to check credentials."""
