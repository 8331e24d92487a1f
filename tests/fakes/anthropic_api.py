"""A loopback fake of the Anthropic Messages API and of Bedrock's runtime invoke path for Claude.

What the `anthropic` SDK sends, and what the fake checks:
- Anthropic API: `POST /v1/messages` with `authorization: Bearer <key>` (SDK 2.x; `x-api-key` before) and
  `anthropic-version: 2026-10-21`, body {model, max_tokens, messages, tools, tool_choice}; that API version
  rejects temperature/top_p/top_k with a 400, and so does the fake. `POST /v1/messages/count_tokens` answers
  {"input_tokens": n}.
- Bedrock: `POST /model/<model-id>/invoke` (the SDK moves `model` from the body into the path), SigV4-signed
  (`authorization: AWS4-HMAC-SHA256 ...`), body with `anthropic_version: "bedrock-2023-05-31"` and no `model`.
- Message Batches: `POST /v1/messages/batches` {requests: [{custom_id, params}]}, `GET /v1/messages/batches/<id>`
  (in_progress for `batch_polls` polls, then ended with a results_url), `GET .../results` (JSONL, one line per
  request, in reverse order: clients must match by custom_id), `POST .../cancel`. Each request of a batch takes
  the next scenario step: a 200 reply becomes a `succeeded` result, an error reply an `errored` one.
Both answer with the same Messages response shape. A scenario is a list of steps, one per request, the last
repeating; every request is kept (`fake.requests`, `fake.message_bodies()`) for assertions on the prompt.
"""

import json
import re
from collections.abc import Callable
from itertools import count

from tests.fakes.loopback import LoopbackServer, Reply, Request

RESPONSE_MODEL = "claude-sonnet-4-5-20250929"
BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"
ANTHROPIC_VERSIONS = ("2023-06-01", "2026-10-21")

# One step of a scenario: the reply for one request, given the API flavour ("anthropic" or "bedrock").
Step = Callable[[str], Reply]

GOOD_VERDICT = {
    "relevance": 0.86,
    "relevant": "yes",
    "accelerator_compatible": "yes",
    "accelerator_reason": "Dense matrix multiplies and softmax only; runs under PyTorch/XLA on Trainium.",
    "similar_to_indexed": "no",
    "most_similar_key": "arxiv-1706-03762",
    "topics": ["efficient attention", "long context"],
    "reasons": [
        "Matches the interest in fast attention kernels and efficient inference.",
        "Related to the indexed Transformer paper but proposes a different attention approximation.",
    ],
}

_message_ids = count(1)


def _message(content: list[dict], stop_reason: str, input_tokens: int, output_tokens: int, **extra) -> dict:
    return {
        "id": f"msg_01Fake{next(_message_ids):018d}",
        "type": "message",
        "role": "assistant",
        "model": RESPONSE_MODEL,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "service_tier": "standard",
        },
        **extra,
    }


def _tool_use(tool_input: dict) -> dict:
    return {
        "type": "tool_use",
        "id": f"toolu_01Fake{next(_message_ids):016d}",
        "name": "record_verdict",
        "input": tool_input,
    }


def tool_verdict(tool_input: dict | None = None, input_tokens: int = 912, output_tokens: int = 187) -> Step:
    """A complete record_verdict call (GOOD_VERDICT unless given)."""
    body = _message(
        [_tool_use(GOOD_VERDICT if tool_input is None else tool_input)], "tool_use", input_tokens, output_tokens
    )
    return lambda flavour: Reply.json(body)


def text_only(text: str = "This paper is relevant to attention kernels.") -> Step:
    """Claude answered in prose and never called the tool."""
    body = _message([{"type": "text", "text": text}], "end_turn", 900, 20)
    return lambda flavour: Reply.json(body)


def refusal() -> Step:
    body = _message(
        [{"type": "text", "text": "I can't help with that."}],
        "refusal",
        905,
        9,
        stop_details={"type": "refusal", "category": "general_harms", "explanation": "policy: general harms"},
    )
    return lambda flavour: Reply.json(body)


