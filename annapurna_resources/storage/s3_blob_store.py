"""Content-addressed, write-once blobs in an S3 bucket (or any S3-compatible endpoint).

Objects are `<prefix>/<sha256>`; a blob that exists is never rewritten: `put` asks with head_object first, and the
upload itself is conditional (`If-None-Match: *`), so two writers racing on the same bytes cannot overwrite each other.
The client comes from dagster-aws's S3Resource (credentials from the standard AWS chain).
"""

import botocore.exceptions
from dagster_aws.s3 import S3Resource
from pydantic import Field, PrivateAttr

from annapurna_resources.storage.blob_store import (
    BLOB_SCHEME,
    BlobNotFoundError,
    BlobStore,
    _digest,
    content_type,
    sha256_hex,
)

MISSING_CODES = {"404", "NoSuchKey", "NotFound"}
DENIED_CODES = {"403", "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
ALREADY_WRITTEN_CODES = {"412", "PreconditionFailed", "ConditionalRequestConflict"}


class S3BlobStoreError(RuntimeError):
    """The bucket is missing, access is denied, or S3 cannot be reached."""


class S3BlobStore(BlobStore):
    """Blobs as objects `s3://<bucket>/<prefix>/<sha256>`."""

    bucket: str
    prefix: str = Field(
        default="annapurna/blobs", description="Key prefix: objects are s3://<bucket>/<prefix>/<sha256>."
    )
    region: str = Field(default="us-east-1", description="The bucket's region.")
    endpoint_url: str = Field(
        default="", description="An S3-compatible endpoint (MinIO, LocalStack, moto); empty: AWS."
    )
    _client: object = PrivateAttr(default=None)

    def put(self, data: bytes) -> str:
        """Store `data` and return its reference `blob://<sha256>`; never rewrites an existing blob."""
        digest = sha256_hex(data)
        ref = BLOB_SCHEME + digest
        if self.exists(ref):
            return ref
        try:
            self._s3().put_object(Bucket=self.bucket, Key=self._key(digest), Body=data, IfNoneMatch="*")
        except botocore.exceptions.ClientError as error:
            if _code(error) not in ALREADY_WRITTEN_CODES:  # else another writer stored the same bytes first
                raise self._error(error, f"storing {ref}") from error
        except botocore.exceptions.BotoCoreError as error:
            raise self._error(error, f"storing {ref}") from error
        return ref

    def get(self, ref: str) -> bytes:
        key = self._key(_digest(ref))
        try:
            return self._s3().get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except botocore.exceptions.ClientError as error:
            if _code(error) in MISSING_CODES:
                raise BlobNotFoundError(f"blob {ref} is not in the store at {self.location(ref)}") from error
            raise self._error(error, f"reading {ref}") from error
        except botocore.exceptions.BotoCoreError as error:
            raise self._error(error, f"reading {ref}") from error

    def exists(self, ref: str) -> bool:
        key = self._key(_digest(ref))
        try:
            self._s3().head_object(Bucket=self.bucket, Key=key)
            return True
        except botocore.exceptions.ClientError as error:
            if _code(error) in MISSING_CODES:
                # HEAD answers a bare 404 for a missing bucket too: tell the two apart once, with a clear error.
                self._check_bucket()
                return False
            raise self._error(error, f"looking up {ref}") from error
        except botocore.exceptions.BotoCoreError as error:
            raise self._error(error, f"looking up {ref}") from error

    def location(self, ref: str) -> str:
        return f"s3://{self.bucket}/{self._key(_digest(ref))}"

    def browser_url(self, ref: str, suffix: str) -> str:
        """A presigned GET link (valid seven days, the longest SigV4 allows) served as `suffix`'s content type."""
        return self._s3().generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._key(_digest(ref)),
                "ResponseContentType": content_type(suffix),
                "ResponseContentDisposition": f'inline; filename="{_digest(ref)[:12]}{suffix}"',
            },
            ExpiresIn=7 * 24 * 3600,
        )

    def _key(self, digest: str) -> str:
        prefix = self.prefix.strip("/")
        return f"{prefix}/{digest}" if prefix else digest

    def _s3(self):
        if not self.bucket:
            raise S3BlobStoreError("S3BlobStore needs a bucket: set blob_store.bucket (with blob_store.kind s3)")
        if self._client is None:
            s3 = S3Resource(region_name=self.region or None, endpoint_url=self.endpoint_url or None)
            self._client = s3.get_client()
        return self._client

    def _check_bucket(self) -> None:
        try:
            self._s3().head_bucket(Bucket=self.bucket)
        except botocore.exceptions.ClientError as error:
            raise self._error(error, "checking the bucket") from error

    def _error(self, error: Exception, doing: str) -> S3BlobStoreError:
        where = f"s3://{self.bucket}" + (f" at {self.endpoint_url}" if self.endpoint_url else "")
        code = _code(error) if isinstance(error, botocore.exceptions.ClientError) else ""
        if code in MISSING_CODES | {"NoSuchBucket"}:
            return S3BlobStoreError(
                f"S3 bucket {self.bucket!r} does not exist ({where}): create it or fix blob_store.bucket"
            )
        if code in DENIED_CODES:
            return S3BlobStoreError(
                f"access denied to {where} while {doing}: the AWS credentials need s3:GetObject, s3:PutObject "
                f"and s3:ListBucket on the bucket ({error})"
            )
        return S3BlobStoreError(f"S3 error while {doing} in {where}: {error}")


def _code(error: botocore.exceptions.ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
