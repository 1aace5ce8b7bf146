"""The reviewer's console: one server-rendered page with a little JavaScript, at `/console`.

The page itself needs no key (it holds no data); the reviewer signs in with a key of the
`review` scope, kept in the tab's session storage, and the page calls `/v1/reviews…` with it.
No front-end build: the HTML, CSS and script are one file beside this package
(`api/console/index.html`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

__all__ = ["router", "CONSOLE_HTML"]

CONSOLE_HTML = Path(__file__).resolve().parents[1] / "console" / "index.html"
router = APIRouter(tags=["console"])


@lru_cache(maxsize=1)
def _page() -> str:
    return CONSOLE_HTML.read_text(encoding="utf-8")


@router.get("/console", response_class=HTMLResponse, include_in_schema=False)
def console() -> HTMLResponse:
    """The review console (sign in with a `review` key)."""
    return HTMLResponse(_page(), headers={
        "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                   "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
    })
