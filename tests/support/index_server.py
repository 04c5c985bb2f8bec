"""The tests serve wheels with the demo's loopback index (one piece of code for both)."""

from depbot.demo.index_server import IndexServer, serve_index

__all__ = ["IndexServer", "serve_index"]
