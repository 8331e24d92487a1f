"""A loopback fake of the two chat APIs the LLM code generator speaks, replaying one scenario for its whole loop.

- Anthropic Messages API: `POST /v1/messages` (Bearer or x-api-key, anthropic-version checked, no sampling
  parameters), answered in the Messages shape; a plan step answers with a forced `record_plan` tool call when the
  request names that tool.
- Claude on Bedrock: `POST /model/<model-id>/invoke`, SigV4-signed, `anthropic_version` in the body and no
  `model`; answered like the Messages API.
- OpenAI chat completions: `POST /v1/chat/completions` (`authorization: Bearer`), body {model, messages,
  max_tokens}, answered in the chat.completion shape with finish_reason "stop" or "length".

A scenario is a list of steps, one per model request, the last repeating; each step is `step(flavour, body)` ->
Reply, with flavour "anthropic" or "openai". Every request is kept (`fake.prompts()` gives each request's user
prompt) for assertions on what reached the model.
"""

import json
from collections.abc import Callable
from itertools import count

from tests.fakes.anthropic_api import ANTHROPIC_VERSIONS, _error, _message, bedrock_request_problem, is_bedrock_invoke
from tests.fakes.loopback import LoopbackServer, Reply, Request

Step = Callable[[str, dict], Reply]
_ids = count(1)

GOOD_PLAN = {
    "components": ["two-layer MLP regressor", "mean-squared-error objective"],
    "equations": ["y_hat = W_2 relu(W_1 x + b_1) + b_2", "L = mean((y_hat - y)^2)"],
    "hyperparameters": [
        {"name": "learning_rate", "value": 0.001, "used_value": 0.01, "page": 4},
        {"name": "hidden_dim", "value": 512, "used_value": 32, "page": 4},
        {"name": "optimizer", "value": "Adam", "used_value": "Adam", "page": 5},
    ],
    "dataset": {"name": "UCI Housing", "available_offline": False, "synthetic_shape": "8 features, 1 target"},
    "training_loop": "Adam on minibatches of 64 until the time budget; ~3 steps in smoke mode",
    "metrics": ["loss", "final_loss", "steps_per_sec"],
}


def _anthropic_text(text: str, stop_reason: str = "end_turn", input_tokens: int = 1500, output_tokens: int = 600):
    return Reply.json(_message([{"type": "text", "text": text}], stop_reason, input_tokens, output_tokens))


def _openai(text: str, finish_reason: str = "stop", input_tokens: int = 1500, output_tokens: int = 600) -> Reply:
    return Reply.json(
        {
            "id": f"chatcmpl-fake{next(_ids)}",
            "object": "chat.completion",
            "created": 1764064800,
            "model": "fake-coder-7b",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": input_tokens,
                "completion_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
        }
    )


def plan(value: dict | None = None) -> Step:
    """The plan: a forced record_plan call on Anthropic, a ```json fenced object in text on OpenAI."""
    value = GOOD_PLAN if value is None else value

    def step(flavour: str, body: dict) -> Reply:
        if flavour == "anthropic":
            tool = {"type": "tool_use", "id": f"toolu_01Plan{next(_ids):014d}", "name": "record_plan", "input": value}
            return Reply.json(_message([tool], "tool_use", 2000, 400))
        return _openai("Here is the plan:\n```json\n" + json.dumps(value, indent=1) + "\n```", input_tokens=2000)

    return step


def code(source: str, preface: str = "Here is the script:\n\n") -> Step:
    """A reply with the script in a ```python fence."""
    text = f"{preface}```python\n{source}```\n"
    return lambda flavour, body: (_anthropic_text if flavour == "anthropic" else _openai)(text)


def text(reply: str) -> Step:
    """A reply in prose only (no code)."""
    return lambda flavour, body: (_anthropic_text if flavour == "anthropic" else _openai)(reply)


def cut(source: str, keep: int = 200) -> Step:
    """A reply cut at max_tokens in the middle of the script."""
    partial = f"```python\n{source[:keep]}"

    def step(flavour: str, body: dict) -> Reply:
        if flavour == "anthropic":
            return _anthropic_text(partial, "max_tokens", output_tokens=body.get("max_tokens", 16000))
        return _openai(partial, "length", output_tokens=body.get("max_tokens") or 16000)

    return step


def server_error(status: int = 500) -> Step:
    def step(flavour: str, body: dict) -> Reply:
        if flavour == "anthropic":
            return _error("anthropic", status, "api_error", "Internal server error", "")
        return Reply.json({"error": {"message": "Internal server error", "type": "server_error"}}, status)

    return step


class FakeLlmApi:
    """`with FakeLlmApi(step, ...) as fake:` serves the scenario at `fake.url` (OpenAI base URL: `fake.url + '/v1'`)."""

    def __init__(self, *steps: Step):
        self.steps = list(steps)
        self.served = 0
        self.server = LoopbackServer(self.handle)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self) -> list[Request]:
        return self.server.requests

    def bodies(self) -> list[dict]:
        return [
            json.loads(r.body)
            for r in self.requests
            if r.path in ("/v1/messages", "/v1/chat/completions") or is_bedrock_invoke(r)
        ]

    def prompts(self) -> list[str]:
        """The user prompt of each model request, in order."""
        prompts = []
        for body in self.bodies():
            user = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
            prompts.append(user if isinstance(user, str) else json.dumps(user))
        return prompts

    def __enter__(self) -> "FakeLlmApi":
        self.server.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.server.__exit__(*exc)

    def _next(self, flavour: str, body: dict) -> Reply:
        step = self.steps[min(self.served, len(self.steps) - 1)]
        self.served += 1
        return step(flavour, body)

    def handle(self, request: Request) -> Reply:
        if request.method != "POST":
            return Reply.json({"error": {"message": "method not allowed"}}, 405)
        body = json.loads(request.body or b"{}")
        if request.path == "/v1/messages":
            if not (request.headers.get("authorization", "").startswith("Bearer ") or request.headers.get("x-api-key")):
                return _error("anthropic", 401, "authentication_error", "invalid x-api-key", "")
            if request.headers.get("anthropic-version") not in ANTHROPIC_VERSIONS:
                return _error("anthropic", 400, "invalid_request_error", "anthropic-version", "")
            missing = [f for f in ("model", "max_tokens", "messages") if f not in body]
            if missing:
                return _error("anthropic", 400, "invalid_request_error", f"{missing[0]}: Field required", "")
            if any(f in body for f in ("temperature", "top_p", "top_k")):
                return _error("anthropic", 400, "invalid_request_error", "sampling: Extra inputs are not permitted", "")
            return self._next("anthropic", body)
        if is_bedrock_invoke(request):  # Claude on Bedrock
            return bedrock_request_problem(request, body) or self._next("anthropic", body)
        if request.path == "/v1/chat/completions":
            if not request.headers.get("authorization", "").startswith("Bearer "):
                return Reply.json({"error": {"message": "missing bearer token", "type": "invalid_request_error"}}, 401)
            if not body.get("model") or not isinstance(body.get("messages"), list):
                return Reply.json({"error": {"message": "model and messages are required"}}, 400)
            return self._next("openai", body)
        return Reply.json({"error": {"message": f"no route {request.path}"}}, 404)
