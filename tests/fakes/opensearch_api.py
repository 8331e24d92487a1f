"""A loopback OpenSearch (2.x REST API) holding one or more indexes in memory, for the endpoints the paper index uses.

Shapes and rules follow the OpenSearch documentation (docs.opensearch.org, api-reference/index-apis/create-index,
document-apis/{index-document,create,update-document,get-documents,multi-get,bulk}, search-apis/{search,
search-after,highlight}, vector-search/api/knn and field-types/supported-field-types/knn-vector):

- HEAD/PUT /<index>: create checks settings and mappings: known field types only, `dynamic` one of true/false/strict,
  a `knn_vector` needs an integer `dimension` (1..16000), a method in hnsw/ivf with a known space type and engine,
  and `index.knn: true` in the settings; unknown mapping parameters are rejected as OpenSearch does.
- /<index>/_doc/<id> (GET, PUT, POST), /_create/<id>, /_update/<id> (partial doc merged recursively, `upsert`,
  `doc_as_upsert`, `_source` to return the updated document), /_bulk (NDJSON create/index/update), /_mget,
  /_search, /_count, /_refresh.
- Documents are checked against the mapping: with `dynamic: strict` an unmapped field is a
  strict_dynamic_mapping_exception; values must fit their type (a knn_vector must have `dimension` numbers).
- Search sees only refreshed documents: a write becomes searchable on `refresh=true|wait_for` or POST _refresh
  (GET by id is realtime, as in OpenSearch).
- Queries: match_all, match, multi_match (best_fields / cross_fields, operator or/and, field^boost), term, terms,
  ids, exists, bool (must/filter/should/must_not) and knn (real cosine over the stored vectors, `k`, `filter`;
  score (1 + cosine) / 2 as the Lucene engine reports it). Text scoring is term frequency times the field's boost;
  words are lower-cased \\w+ runs. Sort on keyword/numeric fields with `search_after`; `from + size` is capped by
  index.max_result_window (10,000); highlight with pre/post tags and fragment_size.
- Unknown query-string parameters, unknown endpoints and malformed bodies answer 400 with OpenSearch's error shape.
- With `credentials=(user, password)` every request needs that basic auth (else 401); with `aws_secret_key` every
  request needs a SigV4 signature that botocore, given the same secret, computes identically (else 403).
"""

import base64
import copy
import hashlib
import json
import math
import re
import threading
from dataclasses import dataclass, field

from tests.fakes.loopback import Reply, Request

FIELD_TYPES = {
    "text", "keyword", "integer", "long", "short", "byte", "float", "double", "half_float", "scaled_float",
    "boolean", "date", "object", "nested", "knn_vector", "ip", "binary", "match_only_text", "flat_object",
}  # fmt: skip
NUMERIC = {"integer", "long", "short", "byte", "float", "double", "half_float", "scaled_float"}
FIELD_PARAMS = {
    "type",
    "index",
    "store",
    "doc_values",
    "fields",
    "analyzer",
    "boost",
    "null_value",
    "format",
    "copy_to",
}
TYPE_PARAMS = {
    "object": {"properties", "enabled", "dynamic"},
    "nested": {"properties", "dynamic"},
    "knn_vector": {"dimension", "method", "data_type", "space_type", "mode", "compression_level"},
}
KNN_SPACES = {"l2", "cosinesimil", "innerproduct", "l1", "linf", "hamming"}
KNN_ENGINES = {"lucene", "faiss", "nmslib"}
MAX_RESULT_WINDOW = 10_000
COMMON_PARAMS = {"pretty", "human", "error_trace", "filter_path", "source"}
ENDPOINT_PARAMS = {
    "create_index": {"wait_for_active_shards", "timeout", "cluster_manager_timeout", "master_timeout"},
    "exists_index": {"local", "flat_settings", "include_defaults", "allow_no_indices", "expand_wildcards"},
    "index": {"refresh", "routing", "timeout", "version", "version_type", "if_seq_no", "if_primary_term", "op_type",
              "pipeline", "wait_for_active_shards", "require_alias"},
    "get": {"_source", "_source_includes", "_source_excludes", "preference", "realtime", "refresh", "routing",
            "stored_fields", "version", "version_type"},
    "update": {"_source", "_source_includes", "_source_excludes", "if_seq_no", "if_primary_term", "lang", "refresh",
               "require_alias", "retry_on_conflict", "routing", "timeout", "wait_for_active_shards"},
    "bulk": {"_source", "_source_includes", "_source_excludes", "pipeline", "refresh", "require_alias", "routing",
             "timeout", "wait_for_active_shards", "batch_size"},
    "mget": {"_source", "_source_includes", "_source_excludes", "preference", "realtime", "refresh", "routing",
             "stored_fields"},
    "search": {"_source", "_source_includes", "_source_excludes", "from", "size", "scroll", "search_type",
               "track_total_hits", "request_cache", "allow_no_indices", "ignore_unavailable", "preference", "timeout"},
    "count": {"q", "df", "analyzer", "default_operator", "min_score", "preference", "routing", "terminate_after"},
    "refresh": {"allow_no_indices", "expand_wildcards", "ignore_unavailable"},
}  # fmt: skip


