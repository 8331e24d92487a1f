"""S3BlobStore against the moto server on loopback, and the lifecycle with its blobs in S3."""

import shutil

import pytest

from annapurna_resources.storage.blob_store import BlobNotFoundError, sha256_hex
from annapurna_resources.storage.s3_blob_store import S3BlobStore, S3BlobStoreError
from tests.aws_standin import REGION, client
from tests.conftest import configure

BUCKET = "annapurna-test"
DEMO_PAPERS = ["02_SwitchTransformers_JMLR2022.pdf", "09_Re_BinaryOptimizerBop_ReScienceC2020.pdf"]


@pytest.fixture
def s3(aws_endpoint):
    s3 = client("s3", aws_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    return s3


@pytest.fixture
def store(s3, aws_endpoint) -> S3BlobStore:
    return S3BlobStore(bucket=BUCKET, prefix="papers/blobs/", region=REGION, endpoint_url=aws_endpoint)


def test_put_get_exists_are_content_addressed(store, s3):
    ref = store.put(b"paper bytes")
    digest = sha256_hex(b"paper bytes")
    assert ref == "blob://" + digest
    assert store.exists(ref) and store.get(ref) == b"paper bytes"
    assert store.location(ref) == f"s3://{BUCKET}/papers/blobs/{digest}"
    listed = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert [obj["Key"] for obj in listed] == [f"papers/blobs/{digest}"]


def test_put_never_overwrites_a_stored_blob(store, s3):
    ref = store.put(b"first write")
    key = f"papers/blobs/{ref.removeprefix('blob://')}"
    etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
    # Tamper with the object behind the store's back: a second put of the same bytes must leave it alone.
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"tampered")
    tampered_etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
    assert tampered_etag != etag
    assert store.put(b"first write") == ref
    assert s3.head_object(Bucket=BUCKET, Key=key)["ETag"] == tampered_etag
    assert len(s3.list_objects_v2(Bucket=BUCKET)["Contents"]) == 1


def test_missing_blob_and_malformed_reference(store):
    missing = "blob://" + "0" * 64
    assert not store.exists(missing)
    with pytest.raises(BlobNotFoundError, match=f"s3://{BUCKET}/papers/blobs/0000"):
        store.get(missing)
    with pytest.raises(ValueError, match="not a blob reference"):
        store.get("blob://../../etc/passwd")


def test_missing_bucket_and_no_bucket_are_clear_errors(aws_endpoint):
    store = S3BlobStore(bucket="annapurna-absent", region=REGION, endpoint_url=aws_endpoint)
    absent = "blob://" + "1" * 64
    for action in (lambda: store.put(b"x"), lambda: store.get(absent), lambda: store.exists(absent)):
        with pytest.raises(S3BlobStoreError, match="bucket 'annapurna-absent' does not exist"):
            action()
    with pytest.raises(S3BlobStoreError, match="blob_store.bucket"):
        S3BlobStore(bucket="", endpoint_url=aws_endpoint).put(b"x")


def test_lifecycle_stores_pdf_text_and_code_blobs_in_s3(s3, aws_endpoint, instance, tmp_path, monkeypatch):
    from annapurna_assets.cli.demo import run_demo
    from annapurna_assets.definitions import build_definitions
    from annapurna_assets.settings import DEMO_CORPUS

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in DEMO_PAPERS:
        shutil.copy(DEMO_CORPUS / name, inbox / name)
    configure(
        paper_folder={"folder": str(inbox)},
        blob_store={"kind": "s3", "bucket": BUCKET, "prefix": "e2e"},
        aws={"endpoint_url": aws_endpoint},
    )
    defs = build_definitions()
    store = defs.resources["blob_store"]
    assert isinstance(store, S3BlobStore)

    outcome = run_demo(defs, instance)
    assert outcome["new_papers"] == 2 and not outcome["failed_runs"]

    stored = {obj["Key"] for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix="e2e/")["Contents"]}
    assert not (tmp_path / "home" / "blobs").exists()
    docs = defs.resources["paper_index"].all_documents()
    assert len(docs) == 2
    for doc in docs.values():
        refs = {"pdf": doc["pdf"]["ref"], "text": doc["text"]["ref"], "code": doc["code"]["ref"]}
        for what, ref in refs.items():
            assert "e2e/" + ref.removeprefix("blob://") in stored, (what, ref)
        pdf_name = doc["source"]["file_name"]
        assert store.get(refs["pdf"]) == (inbox / pdf_name).read_bytes()
        assert "def " in store.get(refs["code"]).decode()
        assert doc["run"]["status"] == "ok" and store.exists(doc["profile"]["trace_ref"])
