"""The HTTP API (FastAPI): a thin layer over identity, policy, store and audit."""

from santegarde.api.app import create_app

__all__ = ["create_app"]
