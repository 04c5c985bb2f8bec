"""Persistence, not a stage: the SQLite store (``store``) and the run lock (``lock``)."""
