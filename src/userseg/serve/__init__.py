"""The REST service: ``create_app(db)`` → a FastAPI app (``userseg serve`` runs it with uvicorn).

Endpoints, limits and the error shape are described in ``docs/api.md``; the
OpenAPI schema (``/openapi.json``, committed as ``docs/openapi.json``) is the
contract. FastAPI and uvicorn are the optional extra ``userseg[serve]``: they
are imported only when the app is built, so API-key management
(:mod:`userseg.serve.auth`) works without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from userseg.errors import DependencyError

if TYPE_CHECKING:
    from userseg.serve.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        try:
            from userseg.serve.app import create_app
        except ModuleNotFoundError as exc:
            if exc.name in ("fastapi", "starlette", "pydantic", "anyio"):
                raise DependencyError(
                    f"the REST service needs {exc.name}: pip install 'userseg[serve]' "
                    "(in a source checkout: .venv/bin/pip install -e '.[serve]')."
                ) from None
            raise
        return create_app
    raise AttributeError(f"module 'userseg.serve' has no attribute {name!r}")
