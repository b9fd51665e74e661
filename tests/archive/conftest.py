"""The archive is checked against the server's own stores and export: the same fixture."""

from tests.server.conftest import store_url

__all__ = ["store_url"]
