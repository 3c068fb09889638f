"""The web pages of an office deployment: the citizen wallet, the counter, the office console.

Built on the API's dependencies and errors (``service.api``); ``service.app`` mounts them.

May import: ``service.api``, every domain package, ``runtime``, ``config`` and ``clock``; never
``cli`` or ``app``.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from service.config import Settings
from service.web import api_docs, pages, wallet_api

__all__ = ["install_web"]


def install_web(app: FastAPI, settings: Settings) -> None:
    """Add the pages, the wallet and counter protocols, the static files and the API's
    documentation pages to ``app`` (made with ``docs_url=None, redoc_url=None``)."""
    app.state.suixin_counter = wallet_api.make_counter(app, settings.data_dir)
    app.state.suixin_sessions = pages.Sessions()
    app.include_router(wallet_api.router)
    app.include_router(pages.router)
    app.mount(
        "/static",
        StaticFiles(directory=pages.HERE / "static", packages=[("verifier.counter", "static")]),
        name="static",
    )
    api_docs.install_api_docs(app)  # /docs and /redoc with their scripts served here
