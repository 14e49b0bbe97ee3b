"""Where export files go: a directory by default; S3-compatible buckets behind the same contract.

The contract is four calls. ``put`` must make the object visible atomically (readers never see
half a zip), and the export job writes every zip before it rewrites ``index.txt``.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

__all__ = ["ExportStorage", "LocalDirectoryStorage", "valid_export_name"]

_NAME = re.compile(r"(index\.txt|\d{1,20}-\d{1,20}-\d{5}\.zip)")


def valid_export_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name))


class ExportStorage(Protocol):
    def put(self, name: str, data: bytes) -> None: ...
    def get(self, name: str) -> bytes | None: ...
    def delete(self, name: str) -> None: ...
    def names(self) -> list[str]: ...


class LocalDirectoryStorage:
    """Files in one directory, written by rename so each appears whole."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        if not valid_export_name(name):
            raise ValueError(f"not an export file name: {name!r}")
        return self.root / name

    def put(self, name: str, data: bytes) -> None:
        target = self._path(name)
        fd, temp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, 0o644)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def get(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except (FileNotFoundError, ValueError):
            return None

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if valid_export_name(p.name))
