"""The paper index: one document per paper that every stage updates, with full-text and vector search.

Embedded default: SQLite with FTS5 over title/abstract/text and stored embedding vectors. A document is
a JSON object of sections (`source`, `metadata`, `pdf`, `text`, `verdict`, `pages`, `code`, `run`,
`profile`); each stage replaces its own section, so re-running a stage never duplicates anything.
"""

import abc
import json
import re
import sqlite3
import time
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Unpack

import dagster as dg
import numpy as np
from pydantic import Field, PrivateAttr

from annapurna_resources.storage.home import state_path
from annapurna_resources.storage.paper_document import PaperDocument, SourceSection

_SCHEMA = """
CREATE TABLE IF NOT EXISTS papers (
    key TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS papers_fts USING fts5(key UNINDEXED, title, abstract, text);
CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL);
"""


@dataclass(frozen=True)
class SearchHit:
    key: str
    title: str
    snippet: str
    score: float


@dataclass(frozen=True)
class Neighbour:
    key: str
    title: str
    similarity: float


class PaperIndex(dg.ConfigurableResource, abc.ABC):
    """What every stage needs from the paper index; `SqlitePaperIndex` (default) and `OpenSearchPaperIndex`."""

    @abc.abstractmethod
    def register_many(self, records: list[tuple[str, SourceSection]]) -> int:
        """Create each paper's document from its source record (one that exists is left as it is); how many were
        new."""

    @abc.abstractmethod
    def update(self, key: str, **sections: Unpack[PaperDocument]) -> PaperDocument:
        """Replace the given sections of the paper's document (creating it if needed); returns the document."""

    @abc.abstractmethod
    def get(self, key: str) -> PaperDocument | None: ...

    @abc.abstractmethod
    def get_many(self, keys: Iterable[str]) -> dict[str, PaperDocument]: ...

    @abc.abstractmethod
    def all_documents(self) -> dict[str, PaperDocument]: ...

    @abc.abstractmethod
    def index_text(self, key: str, title: str, abstract: str, text: str) -> None: ...

    @abc.abstractmethod
    def search(self, query: str, limit: int = 10) -> list[SearchHit]:
        """Papers matching every word of `query`, best first."""

    @abc.abstractmethod
    def set_vector(self, key: str, vector: np.ndarray) -> None: ...

    @abc.abstractmethod
    def nearest(self, vector: np.ndarray, k: int = 5, exclude: Iterable[str] = ()) -> list[Neighbour]:
        """The k indexed papers most similar (cosine) to `vector`, leaving out `exclude`."""


