"""Optional extras, imported on first use.

pyarrow, openpyxl, redis and tqdm are extras rather than dependencies: most
scripts never write a spreadsheet or publish to Redis, and each of them costs
import time and megabytes. ``need`` imports one when a feature first asks for
it and, when it is missing, raises a ``ConfigurationError`` carrying the exact
``pip install`` command, so the user never meets a bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Dict, Tuple

from .errors import ConfigurationError

# module to import -> (extra that provides it, what it is for)
EXTRAS: Dict[str, Tuple[str, str]] = {
    "pyarrow": ("parquet", "writing Parquet files"),
    "openpyxl": ("excel", "writing Excel files"),
    "redis": ("redis", "Redis Streams fan-out"),
    "tqdm": ("progress", "progress bars"),
}


def install_hint(module: str) -> str:
    """The exact pip command that installs the extra providing ``module``."""
    extra = EXTRAS[module.split(".")[0]][0]
    return f"pip install 'mdsdk[{extra}]'"


def need(module: str) -> ModuleType:
    """Import ``module`` (one of the optional extras' modules) or raise a
    ``ConfigurationError`` that names the feature and the pip command to run."""
    root = module.split(".")[0]
    if root not in EXTRAS:
        raise ValueError(f"{module!r} is not an optional extra of mdsdk")
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        purpose = EXTRAS[root][1]
        raise ConfigurationError(f"{purpose} needs the {root!r} package, which is not installed: "
                                 f"run {install_hint(root)}") from exc