class ApiError(Exception):
    def __init__(self, status: int, kind: str, reason: str, index: str | None = None):
        super().__init__(reason)
        self.status, self.kind, self.reason, self.index = status, kind, reason, index

    def reply(self) -> Reply:
        cause = {"type": self.kind, "reason": self.reason, **({"index": self.index} if self.index else {})}
        if self.kind == "index_not_found_exception":
            cause |= {"resource.type": "index_or_alias", "resource.id": self.index, "index_uuid": "_na_"}
        return Reply.json({"error": {"root_cause": [cause], **cause}, "status": self.status}, self.status)


def bad_request(reason: str, kind: str = "illegal_argument_exception") -> ApiError:
    return ApiError(400, kind, reason)


def words(text: object) -> list[str]:
    return re.findall(r"\w+", str(text).lower()) if text is not None else []


@dataclass
class Index:
    name: str
    mapping: dict
    docs: dict[str, dict] = field(default_factory=dict)  # id -> _source, realtime
    versions: dict[str, int] = field(default_factory=dict)
    searchable: dict[str, dict] = field(default_factory=dict)  # what search sees: as of the last refresh
    dirty: set[str] = field(default_factory=set)
    seq_no: int = 0

    def field_mapping(self, path: str) -> dict | None:
        properties = self.mapping.get("properties", {})
        *parents, leaf = path.split(".")
        for parent in parents:
            properties = (properties.get(parent) or {}).get("properties")
            if properties is None:
                return None
        return properties.get(leaf)

    def refresh(self) -> None:
        for doc_id in self.dirty:
            if doc_id in self.docs:
                self.searchable[doc_id] = copy.deepcopy(self.docs[doc_id])
            else:
                self.searchable.pop(doc_id, None)
        self.dirty.clear()


