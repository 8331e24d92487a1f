"""Run by the instance's Python in SSM mode (as `python -c`): moves a batch between S3 and the instance.

`download BUCKET PREFIX DIR` copies PREFIX/* into DIR; `upload BUCKET PREFIX DIR NAMES` copies DIR/<paper>/<name>
(NAMES comma-separated) to PREFIX/<paper>/<name>; `done BUCKET KEY CODE` puts the done marker with the runner's exit
code. The endpoint comes from AWS_ENDPOINT_URL when set (an S3-compatible store).
"""

import json
import os
import sys

import boto3


def main(mode: str, bucket: str, prefix: str, *rest: str) -> None:
    s3 = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
    if mode == "download":
        (root,) = rest
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
            for item in page.get("Contents", []):
                path = os.path.join(root, item["Key"][len(prefix) + 1 :])
                os.makedirs(os.path.dirname(path), exist_ok=True)
                s3.download_file(bucket, item["Key"], path)
    elif mode == "upload":
        root, names = rest
        for paper in sorted(os.listdir(root)):
            for name in names.split(","):
                path = os.path.join(root, paper, name)
                if os.path.isfile(path):
                    s3.upload_file(path, bucket, f"{prefix}/{paper}/{name}")
    elif mode == "done":
        (code,) = rest
        s3.put_object(Bucket=bucket, Key=prefix, Body=json.dumps({"exit_code": int(code)}).encode())
    else:
        raise SystemExit(f"unknown mode {mode!r}: expected download, upload or done")


if __name__ == "__main__":
    main(*sys.argv[1:])
