"""Whoosh imported without ``urllib.request``.

``whoosh.compat``, which every Whoosh module imports, does ``from urllib.request import
urlretrieve`` for a function Whoosh never calls; ``urllib.request`` brings ``http.client``,
``ssl`` and ``email``: 20-35 ms of every cold ``newsearch search`` (a tenth of it). Whoosh is
first imported with a stand-in for ``urllib.request`` that holds only ``urlretrieve``; the
stand-in is removed at once, so any later ``import urllib.request`` gets the real module, and the
``urlretrieve`` left in ``whoosh.compat`` imports the real one if it is ever called.
"""

from __future__ import annotations

import sys
import types
from typing import Any


def _urlretrieve(*args: Any, **kwargs: Any) -> Any:
    from urllib.request import urlretrieve

    return urlretrieve(*args, **kwargs)


def import_whoosh() -> None:
    """Import ``whoosh.compat`` (see the module's doc); nothing if it is already imported."""
    if "whoosh.compat" in sys.modules:
        return
    if "urllib.request" in sys.modules:
        import whoosh.compat  # noqa: F401

        return
    stand_in = types.ModuleType("urllib.request")
    stand_in.urlretrieve = _urlretrieve  # type: ignore[attr-defined]
    sys.modules["urllib.request"] = stand_in
    try:
        import whoosh.compat  # noqa: F401
    finally:
        if sys.modules.get("urllib.request") is stand_in:
            del sys.modules["urllib.request"]