class FakeOpenSearch:
    """The handler for `LoopbackServer`: `with LoopbackServer(FakeOpenSearch()) as server:`."""

    def __init__(self, credentials: tuple[str, str] | None = None, aws_secret_key: str | None = None):
        self.indexes: dict[str, Index] = {}
        self.credentials = credentials
        self.aws_secret_key = aws_secret_key
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        try:
            self._authenticate(request)
            with self._lock:
                return self._route(request)
        except ApiError as error:
            return error.reply()

    # authentication ------------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> None:
        if self.credentials:
            expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
            if request.headers.get("authorization") != expected:
                raise ApiError(
                    401, "security_exception", "missing or wrong authentication credentials for REST request"
                )
        if self.aws_secret_key:
            problem = sigv4_problem(request, self.aws_secret_key)
            if problem:
                raise ApiError(403, "security_exception", problem)

    # routing ---------------------------------------------------------------------------------------

    def _route(self, request: Request) -> Reply:
        parts = [p for p in request.path.split("/") if p]
        method = request.method
        if len(parts) == 1 and not parts[0].startswith("_"):
            if method == "HEAD":
                self._check_params(request, "exists_index")
                return Reply(200 if parts[0] in self.indexes else 404)
            if method == "PUT":
                self._check_params(request, "create_index")
                return self._create_index(parts[0], self._json(request))
        if len(parts) == 1 and parts[0] == "_bulk" and method in ("POST", "PUT"):
            return self._bulk(None, request)
        if len(parts) >= 2 and not parts[0].startswith("_"):
            name, endpoint, rest = parts[0], parts[1], parts[2:]
            if endpoint == "_doc" and len(rest) == 1 and method == "GET":
                return self._get(self._index(name), rest[0], request)
            if endpoint in ("_doc", "_create") and len(rest) == 1 and method in ("PUT", "POST"):
                self._check_params(request, "index")
                op_type = "create" if endpoint == "_create" else request.arg("op_type", "index")
                return self._write(self._index(name), rest[0], self._json(request), op_type, request.arg("refresh"))
            if endpoint == "_update" and len(rest) == 1 and method == "POST":
                self._check_params(request, "update")
                return self._update(self._index(name), rest[0], self._json(request), request)
            if endpoint == "_bulk" and not rest and method in ("POST", "PUT"):
                return self._bulk(name, request)
            if endpoint == "_mget" and not rest and method in ("GET", "POST"):
                self._check_params(request, "mget")
                return self._mget(self._index(name), self._json(request), request)
            if endpoint == "_search" and not rest and method in ("GET", "POST"):
                self._check_params(request, "search")
                return self._search(self._index(name), self._json(request, required=False), request)
            if endpoint == "_count" and not rest and method in ("GET", "POST"):
                self._check_params(request, "count")
                return self._count(self._index(name), self._json(request, required=False))
            if endpoint == "_refresh" and not rest and method in ("GET", "POST"):
                self._check_params(request, "refresh")
                self._index(name).refresh()
                return Reply.json({"_shards": {"total": 1, "successful": 1, "failed": 0}})
        raise bad_request(f"no handler found for uri [{request.path}] and method [{method}]")

    def _check_params(self, request: Request, endpoint: str) -> None:
        for name in request.query:
            if name not in ENDPOINT_PARAMS[endpoint] | COMMON_PARAMS:
                raise bad_request(f"request [{request.path}] contains unrecognized parameter: [{name}]")
        refresh = request.arg("refresh")
        if refresh is not None and refresh not in ("", "true", "false", "wait_for"):
            raise bad_request(f"Unknown value for refresh: [{refresh}].")

    def _json(self, request: Request, required: bool = True):
        if not request.body:
            if required:
                raise bad_request("request body is required", "parse_exception")
            return {}
        if "json" not in request.headers.get("content-type", ""):
            raise ApiError(406, "media_type_header_exception", "Content-Type header is missing or not JSON")
        try:
            body = json.loads(request.body)
        except ValueError as error:
            raise bad_request(f"Failed to parse content to map: {error}", "parse_exception") from error
        if not isinstance(body, dict):
            raise bad_request("request body must be a JSON object", "parse_exception")
        return body

    def _index(self, name: str) -> Index:
        if name not in self.indexes:
            raise ApiError(404, "index_not_found_exception", f"no such index [{name}]", name)
        return self.indexes[name]

    def _meta(self, index: Index, doc_id: str) -> dict:
        return {"_index": index.name, "_id": doc_id, "_version": index.versions.get(doc_id, 0)}

    # index creation --------------------------------------------------------------------------------

    def _create_index(self, name: str, body: dict) -> Reply:
        if name in self.indexes:
            raise ApiError(400, "resource_already_exists_exception", f"index [{name}/fakeuuid] already exists", name)
        if name != name.lower() or name.startswith(("_", "-", "+")):
            raise bad_request(f"Invalid index name [{name}], must be lowercase", "invalid_index_name_exception")
        unknown = set(body) - {"settings", "mappings", "aliases"}
        if unknown:
            raise bad_request(f"unknown key [{sorted(unknown)[0]}] for create index", "parse_exception")
        settings = body.get("settings", {})
        knn_enabled = settings.get("index.knn", (settings.get("index") or {}).get("knn", False)) in (True, "true")
        mapping = body.get("mappings", {})
        if set(mapping) - {"dynamic", "properties", "_source"}:
            raise ApiError(
                400, "mapper_parsing_exception", f"Root mapping definition has unsupported parameters: {mapping}"
            )
        if mapping.get("dynamic", True) not in (True, False, "true", "false", "strict"):
            raise ApiError(400, "mapper_parsing_exception", f"unknown dynamic value [{mapping.get('dynamic')}]")
        self._check_properties(mapping.get("properties", {}), knn_enabled, "")
        self.indexes[name] = Index(name, mapping)
        return Reply.json({"acknowledged": True, "shards_acknowledged": True, "index": name})

    def _check_properties(self, properties: dict, knn_enabled: bool, prefix: str) -> None:
        for name, spec in properties.items():
            path = prefix + name
            kind = spec.get("type", "object" if "properties" in spec else None)
            if kind not in FIELD_TYPES:
                raise ApiError(
                    400, "mapper_parsing_exception", f"No handler for type [{kind}] declared on field [{path}]"
                )
            allowed = FIELD_PARAMS | TYPE_PARAMS.get(kind, set())
            if set(spec) - allowed:
                extra = sorted(set(spec) - allowed)
                raise ApiError(
                    400,
                    "mapper_parsing_exception",
                    f"unknown parameter [{extra[0]}] on mapper [{path}] of type [{kind}]",
                )
            if kind == "knn_vector":
                self._check_knn_vector(path, spec, knn_enabled)
            if kind in ("object", "nested"):
                self._check_properties(spec.get("properties", {}), knn_enabled, path + ".")

    @staticmethod
    def _check_knn_vector(path: str, spec: dict, knn_enabled: bool) -> None:
        dimension = spec.get("dimension")
        if not isinstance(dimension, int) or not 1 <= dimension <= 16000:
            raise ApiError(400, "mapper_parsing_exception", f"Dimension value missing or invalid for vector: {path}")
        method = spec.get("method")
        if method is None:
            return
        if set(method) - {"name", "space_type", "engine", "parameters"}:
            raise ApiError(400, "mapper_parsing_exception", f"Invalid method definition for [{path}]: {method}")
        if method.get("name") not in ("hnsw", "ivf"):
            raise ApiError(400, "mapper_parsing_exception", f"Invalid method name: {method.get('name')}")
        if method.get("space_type", "l2") not in KNN_SPACES:
            raise ApiError(400, "mapper_parsing_exception", f"Unable to find space: {method.get('space_type')}")
        if method.get("engine", "faiss") not in KNN_ENGINES:
            raise ApiError(400, "mapper_parsing_exception", f"Invalid engine: {method.get('engine')}")
        if not knn_enabled:
            raise ApiError(400, "mapper_parsing_exception", f"Cannot set method for [{path}]: index.knn is not true")

    # documents ----------------------------------------------------------------------------------------

    def _check_document(self, index: Index, source: dict, prefix: str = "") -> None:
        for name, value in source.items():
            path = prefix + name
            spec = index.field_mapping(path)
            if spec is None:
                if index.mapping.get("dynamic") == "strict":
                    raise ApiError(
                        400,
                        "strict_dynamic_mapping_exception",
                        f"mapping set to strict, dynamic introduction of [{name}] within [{prefix[:-1] or '_doc'}] "
                        "is not allowed",
                    )
                continue
            kind = spec.get("type", "object")
            if value is None or (kind == "object" and spec.get("enabled") is False):
                continue
            if kind == "object":
                if not isinstance(value, dict):
                    raise ApiError(
                        400, "mapper_parsing_exception", f"object mapping for [{path}] tried to parse a value"
                    )
                self._check_document(index, value, path + ".")
            elif kind == "knn_vector":
                ok = isinstance(value, list) and all(isinstance(v, (int, float)) for v in value)
                if not ok or len(value) != spec["dimension"]:
                    given = len(value) if ok else repr(value)
                    raise ApiError(
                        400,
                        "mapper_parsing_exception",
                        f"Vector dimension mismatch. Expected: {spec['dimension']}, Given: {given}",
                    )
            else:
                for item in value if isinstance(value, list) else [value]:
                    if not _fits(kind, item):
                        raise ApiError(
                            400, "mapper_parsing_exception", f"failed to parse field [{path}] of type [{kind}]"
                        )

    def _put(self, index: Index, doc_id: str, source: dict, refresh: str | None) -> str:
        self._check_document(index, source)
        result = "updated" if doc_id in index.docs else "created"
        index.docs[doc_id] = source
        index.versions[doc_id] = index.versions.get(doc_id, 0) + 1
        index.seq_no += 1
        index.dirty.add(doc_id)
        if refresh in ("", "true", "wait_for"):
            index.refresh()
        return result

    def _write_result(self, index: Index, doc_id: str, source: dict, op_type: str, refresh: str | None) -> dict:
        if op_type == "create" and doc_id in index.docs:
            raise ApiError(
                409, "version_conflict_engine_exception",
                f"[{doc_id}]: version conflict, document already exists (current version [{index.versions[doc_id]}])",
                index.name,
            )  # fmt: skip
        result = self._put(index, doc_id, source, refresh)
        return {**self._meta(index, doc_id), "result": result, **_shards(index)}

    def _write(self, index: Index, doc_id: str, source: dict, op_type: str, refresh: str | None) -> Reply:
        if op_type not in ("index", "create"):
            raise bad_request(f"opType must be 'create' or 'index', found: [{op_type}]")
        answer = self._write_result(index, doc_id, source, op_type, refresh)
        return Reply.json(answer, 201 if answer["result"] == "created" else 200)

    def _update_result(self, index: Index, doc_id: str, body: dict, refresh: str | None, source_filter) -> dict:
        if set(body) - {"doc", "upsert", "doc_as_upsert", "detect_noop", "script", "scripted_upsert", "_source"}:
            raise bad_request(f"Unknown key for a START_OBJECT in [{sorted(body)[0]}].", "x_content_parse_exception")
        if "script" in body:
            raise bad_request("scripts are not supported by this fake", "x_content_parse_exception")
        if not isinstance(body.get("doc"), dict):
            raise ApiError(
                400, "action_request_validation_exception", "Validation Failed: 1: script or doc is missing;"
            )
        if doc_id in index.docs:
            merged = _merge(copy.deepcopy(index.docs[doc_id]), body["doc"])
            result = "noop" if merged == index.docs[doc_id] and body.get("detect_noop", True) else None
            if result is None:
                result = self._put(index, doc_id, merged, refresh)
        elif body.get("doc_as_upsert") or isinstance(body.get("upsert"), dict):
            upsert = body["doc"] if body.get("doc_as_upsert") else body["upsert"]
            result = self._put(index, doc_id, copy.deepcopy(upsert), refresh)
        else:
            raise ApiError(404, "document_missing_exception", f"[{doc_id}]: document missing", index.name)
        answer = {**self._meta(index, doc_id), "result": result, **_shards(index)}
        if source_filter is not None:
            answer["get"] = {"found": True, "_source": _filter_source(index.docs[doc_id], source_filter)}
        return answer

    def _update(self, index: Index, doc_id: str, body: dict, request: Request) -> Reply:
        answer = self._update_result(index, doc_id, body, request.arg("refresh"), _param_source_filter(request))
        return Reply.json(answer, 201 if answer["result"] == "created" else 200)

    def _get(self, index: Index, doc_id: str, request: Request) -> Reply:
        self._check_params(request, "get")
        if doc_id not in index.docs:
            return Reply.json({"_index": index.name, "_id": doc_id, "found": False}, 404)
        return Reply.json(self._found(index, doc_id, _param_source_filter(request)))

    def _found(self, index: Index, doc_id: str, source_filter) -> dict:
        source = _filter_source(index.docs[doc_id], source_filter)
        return {**self._meta(index, doc_id), "_seq_no": 0, "_primary_term": 1, "found": True, "_source": source}

    def _mget(self, index: Index, body: dict, request: Request) -> Reply:
        if "ids" in body:
            ids = body["ids"]
        elif "docs" in body:
            ids = [d.get("_id") for d in body["docs"]]
        else:
            raise ApiError(400, "action_request_validation_exception", "Validation Failed: 1: no documents to get;")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise bad_request("ids must be a list of strings")
        source_filter = _param_source_filter(request)
        docs = [
            self._found(index, i, source_filter)
            if i in index.docs
            else {"_index": index.name, "_id": i, "found": False}
            for i in ids
        ]
        return Reply.json({"docs": docs})

    def _bulk(self, default_index: str | None, request: Request) -> Reply:
        self._check_params(request, "bulk")
        if not request.body.endswith(b"\n"):
            raise bad_request("The bulk request must be terminated by a newline [\\n]")
        lines = [line for line in request.body.decode().split("\n") if line.strip()]
        items, refresh = [], request.arg("refresh")
        position = 0
        while position < len(lines):
            action = json.loads(lines[position])
            if not isinstance(action, dict) or len(action) != 1:
                raise bad_request(f"Malformed action/metadata line [{position + 1}]")
            (op, meta), = action.items()  # fmt: skip
            if op not in ("index", "create", "update", "delete"):
                raise bad_request(f"Malformed action/metadata line [{position + 1}], unknown action [{op}]")
            source = json.loads(lines[position + 1]) if op != "delete" else None
            position += 1 if op == "delete" else 2
            name, doc_id = meta.get("_index", default_index), meta.get("_id")
            if name is None or doc_id is None:
                raise ApiError(
                    400, "action_request_validation_exception", "Validation Failed: 1: index or id is missing;"
                )
            try:
                index = self._index(name)
                if op == "update":
                    item = self._update_result(index, doc_id, source, None, None)
                elif op == "delete":
                    raise bad_request("delete is not supported by this fake")
                else:
                    item = self._write_result(index, doc_id, source, op, None)
                item["status"] = 201 if item["result"] == "created" else 200
            except ApiError as error:
                item = {"_index": name, "_id": doc_id, "status": error.status,
                        "error": {"type": error.kind, "reason": error.reason, "index": name}}  # fmt: skip
            items.append({op: item})
        if refresh in ("", "true", "wait_for"):
            for index in self.indexes.values():
                index.refresh()
        return Reply.json({"took": 1, "errors": any("error" in i[next(iter(i))] for i in items), "items": items})

    # search ---------------------------------------------------------------------------------------------

    def _count(self, index: Index, body: dict) -> Reply:
        query = body.get("query", {"match_all": {}})
        count = sum(1 for doc in index.searchable.values() if _score(index, query, doc) is not None)
        return Reply.json({"count": count, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0}})

    def _search(self, index: Index, body: dict, request: Request) -> Reply:
        known = {"query", "size", "from", "sort", "search_after", "_source", "highlight", "track_total_hits"}
        if set(body) - known:
            raise bad_request(
                f"Unknown key for a START_OBJECT in [{sorted(set(body) - known)[0]}].", "parsing_exception"
            )
        size = int(body.get("size", request.arg("size", 10)))
        start = int(body.get("from", request.arg("from", 0)))
        if size < 0 or start < 0:
            raise bad_request("[from] and [size] must be non-negative")
        if start + size > MAX_RESULT_WINDOW:
            raise bad_request(
                f"Result window is too large, from + size must be less than or equal to: [{MAX_RESULT_WINDOW}] but "
                f"was [{start + size}]. See the scroll api for a more efficient way to request large data sets."
            )
        query = body.get("query", {"match_all": {}})
        scored = []
        for doc_id, doc in index.searchable.items():
            score = _score(index, query, doc)
            if score is not None:
                scored.append((doc_id, doc, score))
        if "knn" in query:  # top k by similarity, then `size`
            scored = sorted(scored, key=lambda s: -s[2])[: _knn_k(query)]
        sort = _sort_fields(index, body.get("sort"))
        if sort:
            scored.sort(key=lambda s: tuple(_sort_value(s[1], f) for f, _ in sort))
            if sort[0][1] == "desc":
                scored.reverse()
            if "search_after" in body:
                after = tuple(body["search_after"])
                if len(after) != len(sort):
                    raise bad_request("search_after has fewer/more values than there are sort fields")
                ahead = (lambda v: v > after) if sort[0][1] == "asc" else (lambda v: v < after)
                scored = [s for s in scored if ahead(tuple(_sort_value(s[1], f) for f, _ in sort))]
        elif "search_after" in body:
            raise bad_request("search_after needs a sort")
        else:
            scored.sort(key=lambda s: (-s[2], s[0]))
        page = scored[start : start + size]
        source_filter = body["_source"] if "_source" in body else _param_source_filter(request)
        hits = []
        for doc_id, doc, score in page:
            hit = {"_index": index.name, "_id": doc_id, "_score": None if sort else score}
            if source_filter is not False:
                hit["_source"] = _filter_source(doc, source_filter)
            if sort:
                hit["sort"] = [_sort_value(doc, f) for f, _ in sort]
            if "highlight" in body:
                highlight = _highlight(body["highlight"], query, doc)
                if highlight:
                    hit["highlight"] = highlight
            hits.append(hit)
        max_score = None if sort or not scored else max(s[2] for s in scored)
        return Reply.json(
            {
                "took": 1,
                "timed_out": False,
                "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
                "hits": {"total": {"value": len(scored), "relation": "eq"}, "max_score": max_score, "hits": hits},
            }
        )