def cut_at_max_tokens(partial_input: dict | None = None) -> Step:
    """stop_reason max_tokens: only a text preamble, or a tool call with the fields written so far."""
    content = [{"type": "text", "text": "Let me weigh the paper against each research"}]
    if partial_input is not None:
        content = [_tool_use(partial_input)]
    body = _message(content, "max_tokens", 910, 1024)
    return lambda flavour: Reply.json(body)


def _error(flavour: str, status: int, error_type: str, message: str, bedrock_type: str, **headers) -> Reply:
    if flavour == "bedrock":  # Bedrock's own error shape: {"message"} plus the x-amzn-ErrorType header
        return Reply.json({"message": message}, status, **{"x-amzn-ErrorType": bedrock_type, **headers})
    body = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_01FakeError"}
    return Reply.json(body, status, **{"request-id": "req_01FakeError", **headers})


def rate_limited(retry_after: str = "0.05") -> Step:
    return lambda flavour: _error(
        flavour,
        429,
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit",
        "ThrottlingException",
        **{"retry-after": retry_after},
    )


def overloaded(retry_after: str = "0.05") -> Step:
    """529 overloaded_error on the Anthropic API; Bedrock says 503 ServiceUnavailableException."""
    return lambda flavour: _error(
        flavour,
        529 if flavour == "anthropic" else 503,
        "overloaded_error",
        "Overloaded",
        "ServiceUnavailableException",
        **{"retry-after": retry_after},
    )


def _counted_tokens(body: dict) -> int:
    return len(json.dumps(body)) // 4 + 313


def is_bedrock_invoke(request: Request) -> bool:
    return request.path.startswith("/model/") and request.path.endswith("/invoke")


def bedrock_request_problem(request: Request, body: dict) -> Reply | None:
    """Bedrock's answer to an unsigned request or a body in the Anthropic API's shape; None when it is valid."""
    if not request.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 Credential="):
        return _error("bedrock", 403, "", "Missing Authentication Token", "AccessDeniedException")
    if body.get("anthropic_version") != BEDROCK_ANTHROPIC_VERSION or "model" in body:
        message = f"anthropic_version is {body.get('anthropic_version')!r}; model must not be in the body"
        return _error("bedrock", 400, "", message, "ValidationException")
    return None


