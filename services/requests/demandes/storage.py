"""Where document files live: a directory from the settings (outside any web root), one file per
document under a random name (never the uploaded name), readable by this service's user only."""
from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

_KEY = re.compile(r"^[0-9a-f]{32}$")


class FileStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):  # keys are ours; anything else is a bug or tampering
            raise ValueError("invalid storage key")
        return self.root / key[:2] / key

    def put(self, content: bytes) -> str:
        """Store the content under a new random key (atomically: written then renamed)."""
        key = secrets.token_hex(16)
        path = self._path(key)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{key}.part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def keys(self) -> list[str]:
        """Every stored key (tests and operators: what is on disk)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.glob("*/*") if _KEY.match(p.name))