# queries ------------------------------------------------------------------------------------------------


def _score(index: Index, query: dict, doc: dict) -> float | None:
    """The document's score for `query`, None when it does not match."""
    if not isinstance(query, dict) or len(query) != 1:
        raise bad_request(f"[query] malformed, expected one query type: {query}", "parsing_exception")
    (kind, spec), = query.items()  # fmt: skip
    if kind == "match_all":
        return 1.0
    if kind == "multi_match":
        return _multi_match(index, spec, doc)
    if kind == "match":
        (name, value), = spec.items()  # fmt: skip
        value = value.get("query") if isinstance(value, dict) else value
        return _multi_match(index, {"query": value, "fields": [name]}, doc)
    if kind in ("term", "terms"):
        (name, value), = spec.items()  # fmt: skip
        wanted = value if kind == "terms" else [value.get("value") if isinstance(value, dict) else value]
        if not isinstance(wanted, list):
            raise bad_request("[terms] query does not support a single value", "parsing_exception")
        present = _values(doc, name)
        return 1.0 if any(v in present for v in wanted) else None
    if kind == "ids":
        return 1.0 if doc.get("key") in spec.get("values", []) else None
    if kind == "exists":
        return 1.0 if _values(doc, spec["field"]) else None
    if kind == "bool":
        return _bool(index, spec, doc)
    if kind == "knn":
        return _knn(index, spec, doc)
    raise bad_request(f"unknown query [{kind}]", "parsing_exception")


