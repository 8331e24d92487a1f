from pathlib import Path

import pytest

from annapurna_resources import LocalBlobStore
from annapurna_resources.storage.blob_store import BlobNotFoundError, sha256_hex


def test_put_is_content_addressed_and_write_once(tmp_path):
    store = LocalBlobStore(root=str(tmp_path))
    ref = store.put(b"paper bytes")
    assert ref == "blob://" + sha256_hex(b"paper bytes")
    path = Path(store.location(ref))
    mtime = path.stat().st_mtime_ns
    assert store.put(b"paper bytes") == ref
    assert path.stat().st_mtime_ns == mtime
    assert len(list(tmp_path.rglob("*"))) == 2  # one shard folder, one blob
    assert store.get(ref) == b"paper bytes"


def test_missing_and_malformed_references(tmp_path):
    store = LocalBlobStore(root=str(tmp_path))
    with pytest.raises(BlobNotFoundError):
        store.get("blob://" + "0" * 64)
    with pytest.raises(ValueError):
        store.get("blob://../../etc/passwd")
