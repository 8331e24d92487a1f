"""The paper index on OpenSearch (self-hosted, or managed Amazon OpenSearch Service with SigV4 signing).

One OpenSearch document per paper, `_id` = the paper key. Each section of the paper's document (`source`,
`metadata`, `verdict`, ...) is kept as a JSON string under `sections`, an object OpenSearch stores but does not
index: `_update` merges objects recursively, so a section kept as an object would keep stale fields of its previous
version, while a string is replaced whole, exactly like `SqlitePaperIndex.update`. Next to it, the fields worth
searching and filtering on are copied into mapped fields (title, abstract, full text, venue, decision, run status,
...) and the abstract embedding goes into a `knn_vector` field for cosine k-NN.

Writes ask for `refresh=wait_for`, so a search made after a write returns sees it (reads by id are realtime).
"""

import json
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar, Unpack

import dagster as dg
import numpy as np
from pydantic import Field, PrivateAttr

from annapurna_resources.storage.paper_document import PaperDocument, SourceSection
from annapurna_resources.storage.paper_index import Neighbour, PaperIndex, SearchHit

EMBEDDING_DIMENSION = 384  # all-MiniLM-L6-v2
SEARCH_FIELDS = ["title^10", "abstract^4", "text"]  # the weights SqlitePaperIndex gives bm25()
SNIPPET_FIELDS = ("abstract", "text", "title")
MGET_CHUNK = 500
T = TypeVar("T")


class OpenSearchUnavailable(Exception):
    """OpenSearch could not be reached or refused a request; the message names the server and the reason."""


def index_body(dimension: int = EMBEDDING_DIMENSION, engine: str = "lucene") -> dict:
    """Settings and explicit mapping of the paper index (`dynamic: strict`: an unmapped field is an error)."""
    keyword, text, floating = {"type": "keyword"}, {"type": "text"}, {"type": "float"}
    return {
        "settings": {"index": {"knn": True}},
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "key": keyword,
                "title": text,
                "abstract": text,
                "text": text,
                "venue": keyword,
                "year": {"type": "integer"},
                "authors": keyword,
                "decision": keyword,
                "relevance": floating,
                "novelty": floating,
                "judge": keyword,
                "judge_model": keyword,
                "code_family": keyword,
                "code_status": keyword,
                "run_status": keyword,
                "final_loss": floating,
                "created_at": {"type": "date", "format": "epoch_millis"},
                "updated_at": {"type": "date", "format": "epoch_millis"},
                "embedding": {
                    "type": "knn_vector",
                    "dimension": dimension,
                    "method": {"name": "hnsw", "space_type": "cosinesimil", "engine": engine},
                },
                "sections": {"type": "object", "enabled": False},
            },
        },
    }


def searchable_fields(sections: dict) -> dict:
    """The mapped fields that follow from the given sections (only those sections: updates are partial)."""
    fields: dict = {}
    if isinstance(metadata := sections.get("metadata"), dict):
        authors = metadata.get("authors")
        fields |= {
            "title": metadata.get("title"),
            "venue": metadata.get("venue"),
            "year": metadata.get("year") if isinstance(metadata.get("year"), int) else None,
            "authors": [str(a) for a in authors] if isinstance(authors, list) else None,
        }
    if isinstance(verdict := sections.get("verdict"), dict):
        fields |= {
            "decision": verdict.get("decision"),
            "relevance": _number(verdict.get("relevance")),
            "novelty": _number(verdict.get("novelty")),
            "judge": verdict.get("judge"),
            "judge_model": verdict.get("model"),
        }
    if isinstance(code := sections.get("code"), dict):
        fields |= {"code_family": code.get("family"), "code_status": "ok" if code.get("contract_ok") else "failed"}
    if isinstance(run := sections.get("run"), dict):
        final = run.get("final") if isinstance(run.get("final"), dict) else {}
        fields |= {"run_status": run.get("status"), "final_loss": _number(final.get("final_loss"))}
    return fields