def _bool(index: Index, spec: dict, doc: dict) -> float | None:
    unknown = set(spec) - {"must", "filter", "should", "must_not", "minimum_should_match", "boost"}
    if unknown:
        raise bad_request(f"[bool] query does not support [{sorted(unknown)[0]}]", "parsing_exception")

    def clauses(name):
        value = spec.get(name, [])
        return value if isinstance(value, list) else [value]

    total = 0.0
    for clause in clauses("must"):
        score = _score(index, clause, doc)
        if score is None:
            return None
        total += score
    if any(_score(index, c, doc) is None for c in clauses("filter")):
        return None
    if any(_score(index, c, doc) is not None for c in clauses("must_not")):
        return None
    should = [s for s in (_score(index, c, doc) for c in clauses("should")) if s is not None]
    if clauses("should") and not should and not (clauses("must") or clauses("filter")):
        return None
    return total + sum(should) if (clauses("must") or should) else 0.0


def _multi_match(index: Index, spec: dict, doc: dict) -> float | None:
    unknown = set(spec) - {"query", "fields", "type", "operator", "boost"}
    if unknown or "query" not in spec:
        raise bad_request(f"[multi_match] unknown token or missing query: {sorted(unknown)}", "parsing_exception")
    if spec.get("type", "best_fields") not in ("best_fields", "most_fields", "cross_fields"):
        raise bad_request(f"[multi_match] type [{spec.get('type')}] is not supported here", "parsing_exception")
    fields = []
    for entry in spec.get("fields", []):
        name, _, boost = entry.partition("^")
        mapped = index.field_mapping(name)
        if mapped is None or mapped.get("type") not in ("text", "keyword", "match_only_text"):
            continue  # OpenSearch ignores unmapped fields in multi_match
        fields.append((name, float(boost or 1.0)))
    terms = words(spec["query"])
    if not terms:
        return None
    tokens = {name: words(doc.get(name)) for name, _ in fields}
    per_term = [sum(boost * tokens[name].count(term) for name, boost in fields) for term in terms]
    if spec.get("type") == "cross_fields":
        matched = [t > 0 for t in per_term]
    else:  # best_fields / most_fields: a field must hold the words (all of them with operator and)
        matched = [any(term in tokens[name] for name, _ in fields) for term in terms]
        if spec.get("operator", "or").lower() == "and":
            matched = [any(all(t in tokens[name] for t in terms) for name, _ in fields)] * len(terms)
    if spec.get("operator", "or").lower() == "and" and not all(matched):
        return None
    return sum(per_term) if any(matched) else None