class FakeAnthropicApi:
    """`with FakeAnthropicApi(step, ...) as fake:` serves the scenario at `fake.url`."""

    def __init__(self, *steps: Step, batch_polls: int = 1):
        self.steps = list(steps) or [tool_verdict()]
        self.served = 0
        self.batch_polls = batch_polls
        self.batches: dict[str, dict] = {}
        self.server = LoopbackServer(self.handle)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self) -> list[Request]:
        return self.server.requests

    def message_bodies(self) -> list[dict]:
        """The JSON bodies of every message request (Anthropic or Bedrock), retries included."""
        return [json.loads(r.body) for r in self.requests if r.path == "/v1/messages" or is_bedrock_invoke(r)]

    def __enter__(self) -> "FakeAnthropicApi":
        self.server.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.server.__exit__(*exc)

    def _next_step(self) -> Step:
        step = self.steps[min(self.served, len(self.steps) - 1)]
        self.served += 1
        return step

    def _invalid_params(self, body: dict, version: str) -> Reply | None:
        missing = [f for f in ("model", "max_tokens", "messages") if f not in body]
        if missing:
            return _error("anthropic", 400, "invalid_request_error", f"{missing[0]}: Field required", "")
        sampling = [f for f in ("temperature", "top_p", "top_k") if f in body]
        if sampling and version == "2026-10-21":  # that API version removed the sampling parameters
            return _error(
                "anthropic", 400, "invalid_request_error", f"{sampling[0]}: Extra inputs are not permitted", ""
            )
        return None

    def handle(self, request: Request) -> Reply:
        if request.path.startswith("/v1/"):
            if not (request.headers.get("authorization", "").startswith("Bearer ") or request.headers.get("x-api-key")):
                return _error("anthropic", 401, "authentication_error", "invalid x-api-key", "")
            version = request.headers.get("anthropic-version")
            if version not in ANTHROPIC_VERSIONS:
                return _error("anthropic", 400, "invalid_request_error", f"anthropic-version {version!r}", "")
            if request.path.startswith("/v1/messages/batches"):
                return self._handle_batches(request, version)
        if request.method != "POST":
            return _error("anthropic", 405, "invalid_request_error", "method not allowed", "ValidationException")
        body = json.loads(request.body or b"{}")
        if request.path in ("/v1/messages", "/v1/messages/count_tokens"):
            if request.path.endswith("/count_tokens"):
                return Reply.json({"input_tokens": _counted_tokens(body)})
            return self._invalid_params(body, version) or self._next_step()("anthropic")
        if is_bedrock_invoke(request):
            return bedrock_request_problem(request, body) or self._next_step()("bedrock")
        return _error("anthropic", 404, "not_found_error", f"no route {request.path}", "UnknownOperationException")

    def _batch_object(self, batch_id: str) -> dict:
        batch = self.batches[batch_id]
        ended = batch["polls"] >= self.batch_polls or batch["cancelled"]
        total = len(batch["requests"])
        return {
            "id": batch_id,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": {
                "processing": 0 if ended else total,
                "succeeded": total if ended and not batch["cancelled"] else 0,
                "errored": 0,
                "canceled": total if batch["cancelled"] else 0,
                "expired": 0,
            },
            "created_at": "2026-11-25T10:00:00Z",
            "expires_at": "2026-11-26T10:00:00Z",
            "ended_at": "2026-11-25T10:05:00Z" if ended else None,
            "archived_at": None,
            "cancel_initiated_at": "2026-11-25T10:04:00Z" if batch["cancelled"] else None,
            "results_url": f"{self.url}/v1/messages/batches/{batch_id}/results" if ended else None,
        }

    def _handle_batches(self, request: Request, version: str) -> Reply:
        path = request.path.removeprefix("/v1/messages/batches").strip("/")
        if request.method == "POST" and not path:
            body = json.loads(request.body or b"{}")
            requests = body.get("requests") or []
            if not requests:
                return _error("anthropic", 400, "invalid_request_error", "requests: at least one request", "")
            for entry in requests:
                if not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", str(entry.get("custom_id", ""))):
                    message = f"custom_id {entry.get('custom_id')!r} must match ^[a-zA-Z0-9_-]{{1,64}}$"
                    return _error("anthropic", 400, "invalid_request_error", message, "")
                invalid = self._invalid_params(entry.get("params") or {}, version)
                if invalid is not None:
                    return invalid
            batch_id = f"msgbatch_01Fake{next(_message_ids):012d}"
            self.batches[batch_id] = {"requests": requests, "polls": 0, "cancelled": False}
            return Reply.json(self._batch_object(batch_id))
        batch_id, _, action = path.partition("/")
        if batch_id not in self.batches:
            return _error("anthropic", 404, "not_found_error", f"no message batch {batch_id}", "")
        batch = self.batches[batch_id]
        if request.method == "POST" and action == "cancel":
            batch["cancelled"] = True
            return Reply.json(self._batch_object(batch_id))
        if request.method == "GET" and not action:
            batch["polls"] += 1
            return Reply.json(self._batch_object(batch_id))
        if request.method == "GET" and action == "results":
            lines = []
            for entry in batch["requests"]:
                if batch["cancelled"]:
                    lines.append(json.dumps({"custom_id": entry["custom_id"], "result": {"type": "canceled"}}))
                    continue
                reply = self._next_step()("anthropic")
                answer = json.loads(reply.body)
                result = (
                    {"type": "succeeded", "message": answer}
                    if reply.status == 200
                    else {"type": "errored", "error": answer}
                )
                lines.append(json.dumps({"custom_id": entry["custom_id"], "result": result}))
            return Reply(200, "\n".join(reversed(lines)) + "\n", {"Content-Type": "application/binary"})
        return _error("anthropic", 404, "not_found_error", f"no route {request.method} {request.path}", "")
