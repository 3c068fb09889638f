"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) with their scripts served by the office itself.

FastAPI's pages load Swagger UI and ReDoc from a CDN, so an office without internet (the usual
case in a government network) shows two blank pages. Here the pages name ``/docs/assets/…``,
served from the npm packages ``swagger-ui-dist`` and ``redoc`` that ``make run`` installs
(``package.json`` pins them). Only the files the pages use are served; without the packages the
asset routes answer 404 naming the missing install step.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from service.issuing.office import NotFound

__all__ = ["ASSETS", "install_api_docs"]

NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
# served name → (file under node_modules, media type)
ASSETS: dict[str, tuple[str, str]] = {
    "swagger-ui-bundle.js": (
        "swagger-ui-dist/swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
    ),
    "swagger-ui.css": ("swagger-ui-dist/swagger-ui.css", "text/css; charset=utf-8"),
    "favicon-32x32.png": ("swagger-ui-dist/favicon-32x32.png", "image/png"),
    "redoc.standalone.js": (
        "redoc/bundles/redoc.standalone.js",
        "text/javascript; charset=utf-8",
    ),
}


def asset(name: str) -> FileResponse:
    """One script, style sheet or icon of the two pages (cached a day)."""
    known = ASSETS.get(name)
    path = NODE_MODULES / known[0] if known else None
    if known is None or path is None or not path.is_file():
        raise NotFound(
            f"no documentation asset {name!r} (run `make run` or `npm install`)",
            f"没有文档资源 {name!r}（请运行 make run 或 npm install）",
        )
    return FileResponse(path, media_type=known[1], headers={"Cache-Control": "max-age=86400"})


def install_api_docs(app: FastAPI) -> None:
    """Add ``/docs`` and ``/redoc`` (the app is made with ``docs_url=None, redoc_url=None``)."""
    title = app.title
    openapi_url = app.openapi_url or "/openapi.json"
    router = APIRouter(include_in_schema=False)
    router.add_api_route("/docs/assets/{name}", asset, methods=["GET"])

    @router.get("/docs")
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} — API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )

    @router.get("/redoc")
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} — API",
            redoc_js_url="/docs/assets/redoc.standalone.js",
            redoc_favicon_url="/docs/assets/favicon-32x32.png",
            with_google_fonts=False,
        )

    app.include_router(router)