class SqlitePaperIndex(PaperIndex):
    """Index in `<path>` (default `$ANNAPURNA_HOME/index.sqlite`)."""

    path: str = Field(default="", description="The SQLite file; empty: $ANNAPURNA_HOME/index.sqlite.")
    _path: Path = PrivateAttr()
    _vectors: "_VectorCache" = PrivateAttr(default_factory=lambda: _VectorCache())

    def model_post_init(self, __context) -> None:
        self._path = state_path(self.path, "index.sqlite")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self):
        db = sqlite3.connect(self._path, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable at checkpoints, never corrupt
        db.execute("PRAGMA busy_timeout=30000")
        try:
            with db:
                yield db
        finally:
            db.close()

    # documents ---------------------------------------------------------------------------------

    def register_many(self, records: list[tuple[str, SourceSection]]) -> int:
        """`register` for many papers in one transaction; returns how many were new."""
        now = time.time()
        with self._connect() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO papers(key, doc, created_at, updated_at) VALUES (?, ?, ?, ?)",
                [(key, json.dumps({"source": source}), now, now) for key, source in records],
            )
            return db.total_changes - before

    def update(self, key: str, **sections: Unpack[PaperDocument]) -> PaperDocument:
        """Replace the given sections of the paper's document (creating it if needed); returns the document."""
        now = time.time()
        with self._connect() as db:
            row = db.execute("SELECT doc FROM papers WHERE key = ?", (key,)).fetchone()
            doc = json.loads(row[0]) if row else {}
            doc.update(sections)
            db.execute(
                "INSERT INTO papers(key, doc, created_at, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at",
                (key, json.dumps(doc), now, now),
            )
        return doc

    def get(self, key: str) -> PaperDocument | None:
        with self._connect() as db:
            row = db.execute("SELECT doc FROM papers WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def get_many(self, keys: Iterable[str]) -> dict[str, PaperDocument]:
        keys = list(keys)
        docs: dict[str, dict] = {}
        with self._connect() as db:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key, doc in db.execute(f"SELECT key, doc FROM papers WHERE key IN ({marks})", chunk):
                    docs[key] = json.loads(doc)
        return docs

    def all_documents(self) -> dict[str, PaperDocument]:
        with self._connect() as db:
            return {key: json.loads(doc) for key, doc in db.execute("SELECT key, doc FROM papers")}

    # full text ---------------------------------------------------------------------------------

    def index_text(self, key: str, title: str, abstract: str, text: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM papers_fts WHERE key = ?", (key,))
            db.execute(
                "INSERT INTO papers_fts(key, title, abstract, text) VALUES (?, ?, ?, ?)",
                (key, title, abstract, text),
            )

    def search(self, query: str, limit: int = 10) -> list[SearchHit]:
        """Papers matching every word of `query`, best first (BM25, title weighted highest)."""
        words = re.findall(r"\w+", query)
        if not words:
            return []
        match = " ".join(f'"{w}"' for w in words)
        with self._connect() as db:
            rows = db.execute(
                "SELECT key, title, snippet(papers_fts, -1, '[', ']', ' … ', 12), "
                "bm25(papers_fts, 0.0, 10.0, 4.0, 1.0) AS rank "
                "FROM papers_fts WHERE papers_fts MATCH ? ORDER BY rank LIMIT ?",
                (match, limit),
            ).fetchall()
        return [SearchHit(key, title, snippet, -rank) for key, title, snippet, rank in rows]

    # vectors -----------------------------------------------------------------------------------

    def set_vector(self, key: str, vector: np.ndarray) -> None:
        blob = np.asarray(vector, dtype=np.float32).tobytes()
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO vectors(key, vector) VALUES (?, ?)", (key, blob))

    def nearest(self, vector: np.ndarray, k: int = 5, exclude: Iterable[str] = ()) -> list[Neighbour]:
        """The k indexed papers most similar (cosine) to `vector`, leaving out `exclude`."""
        with self._connect() as db:
            keys, matrix = self._vectors.refresh(db)
        if not keys:
            return []
        query = np.asarray(vector, dtype=np.float32)
        sims = matrix @ query / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query) + 1e-12)
        excluded = set(exclude)
        order = [i for i in np.argsort(-sims)[: k + len(excluded)] if keys[i] not in excluded][:k]
        docs = self.get_many(keys[i] for i in order)
        return [
            Neighbour(keys[i], docs.get(keys[i], {}).get("metadata", {}).get("title", ""), float(sims[i]))
            for i in order
        ]


class _VectorCache:
    """The vectors table in memory, topped up with the rows added since the last look (a replaced vector is a
    new row), so judging the n-th paper does not read all n-1 vectors again."""

    def __init__(self):
        self.last_rowid = 0
        self.position: dict[str, int] = {}
        self.keys: list[str] = []
        self.buffer = np.zeros((0, 0), dtype=np.float32)  # grows by doubling; rows [:len(keys)] are in use

    def refresh(self, db) -> tuple[list[str], np.ndarray]:
        if db.execute("SELECT count(*) FROM vectors").fetchone()[0] < len(self.keys):
            self.__init__()  # rows were deleted: start over
        new = db.execute(
            "SELECT rowid, key, vector FROM vectors WHERE rowid > ? ORDER BY rowid", (self.last_rowid,)
        ).fetchall()
        for rowid, key, blob in new:
            vector = np.frombuffer(blob, dtype=np.float32)
            if key not in self.position:
                self._grow(len(self.keys) + 1, vector.size)
                self.position[key] = len(self.keys)
                self.keys.append(key)
            self.buffer[self.position[key]] = vector
            self.last_rowid = rowid
        return self.keys, self.buffer[: len(self.keys)]

    def _grow(self, rows: int, width: int) -> None:
        if rows <= self.buffer.shape[0]:
            return
        bigger = np.zeros((max(rows, 2 * self.buffer.shape[0], 64), width), dtype=np.float32)
        if self.keys:
            bigger[: len(self.keys)] = self.buffer[: len(self.keys)]
        self.buffer = bigger