def _knn(index: Index, spec: dict, doc: dict) -> float | None:
    (name, params), = spec.items()  # fmt: skip
    mapped = index.field_mapping(name)
    if mapped is None or mapped.get("type") != "knn_vector":
        raise bad_request(f"Field '{name}' is not knn_vector type.", "query_shard_exception")
    if set(params) - {"vector", "k", "filter", "boost"}:
        raise bad_request(
            f"[knn] unknown parameters {sorted(set(params) - {'vector', 'k', 'filter', 'boost'})}", "parsing_exception"
        )
    vector, k = params.get("vector"), params.get("k")
    if not isinstance(k, int) or k <= 0:
        raise bad_request("[knn] requires k > 0", "parsing_exception")
    if not isinstance(vector, list) or len(vector) != mapped["dimension"]:
        raise bad_request(
            f"Query vector has invalid dimension: {len(vector) if isinstance(vector, list) else vector}. "
            f"Dimension should be: {mapped['dimension']}",
            "query_shard_exception",
        )
    if "filter" in params and _score(index, params["filter"], doc) is None:
        return None
    stored = doc.get(name)
    if stored is None:
        return None
    space = (mapped.get("method") or {}).get("space_type", "l2")
    if space != "cosinesimil":
        raise bad_request(f"this fake scores cosinesimil only, the field uses {space}")
    norms = math.sqrt(sum(v * v for v in vector)) * math.sqrt(sum(v * v for v in stored))
    if norms == 0:
        raise bad_request("zero vector is not supported when space type is [cosinesimil]")
    cosine = sum(a * b for a, b in zip(vector, stored)) / norms
    return (1 + cosine) / 2  # the Lucene engine's score for cosinesimil


