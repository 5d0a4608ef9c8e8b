"""The blob store: uploaded documents and issued results, kept by the SHA-256 of their content.

On one machine the blobs are files under ``DATA_DIR/blobs`` (two levels of folders by hash prefix);
production swaps in an S3-compatible store behind the same three methods. A blob is written once and
never changed, so a key always means the same bytes. ``sniff_type`` names a file's type by its first
bytes, so an upload is judged by what it is, not by what its name or its sender claim.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

KEY_RE = re.compile(r"^[0-9a-f]{64}$")

# content type → (extensions it may carry, test on the first bytes)
KNOWN_TYPES: dict[str, tuple[tuple[str, ...], tuple[bytes, ...]]] = {
    "application/pdf": ((".pdf",), (b"%PDF-",)),
    "image/png": ((".png",), (b"\x89PNG\r\n\x1a\n",)),
    "image/jpeg": ((".jpg", ".jpeg"), (b"\xff\xd8\xff",)),
}


def sniff_type(data: bytes) -> str | None:
    """The content type that the bytes themselves show (PDF, PNG or JPEG), or None when unknown."""
    for content_type, (_extensions, magics) in KNOWN_TYPES.items():
        if any(data.startswith(magic) for magic in magics):
            return content_type
    return None


def extension_fits(filename: str, content_type: str) -> bool:
    """Whether the file name's extension is one that ``content_type`` may carry."""
    suffix = Path(filename).suffix.lower()
    return suffix in KNOWN_TYPES.get(content_type, ((), ()))[0]


@dataclass(frozen=True)
class StoredBlob:
    """Where a blob is kept and what it is."""

    key: str
    size: int


class BlobStore:
    """Content-addressed files under one folder; safe for several processes (write, then rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not KEY_RE.match(key):
            raise KeyError(key)
        return self.root / key[:2] / key[2:4] / key

    def put(self, data: bytes) -> StoredBlob:
        """Keep ``data``; storing the same bytes twice keeps one copy."""
        key = hashlib.sha256(data).hexdigest()
        path = self._path(key)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return StoredBlob(key=key, size=len(data))

    def get(self, key: str) -> bytes:
        """The bytes of a blob; ``KeyError`` when there is none with this key."""
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise KeyError(key) from exc

    def exists(self, key: str) -> bool:
        try:
            return self._path(key).exists()
        except KeyError:
            return False


def blob_store(data_dir: Path) -> BlobStore:
    """The blob store of a data folder."""
    return BlobStore(data_dir / "blobs")
