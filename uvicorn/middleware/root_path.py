"""``--root-path``: the app is mounted below a URL prefix that a proxy strips.

As in uvicorn, ``root_path`` is set and also prefixed to ``path`` and
``raw_path``, so the app sees the full URL the client asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uvicorn._types import Scope

__all__ = ["RootPath"]


class RootPath:
    __slots__ = ("raw", "root_path")

    def __init__(self, root_path: str) -> None:
        self.root_path = root_path
        self.raw = root_path.encode("utf-8")

    def __call__(self, scope: Scope) -> None:
        scope["root_path"] = self.root_path
        scope["path"] = self.root_path + scope["path"]
        scope["raw_path"] = self.raw + scope["raw_path"]
