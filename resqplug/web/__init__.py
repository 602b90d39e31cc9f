"""The web dashboard (``pip install 'resqplug[web]'``).

    resqplug web                        # http://127.0.0.1:5678
    app.mount("/resque", resqplug.web.create_app())       # inside Starlette/FastAPI
    flask_app.wsgi_app = DispatcherMiddleware(flask_app.wsgi_app,
                                              {"/resque": resqplug.web.wsgi_app()})

The page types (Page, Section, Button, Progress, Endpoint) import without the web extra,
so a plugin can offer its pages whether or not the dashboard is installed.
"""

from __future__ import annotations

from typing import Any

from .pages import Button, Endpoint, Page, Progress, Section, redact

__all__ = ["Button", "Endpoint", "Page", "Progress", "Section", "create_app", "redact", "wsgi_app"]


def create_app(*args: Any, **kwargs: Any) -> Any:
    """The dashboard as an ASGI app; see resqplug.web.server.create_app."""
    from .server import create_app as make

    return make(*args, **kwargs)


def wsgi_app(*args: Any, **kwargs: Any) -> Any:
    """The dashboard as a WSGI app; see resqplug.web.server.wsgi_app."""
    from .server import wsgi_app as make

    return make(*args, **kwargs)
