"""Fuzz suite of the public API (hypothesis; see ``conftest.py`` for the profiles)."""
