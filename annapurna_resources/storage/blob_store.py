"""Content-addressed, write-once blob store on a local directory.

Keys are sha256 hex digests of the content; a blob is written once and never deleted or
overwritten, so storing the same bytes twice is a no-op. Assets keep `blob://<sha256>` references.
"""

import abc
import hashlib
import os
import tempfile
from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from annapurna_resources.storage.home import state_path

BLOB_SCHEME = "blob://"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobNotFoundError(KeyError):
    pass


class BlobStore(dg.ConfigurableResource, abc.ABC):
    """Content-addressed, write-once blobs: `LocalBlobStore` (default) and `S3BlobStore`."""

    @abc.abstractmethod
    def put(self, data: bytes) -> str:
        """Store `data` and return its reference `blob://<sha256>`; never rewrites an existing blob."""

    @abc.abstractmethod
    def get(self, ref: str) -> bytes:
        """The blob's bytes; BlobNotFoundError when it is not stored."""

    @abc.abstractmethod
    def exists(self, ref: str) -> bool: ...

    @abc.abstractmethod
    def location(self, ref: str) -> str:
        """Where a user finds the blob (a file path, an s3:// URL): for metadata links."""

    @abc.abstractmethod
    def browser_url(self, ref: str, suffix: str) -> str:
        """A link a browser opens the blob with, as a file ending in `suffix` (`.png`, `.json`, `.py`)."""


class LocalBlobStore(BlobStore):
    """Blobs as files `<root>/<sha[:2]>/<sha>`; root defaults to `$ANNAPURNA_HOME/blobs`."""

    root: str = Field(default="", description="The blob directory; empty: $ANNAPURNA_HOME/blobs.")
    browser_base_url: str = Field(
        default="http://127.0.0.1:9001",
        description="Where `annapurna ui` serves blobs read-only to browsers (Perfetto opens traces from port 9001).",
    )
    _root: Path = PrivateAttr()

    def model_post_init(self, __context) -> None:
        self._root = state_path(self.root, "blobs")

    def put(self, data: bytes) -> str:
        """Store `data` and return its reference `blob://<sha256>`; never rewrites an existing blob."""
        digest = sha256_hex(data)
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                tmp.write(data)
            os.chmod(tmp.name, 0o444)
            os.replace(tmp.name, path)
        return BLOB_SCHEME + digest

    def get(self, ref: str) -> bytes:
        path = self._path(_digest(ref))
        if not path.exists():
            raise BlobNotFoundError(f"blob {ref} is not in the store at {self._root}")
        return path.read_bytes()

    def exists(self, ref: str) -> bool:
        return self._path(_digest(ref)).exists()

    def location(self, ref: str) -> str:
        return str(self._path(_digest(ref)))

    def browser_url(self, ref: str, suffix: str) -> str:
        """The blob as served read-only by `annapurna ui` (see `blob_server`)."""
        return f"{self.browser_base_url.rstrip('/')}/blobs/{_digest(ref)}{suffix}"

    def _path(self, digest: str) -> Path:
        return self._root / digest[:2] / digest


def _digest(ref: str) -> str:
    digest = ref.removeprefix(BLOB_SCHEME)
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"not a blob reference: {ref!r}")
    return digest


CONTENT_TYPES = {
    ".png": "image/png",
    ".json": "application/json",
    ".pdf": "application/pdf",
    ".py": "text/plain; charset=utf-8",  # shown by the browser, not downloaded
    ".txt": "text/plain; charset=utf-8",
}


def content_type(suffix: str) -> str:
    return CONTENT_TYPES.get(suffix, "application/octet-stream")
