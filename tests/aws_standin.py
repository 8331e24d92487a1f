"""The local AWS stand-in for tests: a moto server on loopback (EC2, SSM, S3 speak their real wire protocols).

Use the `aws_endpoint` fixture (re-exported by conftest): it returns the server's URL and sets fake credentials and
a region, so boto3 clients built with `endpoint_url=aws_endpoint` never reach AWS.
"""

import boto3
import pytest
from moto.server import ThreadedMotoServer

REGION = "us-east-1"


@pytest.fixture(scope="session")
def _moto_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_endpoint(_moto_server, monkeypatch) -> str:
    """The stand-in's URL, with its state reset for this test and fake credentials in the environment."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    import requests

    requests.post(f"{_moto_server}/moto-api/reset", timeout=10).raise_for_status()
    return _moto_server


def client(service: str, endpoint: str):
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)
