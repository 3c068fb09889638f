"""Suixin issuing-office service."""
