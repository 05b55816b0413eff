"""The package version (a value-layer module, so every layer may read it)."""

__version__ = "0.1.0"