def _knn_k(query: dict) -> int:
    (_, params), = query["knn"].items()  # fmt: skip
    return params["k"]


def _sort_fields(index: Index, sort) -> list[tuple[str, str]]:
    fields = []
    for entry in sort or []:
        if isinstance(entry, str):
            name, order = entry, "asc"
        else:
            (name, spec), = entry.items()  # fmt: skip
            order = spec if isinstance(spec, str) else spec.get("order", "asc")
        mapped = index.field_mapping(name)
        if mapped is None:
            raise ApiError(400, "query_shard_exception", f"No mapping found for [{name}] in order to sort on")
        if mapped.get("type") == "text":
            raise bad_request(
                f"Text fields are not optimised for operations that require per-document field data like "
                f"aggregations and sorting, so these operations are disabled by default. [{name}]"
            )
        fields.append((name, order))
    if len({order for _, order in fields}) > 1:
        raise bad_request("this fake sorts all fields in one direction")
    return fields


def _sort_value(doc: dict, name: str):
    values = _values(doc, name)
    return min(values) if values else ""


def _values(doc: dict, path: str) -> list:
    value: object = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _highlight(spec: dict, query: dict, doc: dict) -> dict:
    terms = set(words(json.dumps(_query_text(query))))
    pre, post = spec.get("pre_tags", ["<em>"])[0], spec.get("post_tags", ["</em>"])[0]
    found = {}
    for name, options in spec.get("fields", {}).items():
        text = doc.get(name)
        if not isinstance(text, str):
            continue
        size = int(options.get("fragment_size", spec.get("fragment_size", 100)))
        matches = [m for m in re.finditer(r"\w+", text) if m.group().lower() in terms]
        if not matches:
            continue
        start = text.rfind(" ", 0, max(0, matches[0].start() - size // 4)) + 1  # fragments start at a word
        end = min(len(text), start + size)
        fragment = re.sub(
            r"\w+", lambda m: f"{pre}{m.group()}{post}" if m.group().lower() in terms else m.group(), text[start:end]
        )
        found[name] = [fragment]
    return found


def _query_text(query) -> list[str]:
    """The text of every match/multi_match in a query: what the highlighter marks."""
    if isinstance(query, dict):
        texts = []
        for kind, spec in query.items():
            if kind == "multi_match":
                texts.append(spec["query"])
            elif kind == "match":
                texts += [v.get("query") if isinstance(v, dict) else v for v in spec.values()]
            else:
                texts += _query_text(spec)
        return texts
    if isinstance(query, list):
        return [t for q in query for t in _query_text(q)]
    return []


# helpers -------------------------------------------------------------------------------------------------


def _fits(kind: str, value) -> bool:
    if kind in ("text", "keyword", "match_only_text"):
        return isinstance(value, (str, int, float, bool))
    if kind in ("integer", "long", "short", "byte"):
        return isinstance(value, int) and not isinstance(value, bool) or (isinstance(value, str) and value.isdigit())
    if kind in NUMERIC:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if kind == "date":
        return isinstance(value, (int, str))
    return True


def _merge(target: dict, changes: dict) -> dict:
    """OpenSearch's partial-document update: objects merge key by key, anything else is replaced."""
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def _param_source_filter(request: Request):
    includes = request.arg("_source_includes")
    if includes is not None:
        return includes.split(",")
    source = request.arg("_source")
    if source is None:
        return None
    if source in ("true", "false"):
        return source == "true"
    return source.split(",")


def _filter_source(source: dict, source_filter) -> dict:
    if source_filter in (None, True):
        return copy.deepcopy(source)
    if source_filter is False:
        return {}
    if isinstance(source_filter, str):
        source_filter = [source_filter]
    if isinstance(source_filter, dict):
        includes, excludes = source_filter.get("includes", []), source_filter.get("excludes", [])
    else:
        includes, excludes = source_filter, []
    kept = {}
    for path in includes or [""]:
        _copy_path(source, kept, path.split(".") if path else [])
    for path in excludes:
        _drop_path(kept, path.split("."))
    return kept


def _copy_path(source: dict, target: dict, parts: list[str]) -> None:
    if not parts:
        target.update(copy.deepcopy(source))
        return
    head, rest = parts[0], parts[1:]
    if head not in source:
        return
    if rest and isinstance(source[head], dict):
        _copy_path(source[head], target.setdefault(head, {}), rest)
    elif not rest:
        target[head] = copy.deepcopy(source[head])


def _drop_path(target: dict, parts: list[str]) -> None:
    if len(parts) == 1:
        target.pop(parts[0], None)
    elif isinstance(target.get(parts[0]), dict):
        _drop_path(target[parts[0]], parts[1:])


def _shards(index: Index) -> dict:
    return {"_shards": {"total": 2, "successful": 1, "failed": 0}, "_seq_no": index.seq_no, "_primary_term": 1}


def sigv4_problem(request: Request, secret_key: str) -> str | None:
    """What is wrong with the request's SigV4 signature (None when botocore computes the same signature from the
    same secret key, date, region and service)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    authorization = request.headers.get("authorization", "")
    match = re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
        r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})",
        authorization,
    )
    if not match:
        return f"Authorization header is not a SigV4 signature: {authorization[:60]!r}"
    access_key, day, region, service, signed_headers, signature = match.groups()
    amz_date = request.headers.get("x-amz-date", "")
    if not amz_date.startswith(day):
        return "X-Amz-Date is missing or does not match the credential scope date"
    if "x-amz-content-sha256" not in signed_headers.split(";") or "host" not in signed_headers.split(";"):
        return f"host and x-amz-content-sha256 must be signed, signed were {signed_headers}"
    if request.headers.get("x-amz-content-sha256") != hashlib.sha256(request.body).hexdigest():
        return "X-Amz-Content-SHA256 is not the SHA-256 of the body that arrived"
    query = "&".join(f"{k}={v}" for k, values in request.query.items() for v in values)
    url = f"http://{request.headers['host']}{request.path}" + (f"?{query}" if query else "")
    headers = {name: request.headers[name] for name in signed_headers.split(";") if name in request.headers}
    aws_request = AWSRequest(method=request.method, url=url, data=request.body, headers=headers)
    aws_request.context["timestamp"] = amz_date
    signer = SigV4Auth(
        Credentials(access_key, secret_key, request.headers.get("x-amz-security-token")), service, region
    )
    canonical = signer.canonical_request(aws_request)
    expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
    if expected != signature:
        return "The request signature we calculated does not match the signature you provided."
    return None
