"""The read-only blob server `annapurna ui` runs for the browser."""

import urllib.error
import urllib.request

import pytest

from annapurna_resources.storage.blob_server import perfetto_url, serve_blobs
from annapurna_resources.storage.blob_store import LocalBlobStore


def test_blobs_are_served_read_only_with_the_suffixs_type(tmp_path):
    store = LocalBlobStore(root=str(tmp_path / "blobs"), browser_base_url="http://127.0.0.1:0")
    ref = store.put(b'{"traceEvents": []}')
    server = serve_blobs(store, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        url = base + store.browser_url(ref, ".json").split(":0", 1)[1]
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.read() == b'{"traceEvents": []}'
            assert response.headers["Content-Type"] == "application/json"
            assert response.headers["Access-Control-Allow-Origin"] == "*"  # Perfetto loads it from another origin
        assert perfetto_url(url) == f"https://ui.perfetto.dev/#!/?url={url}"
        for path in ("/blobs/" + "0" * 64 + ".png", "/blobs/../../etc/passwd", "/blobs/" + ref[7:] + ".exe", "/"):
            with pytest.raises(urllib.error.HTTPError) as error:
                urllib.request.urlopen(base + path, timeout=10)
            assert error.value.code == 404
        with pytest.raises(urllib.error.HTTPError) as error:  # read-only: nothing but GET and HEAD
            urllib.request.urlopen(urllib.request.Request(url, data=b"x", method="POST"), timeout=10)
        assert error.value.code == 501
    finally:
        server.shutdown()
        server.server_close()
