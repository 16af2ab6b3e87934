"""``/docs``: Swagger UI served from a pinned package (``swagger-ui-py``), never from a CDN, so it
works offline. The package is a development dependency (the local server's); where it is not
installed (the Lambda bundle, whose API Gateway routes only the prediction URLs) there is no
``/docs`` at all rather than a page that loads scripts from the internet.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS = "/docs/assets"


def swagger_ui_dir() -> Path | None:
    """The package's static folder, found without importing it (its handlers need jinja2)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def add_docs_routes(app: FastAPI) -> None:
    folder = swagger_ui_dir()
    if folder is None or app.openapi_url is None:
        return
    app.mount(ASSETS, StaticFiles(directory=folder), name="swagger-ui-assets")
    openapi_url = app.openapi_url

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )
