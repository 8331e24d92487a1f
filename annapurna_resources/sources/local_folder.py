"""Local-folder paper source: PDFs in a watched folder, each with an optional `<stem>.json` of metadata beside it."""

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from pydantic import Field

from annapurna_resources.sources.listed_paper import ListedPaper
from annapurna_resources.storage.home import state_path

METADATA_FIELDS = ("title", "authors", "abstract", "arxiv_id", "venue", "year", "url", "keywords")


@dataclass(frozen=True)
class FoundPaper:
    path: Path
    sha256: str
    size: int
    metadata: dict = field(default_factory=dict)
    metadata_error: str = ""

    def listed_paper(self) -> ListedPaper:
        given = self.metadata
        authors = given.get("authors", [])
        return ListedPaper(
            source="local",
            source_id=self.sha256,
            title=str(given.get("title", "")),
            authors=[str(a) for a in authors] if isinstance(authors, list) else [str(authors)],
            abstract=str(given.get("abstract", "")),
            venue=str(given.get("venue", "")),
            year=given.get("year") if isinstance(given.get("year"), int) else None,
            keywords=[str(k) for k in given.get("keywords", [])] if isinstance(given.get("keywords"), list) else [],
            arxiv_id=str(given.get("arxiv_id", "")),
            forum_url=str(given.get("url", "")),
            pdf_url=self.path.resolve().as_uri(),
        )

    def source_record(self) -> dict:
        record = {
            "source": "local",
            "source_id": self.sha256,
            "listing": "folder",
            "pdf_uri": self.path.resolve().as_uri(),
            "pdf_ref": f"blob://{self.sha256}",
            "file_name": self.path.name,
            "size": self.size,
            "paper": self.listed_paper().to_dict(),
        }
        if self.metadata_error:
            record["metadata_error"] = self.metadata_error
        return record


class LocalFolderSource(dg.ConfigurableResource):
    """Watches `folder` (default `$ANNAPURNA_HOME/inbox`) for `*.pdf` files, recursively."""

    folder: str = Field(
        default="",
        description="The folder local_folder_sensor watches for PDFs (each with an optional <name>.json); "
        "empty: $ANNAPURNA_HOME/inbox.",
    )

    @property
    def folder_path(self) -> Path:
        return state_path(self.folder, "inbox")

    def scan(self, known: dict[str, list] | None = None) -> tuple[list[FoundPaper], dict[str, list]]:
        """Every PDF in the folder with its content hash.

        `known` maps a path to `[size, mtime_ns, sha256]` from an earlier scan so unchanged files are not
        hashed again; the updated map is returned for the next scan.
        """
        known = known or {}
        seen: dict[str, list] = {}
        found = []
        folder = self.folder_path
        if not folder.is_dir():
            return [], {}
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() != ".pdf" or not path.is_file():
                continue
            stat = path.stat()
            cached = known.get(str(path))
            if cached and cached[0] == stat.st_size and cached[1] == stat.st_mtime_ns:
                digest = cached[2]
            else:
                digest = _file_sha256(path)
            seen[str(path)] = [stat.st_size, stat.st_mtime_ns, digest]
            metadata, error = _read_metadata(path.with_suffix(".json"))
            found.append(FoundPaper(path, digest, stat.st_size, metadata, error))
        return found, seen


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_metadata(path: Path) -> tuple[dict, str]:
    if not path.is_file():
        return {}, ""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return {}, f"{path.name} is not valid JSON ({error}); using what the PDF says"
    if not isinstance(data, dict):
        return {}, f"{path.name} is not a JSON object; using what the PDF says"
    return {k: data[k] for k in METADATA_FIELDS if k in data}, ""
