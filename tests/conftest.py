import os
from pathlib import Path

import dagster as dg
import pymupdf
import pytest
import yaml

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED_PDFS = SHARED_DATA / "pdfs"

requires_shared_data = pytest.mark.skipif(
    not SHARED_PDFS.is_dir(), reason=f"needs the real papers in {SHARED_PDFS} (../shared/data is absent)"
)


@pytest.fixture(autouse=True)
def _own_settings(tmp_path, monkeypatch):
    """Every test reads the deployment settings of its own home, never a developer's `.annapurna/annapurna.yaml`."""
    monkeypatch.setenv("ANNAPURNA_HOME", str(tmp_path / "home"))
    for name in ("ANNAPURNA_CONFIG", "ANNAPURNA_PROFILE"):
        monkeypatch.delenv(name, raising=False)


def configure(home: Path | None = None, **sections) -> Path:
    """Merge settings into the deployment settings file of `home` (default: the current ANNAPURNA_HOME), as a user
    edits `annapurna.yaml`: `configure(judge={"kind": "claude"}, paper_sources={"arxiv": {"delay_seconds": 0}})`."""
    home = home or Path(os.environ["ANNAPURNA_HOME"])
    path = home / "annapurna.yaml"
    settings = yaml.safe_load(path.read_text()) if path.exists() else {}

    def merge(into: dict, new: dict) -> dict:
        for key, value in new.items():
            into[key] = merge(dict(into.get(key) or {}), value) if isinstance(value, dict) else value
        return into

    home.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(merge(settings, sections)))
    return path


@pytest.fixture
def annapurna_home(tmp_path, monkeypatch) -> Path:
    """A fresh ANNAPURNA_HOME (and DAGSTER_HOME under it) for one test; short scripts, two slots."""
    home = tmp_path / "home"
    monkeypatch.setenv("ANNAPURNA_HOME", str(home))
    configure(home, launcher={"limits": {"time_budget_s": 2, "timeout_s": 60}, "slots": 2})
    from annapurna_assets.settings import ensure_dagster_home

    ensure_dagster_home()
    yield home
    os.environ.pop("DAGSTER_HOME", None)


@pytest.fixture
def instance(annapurna_home):
    with dg.DagsterInstance.get() as instance:
        yield instance


def make_pdf(path: Path, text: str = "", encrypt: bool = False, image_only: bool = False) -> Path:
    doc = pymupdf.open()
    page = doc.new_page()
    if image_only:
        pixmap = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 200, 200), False)
        pixmap.set_rect(pixmap.irect, (200, 30, 30))
        page.insert_image(page.rect, pixmap=pixmap)
    else:
        page.insert_textbox(page.rect + (50, 50, -50, -50), text or "Hello", fontsize=9)
    options = {"encryption": pymupdf.PDF_ENCRYPT_AES_256, "user_pw": "secret", "owner_pw": "owner"} if encrypt else {}
    doc.save(path, **options)
    return path


def write_bad_inputs(folder: Path) -> dict[str, Path]:
    """The bad files a user drops into a watched folder, each a distinct broken case."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "empty": folder / "empty.pdf",
        "html": folder / "saved_page.pdf",
        "corrupt": folder / "corrupt.pdf",
        "encrypted": make_pdf(folder / "encrypted.pdf", "A secret paper about transformers. " * 40, encrypt=True),
        "image_only": make_pdf(folder / "scanned.pdf", image_only=True),
    }
    files["empty"].write_bytes(b"")
    files["html"].write_text("<!DOCTYPE html><html><head><title>arXiv</title></head><body>Not found</body></html>")
    files["corrupt"].write_bytes(b"%PDF-1.7\n1 0 obj <</Type /Catalog>> endobj\ngarbage garbage\n%%EOF")
    return files


@pytest.fixture
def fake_aws(monkeypatch):
    """Fake static AWS credentials; no profile, config file or instance metadata is consulted."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKEFAKE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-key")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK", "ANTHROPIC_BEDROCK_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


from tests.aws_standin import _moto_server, aws_endpoint  # noqa: E402,F401  (fixtures shared by the AWS tests)
from tests.postgres_server import _postgres_server, postgres_url  # noqa: E402,F401  (a real PostgreSQL on loopback)
from tests.ssh_server import ssh_server  # noqa: E402,F401  (a real sshd on loopback for the SSH launcher tests)