def _number(value: object) -> float | None:
    """A finite number for a float field, else None (OpenSearch rejects NaN and strings there)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
    return float(value) if ok else None


def unit_vector(vector: np.ndarray, dimension: int) -> list[float]:
    """The vector scaled to length 1: stored and query vectors are unit length, so the dot product of two is
    their cosine similarity, the same number SqlitePaperIndex computes."""
    array = np.asarray(vector, dtype=np.float64).ravel()
    if array.size != dimension:
        raise ValueError(f"embedding has {array.size} dimensions; the OpenSearch index expects {dimension}")
    norm = float(np.linalg.norm(array))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("embedding is all zeros or not finite: cosine similarity is undefined for it")
    return (array / norm).tolist()


def _sections(source: dict) -> dict:
    return {name: json.loads(value) for name, value in (source.get("sections") or {}).items()}


def _encoded(sections: dict) -> dict:
    return {name: json.dumps(value) for name, value in sections.items()}


def _millis() -> int:
    return int(time.time() * 1000)


class OpenSearchPaperIndex(PaperIndex):
    """The paper index in OpenSearch index `index_name` at `url`: basic auth with `username`/`password`, or SigV4
    with `aws_auth` (credentials from the standard AWS chain; `aws_service` is `es` for OpenSearch Service
    domains, `aoss` for OpenSearch Serverless). The index is created with its mapping on first use."""

    url: str = Field(default="http://127.0.0.1:9200", description="The cluster or domain endpoint.")
    index_name: str = Field(default="research-papers-v2", description="The index name.")
    username: str = ""
    password: str = ""
    aws_auth: bool = Field(default=False, description="Sign each request with SigV4 (managed OpenSearch).")
    aws_region: str = "us-east-1"
    aws_service: str = Field(default="es", description="es (OpenSearch Service) or aoss (Serverless).")
    knn_engine: str = "lucene"
    vector_dimension: int = EMBEDDING_DIMENSION
    page_size: int = 1000  # documents per search_after page in all_documents
    timeout_s: float = 30.0
    _client: object | None = PrivateAttr(default=None)

    # connection ---------------------------------------------------------------------------------

    def _connect(self):
        from opensearchpy import OpenSearch, RequestsHttpConnection

        options: dict = {"timeout": self.timeout_s, "max_retries": 2, "retry_on_timeout": True}
        if self.aws_auth:
            if self.aws_service not in ("es", "aoss"):
                raise ValueError(f"aws_service is {self.aws_service!r}: expected es (domain) or aoss (Serverless)")
            import boto3
            from opensearchpy import RequestsAWSV4SignerAuth

            credentials = boto3.Session().get_credentials()
            if credentials is None:
                raise OpenSearchUnavailable(
                    "paper_index.aws_auth is on but no AWS credentials were found "
                    "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or an instance role)"
                )
            options |= {
                "http_auth": RequestsAWSV4SignerAuth(credentials, self.aws_region, self.aws_service),
                "connection_class": RequestsHttpConnection,
            }
        elif self.username:
            password = self.password.get_value() if isinstance(self.password, dg.EnvVar) else self.password
            options["http_auth"] = (self.username, password or "")
        return OpenSearch(hosts=[self.url], **options)

    @property
    def client(self):
        """The OpenSearch client, connected and with the index created, on first use."""
        if self._client is None:
            client = self._connect()
            self._call("checking the index", lambda: self._ensure_index(client))
            self._client = client
        return self._client

    def _ensure_index(self, client) -> None:
        from opensearchpy import RequestError

        if client.indices.exists(index=self.index_name):
            return
        try:
            client.indices.create(index=self.index_name, body=index_body(self.vector_dimension, self.knn_engine))
        except RequestError as error:  # another process created it between the two calls
            if error.error != "resource_already_exists_exception":
                raise

    def _call(self, what: str, call: Callable[[], T]) -> T:
        """Runs one client call, turning an unreachable server or a refused request into OpenSearchUnavailable."""
        from opensearchpy import AuthenticationException, AuthorizationException, ConnectionError, TransportError

        where = f"OpenSearch at {self.url} (index {self.index_name!r})"
        try:
            return call()
        except ConnectionError as error:
            raise OpenSearchUnavailable(
                f"{what}: {where} is unreachable ({error.info or error.error}); is the server running and "
                "paper_index.url right?"
            ) from error
        except (AuthenticationException, AuthorizationException) as error:
            how = "SigV4 (AWS credentials)" if self.aws_auth else "username/password" if self.username else "no auth"
            raise OpenSearchUnavailable(
                f"{what}: {where} refused the credentials ({how}): {error.status_code} {error.error}"
            ) from error
        except TransportError as error:
            if error.status_code in (404, 409) and error.error != "index_not_found_exception":
                raise  # callers handle a missing or already existing document
            raise OpenSearchUnavailable(
                f"{what}: {where} answered {error.status_code} {error.error}: {error.info}"
            ) from error

    # documents ----------------------------------------------------------------------------------

    def register_many(self, records: list[tuple[str, SourceSection]]) -> int:
        """`register` for many papers in `_bulk` requests of create actions; returns how many were new."""
        from opensearchpy import helpers

        if not records:
            return 0
        client = self.client
        actions = (
            {"_op_type": "create", "_index": self.index_name, "_id": key, "_source": self._new_document(key, source)}
            for key, source in records
        )
        created, _existing = self._call(
            f"registering {len(records)} papers",
            lambda: helpers.bulk(client, actions, ignore_status=(409,), refresh="wait_for", chunk_size=500),
        )
        return created

    def _new_document(self, key: str, source: dict) -> dict:
        now = _millis()
        return {"key": key, "sections": _encoded({"source": source}), "created_at": now, "updated_at": now}

    def update(self, key: str, **sections: Unpack[PaperDocument]) -> PaperDocument:
        """Replace the given sections of the paper's document (creating it if needed); returns the document."""
        client = self.client
        now = _millis()
        changes = {"key": key, "sections": _encoded(sections), "updated_at": now, **searchable_fields(sections)}
        answer = self._call(
            f"updating {', '.join(sections)} of {key}",
            lambda: client.update(
                index=self.index_name,
                id=key,
                body={"doc": changes, "upsert": {**changes, "created_at": now}},
                params={"refresh": "wait_for", "retry_on_conflict": 3, "_source": "sections"},
            ),
        )
        return _sections(answer["get"]["_source"])

    def get(self, key: str) -> PaperDocument | None:
        from opensearchpy import NotFoundError

        client = self.client
        try:
            answer = self._call(
                f"reading {key}",
                lambda: client.get(index=self.index_name, id=key, params={"_source_includes": "sections"}),
            )
        except NotFoundError:
            return None
        return _sections(answer["_source"]) or None  # a document only text or a vector went into is no paper yet

    def get_many(self, keys: Iterable[str]) -> dict[str, PaperDocument]:
        client = self.client
        keys = list(dict.fromkeys(keys))
        docs: dict[str, dict] = {}
        for start in range(0, len(keys), MGET_CHUNK):
            chunk = keys[start : start + MGET_CHUNK]
            answer = self._call(
                f"reading {len(chunk)} papers",
                lambda: client.mget(
                    index=self.index_name, body={"ids": chunk}, params={"_source_includes": "sections"}
                ),
            )
            docs |= {d["_id"]: _sections(d["_source"]) for d in answer["docs"] if d.get("found") and d["_source"]}
        return docs

    def all_documents(self) -> dict[str, PaperDocument]:
        return {hit["_id"]: _sections(hit["_source"]) for hit in self._every_hit(["sections"]) if hit["_source"]}

    def _every_hit(self, fields: list[str]) -> Iterator[dict]:
        """Every document, `page_size` at a time, paged with search_after on the key."""
        client = self.client
        after: list | None = None
        while True:
            body = {
                "size": self.page_size,
                "query": {"match_all": {}},
                "sort": [{"key": "asc"}],
                "_source": fields,
                **({"search_after": after} if after else {}),
            }
            hits = self._call("listing papers", lambda: client.search(index=self.index_name, body=body))["hits"]["hits"]
            yield from hits
            if len(hits) < self.page_size:
                return
            after = hits[-1]["sort"]

    # full text ----------------------------------------------------------------------------------

    def index_text(self, key: str, title: str, abstract: str, text: str) -> None:
        client = self.client
        changes = {"key": key, "title": title, "abstract": abstract, "text": text}
        self._call(
            f"indexing the text of {key}",
            lambda: client.update(
                index=self.index_name,
                id=key,
                body={"doc": changes, "upsert": {**changes, "created_at": _millis()}},
                params={"refresh": "wait_for", "retry_on_conflict": 3},
            ),
        )

    def search(self, query: str, limit: int = 10) -> list[SearchHit]:
        """Papers matching every word of `query` (in any of title, abstract, text), best first, title weighted
        highest; the snippet is the best highlighted fragment with matches in [brackets]."""
        if not query.strip():
            return []
        client = self.client
        body = {
            "size": limit,
            "query": {
                "multi_match": {"query": query, "fields": SEARCH_FIELDS, "type": "cross_fields", "operator": "and"}
            },
            "_source": ["key", "title"],
            "highlight": {
                "pre_tags": ["["],
                "post_tags": ["]"],
                "fields": {name: {"fragment_size": 120, "number_of_fragments": 1} for name in SNIPPET_FIELDS},
            },
        }
        hits = self._call(f"searching {query!r}", lambda: client.search(index=self.index_name, body=body))
        return [
            SearchHit(
                hit["_id"],
                hit["_source"].get("title") or "",
                next((hit["highlight"][f][0] for f in SNIPPET_FIELDS if f in hit.get("highlight", {})), ""),
                float(hit["_score"]),
            )
            for hit in hits["hits"]["hits"]
        ]

    # vectors ------------------------------------------------------------------------------------

    def set_vector(self, key: str, vector: np.ndarray) -> None:
        client = self.client
        changes = {"key": key, "embedding": unit_vector(vector, self.vector_dimension)}
        self._call(
            f"storing the embedding of {key}",
            lambda: client.update(
                index=self.index_name,
                id=key,
                body={"doc": changes, "upsert": {**changes, "created_at": _millis()}},
                params={"refresh": "wait_for", "retry_on_conflict": 3},
            ),
        )

    def nearest(self, vector: np.ndarray, k: int = 5, exclude: Iterable[str] = ()) -> list[Neighbour]:
        """The k indexed papers most similar (cosine) to `vector`, leaving out `exclude`. OpenSearch finds them
        (HNSW, filtered); the similarity reported is the exact cosine of the stored unit vectors."""
        if k <= 0:
            return []
        client = self.client
        query = unit_vector(vector, self.vector_dimension)
        excluded = sorted(set(exclude))
        knn: dict = {"vector": query, "k": k}
        if excluded:
            knn["filter"] = {"bool": {"must_not": [{"terms": {"key": excluded}}]}}
        body = {"size": k, "query": {"knn": {"embedding": knn}}, "_source": ["key", "embedding", "sections.metadata"]}
        hits = self._call("finding nearest papers", lambda: client.search(index=self.index_name, body=body))
        neighbours = []
        for hit in hits["hits"]["hits"]:
            source = hit["_source"]
            metadata = _sections(source).get("metadata") or {}
            similarity = float(np.clip(np.dot(query, source["embedding"]), -1.0, 1.0))
            neighbours.append(Neighbour(hit["_id"], metadata.get("title", ""), similarity))
        return sorted(neighbours, key=lambda n: -n.similarity)[:k]
