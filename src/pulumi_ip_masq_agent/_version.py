"""The package version: the one place it is stated (pyproject.toml and the provider read it)."""

__version__ = "0.1.0"
