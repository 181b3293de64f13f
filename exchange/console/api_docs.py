"""The API's documentation page at /schema, working offline: Swagger UI's scripts, styles and
icon are served by the exchange from the `swagger-ui-py` package, never fetched from the internet."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router

ASSETS = "/schema/assets"


def swagger_ui_directory() -> Path:
    """The package's folder of Swagger UI files, found without importing its framework glue."""
    spec = find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is missing: it serves /schema's page")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def docs_page() -> SwaggerRenderPlugin:
    """Swagger UI at /schema, every file it loads served from ASSETS."""
    return SwaggerRenderPlugin(
        path="/",
        js_url=f"{ASSETS}/swagger-ui-bundle.js",
        css_url=f"{ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>",
    )


def docs_assets() -> Router:
    return create_static_files_router(
        path=ASSETS, directories=[swagger_ui_directory()], include_in_schema=False
    )
