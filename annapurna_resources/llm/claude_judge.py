"""A Claude judge (Anthropic API or Amazon Bedrock) behind the `Judge` interface.

Claude answers through one forced tool call, `record_verdict`, so the verdict is structured JSON that is
validated here before it becomes a decision. Anything that is not a valid verdict (an API error after the
SDK's retries, a refusal, a reply cut at max_tokens, a missing or malformed tool call) raises `JudgeFailure`:
the `verdict` stage records it as an error, never as a silent reject.

Retries are the SDK's: it retries 408/409/429/5xx (529 overloaded included) up to `max_retries` times and
waits what `retry-after-ms` / `retry-after` asks (else exponential backoff from 0.5 s, at most 8 s).
The SDK is imported on first use.

Large backfills: with `use_message_batches`, `judge_many` sends a run's papers as one Message Batch (half price)
and polls it until it ends; each paper's result becomes its verdict or its JudgeFailure.

The prompt is configuration (`prompt_template`, placeholders below); its hash is the verdict's prompt_version.

Sampling: the SDK (2.x) sends `anthropic-version: 2026-10-21`, which rejects `temperature` (even 0 or 1) with a
400, so the Anthropic API request has none; the forced tool call and schema validation keep verdicts
structured. Bedrock's invoke body (`anthropic_version: bedrock-2023-05-31`) still takes it: temperature 0 there.
"""

import hashlib
import math
import string
import time

import numpy as np
from pydantic import Field, PrivateAttr, field_validator

from annapurna_resources.llm.claude_client import claude_client
from annapurna_resources.llm.judge import DEFAULT_RESEARCH_INTERESTS, Judge, JudgeFailure, JudgeRequest
from annapurna_resources.storage.paper_document import NeighbourEntry, VerdictSection
from annapurna_resources.storage.paper_index import Neighbour

DEFAULT_CLAUDE_MODEL = "claude-sonnet-4-5"
DEFAULT_BEDROCK_MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"
RELEVANCE_TO_ACCEPT = 0.5

DEFAULT_PROMPT_TEMPLATE = """\
You screen new machine-learning papers for a research team that reimplements promising papers and runs \
them on {target_accelerator} (AWS Trainium) accelerators.

The team's research interests, one per line:
<research_interests>
{research_interests}
</research_interests>

The paper to judge:
<paper>
<title>{title}</title>
<abstract>{abstract}</abstract>
</paper>

The papers already in the team's index that are nearest to this one by embedding similarity \
(key | cosine similarity | title):
<indexed_neighbours>
{neighbours}
</indexed_neighbours>

Judge the paper and record your verdict with the record_verdict tool:
- relevance: 0 to 1, how closely the paper matches at least one research interest (0.5 or more only when it \
clearly matches one).
- relevant: "yes" only when the paper clearly matches a research interest; "no" when it does not or you are \
unsure.
- accelerator_compatible: "yes" when the method can be trained or run on {target_accelerator} with standard \
PyTorch/XLA operations, "no" when it needs hardware or kernels {target_accelerator} lacks, "unclear" when the \
abstract does not say enough.
- similar_to_indexed: "yes" when one of the indexed neighbours is the same paper or substantially the same \
contribution (then most_similar_key is its key); "no" otherwise (most_similar_key may be "").
- topics: a few short topic labels; reasons: one to four short sentences explaining the verdict.
Be conservative: when in doubt, the paper is not relevant."""

VERDICT_TOOL = {
    "name": "record_verdict",
    "description": "Record the verdict on the paper: relevance to the research interests, accelerator fit and "
    "novelty against the indexed neighbours.",
    "input_schema": {
        "type": "object",
        "properties": {
            "relevance": {"type": "number", "minimum": 0, "maximum": 1},
            "relevant": {"type": "string", "enum": ["yes", "no"]},
            "accelerator_compatible": {"type": "string", "enum": ["yes", "no", "unclear"]},
            "accelerator_reason": {"type": "string"},
            "similar_to_indexed": {"type": "string", "enum": ["yes", "no"]},
            "most_similar_key": {"type": "string"},
            "topics": {"type": "array", "items": {"type": "string"}},
            "reasons": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        },
        "required": [
            "relevance",
            "relevant",
            "accelerator_compatible",
            "accelerator_reason",
            "similar_to_indexed",
            "most_similar_key",
            "topics",
            "reasons",
        ],
    },
}
_ENUMS = {
    "relevant": ("yes", "no"),
    "accelerator_compatible": ("yes", "no", "unclear"),
    "similar_to_indexed": ("yes", "no"),
}


PROMPT_PLACEHOLDERS = {"research_interests", "target_accelerator", "title", "abstract", "neighbours"}


def check_prompt_template(template: str) -> str:
    """The template when it names only known placeholders and at least {title} and {abstract}, else ValueError."""
    try:
        named = {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    except ValueError as error:
        raise ValueError(f"the judge prompt template does not parse as a format string: {error}") from error
    unknown = sorted(named - PROMPT_PLACEHOLDERS)
    missing = sorted({"title", "abstract"} - named)
    if unknown or missing:
        raise ValueError(
            "the judge prompt template "
            + "; ".join(
                ([f"names unknown placeholders {unknown}"] if unknown else [])
                + ([f"lacks {missing}"] if missing else [])
            )
            + f" (placeholders: {', '.join('{' + p + '}' for p in sorted(PROMPT_PLACEHOLDERS))}; double literal braces)"
        )
    return template


def validate_verdict_input(tool_input: object) -> dict:
    """The `record_verdict` input when it matches the schema, else JudgeFailure with every problem found."""
    if not isinstance(tool_input, dict):
        raise JudgeFailure(f"record_verdict input is {type(tool_input).__name__}, not an object")
    problems = []
    missing = [name for name in VERDICT_TOOL["input_schema"]["required"] if name not in tool_input]
    if missing:
        problems.append(f"missing fields: {', '.join(missing)}")
    relevance = tool_input.get("relevance")
    if "relevance" in tool_input and (
        isinstance(relevance, bool)
        or not isinstance(relevance, int | float)
        or not math.isfinite(relevance)
        or not 0.0 <= relevance <= 1.0
    ):
        problems.append(f"relevance is {relevance!r}, not a number in [0, 1]")
    for name, allowed in _ENUMS.items():
        if name in tool_input and tool_input[name] not in allowed:
            problems.append(f"{name} is {tool_input[name]!r}, not one of {'/'.join(allowed)}")
    for name in ("accelerator_reason", "most_similar_key"):
        if name in tool_input and not isinstance(tool_input[name], str):
            problems.append(f"{name} is not a string")
    for name in ("topics", "reasons"):
        value = tool_input.get(name)
        if name in tool_input and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            problems.append(f"{name} is not a list of strings")
    if isinstance(tool_input.get("reasons"), list) and not tool_input["reasons"]:
        problems.append("reasons is empty")
    if problems:
        raise JudgeFailure("invalid record_verdict input: " + "; ".join(problems))
    return tool_input


def neighbour_lines(neighbours: list[Neighbour]) -> str:
    if not neighbours:
        return "(none: no other paper is indexed yet)"
    return "\n".join(f"{n.key} | {n.similarity:.2f} | {n.title}" for n in neighbours)


def _custom_id(index: int) -> str:
    """Message Batch custom ids must match ^[a-zA-Z0-9_-]{1,64}$, which paper keys need not."""
    return f"paper-{index}"


def _neighbour_dict(neighbour: Neighbour) -> NeighbourEntry:
    return {"key": neighbour.key, "title": neighbour.title, "similarity": round(neighbour.similarity, 4)}


class ClaudeJudge(Judge):
    """Claude through the Anthropic API (`api_key`, `base_url`) or Amazon Bedrock (`use_bedrock`; credentials
    from the standard AWS chain). An empty `base_url` means the SDK's default endpoint."""

    model: str = Field(default=DEFAULT_CLAUDE_MODEL, description="Claude model id (Anthropic API).")
    api_key: str = ""
    base_url: str = Field(default="", description="Anthropic API base URL; empty: Anthropic's.")
    use_bedrock: bool = False
    aws_region: str = Field(default="us-east-1", description="Bedrock's region.")
    bedrock_model: str = Field(default=DEFAULT_BEDROCK_MODEL, description="Claude model id on Bedrock (kind bedrock).")
    research_interests: str = Field(
        default=DEFAULT_RESEARCH_INTERESTS, description="The team's research interests, one per line."
    )
    target_accelerator: str = Field(
        default="trn1", description="The accelerator the judge checks a paper's compatibility with."
    )
    max_tokens: int = 1024
    max_retries: int = 4
    timeout_s: float = 120.0
    input_usd_per_mtok: float = Field(
        default=3.0, description="USD per million input tokens (the verdict's recorded cost)."
    )
    output_usd_per_mtok: float = Field(default=15.0, description="USD per million output tokens.")
    prompt_template: str = Field(
        default=DEFAULT_PROMPT_TEMPLATE,
        description="The prompt, with {research_interests}, {title}, {abstract}, {neighbours}, {target_accelerator}.",
    )
    use_message_batches: bool = Field(
        default=False,
        description="Judge a run's papers as one Message Batch (half price) when there are batch_min_papers.",
    )
    batch_min_papers: int = Field(default=10, description="Papers a run needs for a Message Batch.")
    batch_poll_s: float = Field(default=30.0, description="Seconds between polls of a Message Batch.")
    batch_max_wait_s: float = Field(
        default=24 * 3600.0,
        description="A Message Batch still open after this is cancelled (its papers fail well_formed).",
    )
    batch_price_factor: float = 0.5  # Message Batches cost half the standard price
    _client: object | None = PrivateAttr(default=None)
    _batch_id: str = PrivateAttr(default="")

    @field_validator("prompt_template")
    @classmethod
    def _known_placeholders(cls, template: str) -> str:
        return check_prompt_template(template)

    @property
    def name(self) -> str:
        return "claude-bedrock" if self.use_bedrock else "claude"

    @property
    def model_id(self) -> str:
        return self.bedrock_model if self.use_bedrock else self.model

    def prompt_version(self) -> str:
        return hashlib.sha256((self.prompt_template + self.research_interests).encode()).hexdigest()[:12]

    def prompt(self, title: str, abstract: str, neighbours: list[Neighbour]) -> str:
        return self.prompt_template.format(
            research_interests=self.research_interests.strip(),
            target_accelerator=self.target_accelerator,
            title=title.strip(),
            abstract=abstract.strip(),
            neighbours=neighbour_lines(neighbours),
        )

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_usd_per_mtok + output_tokens * self.output_usd_per_mtok) / 1_000_000

    def client(self):
        if self._client is None:
            self._client = claude_client(
                bedrock=self.use_bedrock,
                api_key=self.api_key,
                base_url=self.base_url,
                aws_region=self.aws_region,
                max_retries=self.max_retries,
                timeout_s=self.timeout_s,
                error=JudgeFailure,
            )
        return self._client

    def _request(self, title: str, abstract: str, neighbours: list[Neighbour]) -> dict:
        request = {
            "model": self.model_id,
            "messages": [{"role": "user", "content": self.prompt(title, abstract, neighbours)}],
            "tools": [VERDICT_TOOL],
            "tool_choice": {"type": "tool", "name": VERDICT_TOOL["name"]},
        }
        if self.use_bedrock:  # Bedrock's invoke body names its own API version, which still takes a temperature
            request["extra_body"] = {"anthropic_version": BEDROCK_ANTHROPIC_VERSION, "temperature": 0.0}
        return request

    def judge(
        self, title: str, abstract: str, neighbours: list[Neighbour], paper_vector: np.ndarray | None = None
    ) -> VerdictSection:
        import anthropic

        try:
            response = self.client().messages.create(
                **self._request(title, abstract, neighbours), max_tokens=self.max_tokens
            )
        except anthropic.APIStatusError as error:
            retried = error.status_code in (408, 409, 429) or error.status_code >= 500
            after = f" after {self.max_retries} retries" if retried else ""
            raise JudgeFailure(f"{self.name} API error {error.status_code}{after}: {error.message}") from error
        except anthropic.AnthropicError as error:
            raise JudgeFailure(f"{self.name} request failed: {type(error).__name__}: {error}") from error
        return self._verdict_from_message(response, neighbours)

    def judge_many(self, requests: list[JudgeRequest]) -> list[VerdictSection | JudgeFailure]:
        """One Message Batch (half price, answers within 24 h) when `use_message_batches` is on and there are at
        least `batch_min_papers` requests; one request per paper otherwise (and always on Bedrock, whose batch
        inference is an S3 job, not this API)."""
        if not self.use_message_batches or self.use_bedrock or len(requests) < self.batch_min_papers:
            return super().judge_many(requests)
        try:
            results = self._run_message_batch(requests)
        except JudgeFailure as failure:
            return [failure] * len(requests)
        verdicts: list[dict | JudgeFailure] = []
        for i, request in enumerate(requests):
            result = results.get(_custom_id(i))
            try:
                if result is None:
                    raise JudgeFailure("the Message Batch results have no entry for this paper")
                if result.type == "errored":
                    error = result.error.error
                    raise JudgeFailure(f"the Message Batch request errored: {error.type}: {error.message}")
                if result.type != "succeeded":  # canceled or expired (not processed within 24 h)
                    raise JudgeFailure(f"the Message Batch request was {result.type}")
                verdict = self._verdict_from_message(result.message, request.neighbours, self.batch_price_factor)
                verdicts.append({**verdict, "message_batch": self._batch_id})
            except JudgeFailure as failure:
                verdicts.append(failure)
        return verdicts

    def _run_message_batch(self, requests: list[JudgeRequest]) -> dict:
        """Submit every request as one Message Batch, wait for it to end, and return {custom_id: result}."""
        import anthropic

        batches = self.client().messages.batches
        try:
            batch = batches.create(
                requests=[
                    {
                        "custom_id": _custom_id(i),
                        "params": {
                            **self._request(r.title, r.abstract, r.neighbours),
                            "max_tokens": self.max_tokens,
                        },
                    }
                    for i, r in enumerate(requests)
                ]
            )
            self._batch_id = batch.id
            deadline = time.monotonic() + self.batch_max_wait_s
            while batch.processing_status != "ended":
                if time.monotonic() > deadline:
                    batches.cancel(batch.id)
                    raise JudgeFailure(
                        f"Message Batch {batch.id} did not end within {self.batch_max_wait_s:.0f} s; cancelled"
                    )
                time.sleep(self.batch_poll_s)
                batch = batches.retrieve(batch.id)
            return {entry.custom_id: entry.result for entry in batches.results(batch.id)}
        except anthropic.APIStatusError as error:
            raise JudgeFailure(f"Message Batches API error {error.status_code}: {error.message}") from error
        except anthropic.AnthropicError as error:
            raise JudgeFailure(f"Message Batch failed: {type(error).__name__}: {error}") from error

    def _verdict_from_message(self, response, neighbours: list[Neighbour], price_factor: float = 1.0) -> VerdictSection:
        if response.stop_reason == "refusal":
            details = getattr(response, "stop_details", None)
            explanation = getattr(details, "explanation", None) or getattr(details, "category", None) or ""
            raise JudgeFailure(f"Claude refused to judge the paper{': ' + explanation if explanation else ''}")
        tool_calls = [b for b in response.content if b.type == "tool_use" and b.name == VERDICT_TOOL["name"]]
        if not tool_calls:
            if response.stop_reason == "max_tokens":
                raise JudgeFailure(
                    f"the reply was cut at max_tokens ({self.max_tokens}) before the record_verdict call"
                )
            raise JudgeFailure(f"no record_verdict tool call in the reply (stop_reason {response.stop_reason!r})")
        try:
            verdict_input = validate_verdict_input(tool_calls[0].input)
        except JudgeFailure as failure:
            if response.stop_reason == "max_tokens":
                raise JudgeFailure(f"the reply was cut at max_tokens ({self.max_tokens}): {failure}") from None
            raise
        usage = response.usage
        return self._verdict(verdict_input, neighbours, usage.input_tokens, usage.output_tokens, price_factor)

    def _verdict(
        self, answer: dict, neighbours: list[Neighbour], input_tokens: int, output_tokens: int, price_factor: float
    ) -> VerdictSection:
        by_key = {n.key: n for n in neighbours}
        similar = answer["similar_to_indexed"] == "yes"
        named = by_key.get(answer["most_similar_key"])
        if similar and named is None:
            raise JudgeFailure(
                f"record_verdict says the paper is similar to {answer['most_similar_key']!r}, "
                "which is not one of the indexed neighbours it was shown"
            )
        most_similar = named or (neighbours[0] if neighbours else None)
        novelty = 1.0 if most_similar is None else min(1.0, max(0.0, 1.0 - most_similar.similarity))
        relevant = answer["relevant"] == "yes"
        relevance = float(answer["relevance"])
        accept = relevant and relevance >= RELEVANCE_TO_ACCEPT and not similar
        reasons = list(answer["reasons"])
        reasons.append(f"{self.target_accelerator} compatible: {answer['accelerator_compatible']}")
        if similar:
            reasons.append(f"substantially the same as indexed paper '{named.title}' ({named.key}): not novel")
        return {
            "judge": self.name,
            "model": self.model_id,
            "prompt_version": self.prompt_version(),
            "decision": "accept" if accept else "reject",
            "relevant": relevant,
            "relevance": round(relevance, 4),
            "novelty": round(novelty, 4),
            "similar": similar,
            "accelerator_compatible": answer["accelerator_compatible"],
            "accelerator_reason": answer["accelerator_reason"],
            "topics": list(answer["topics"]),
            "most_similar": _neighbour_dict(most_similar) if most_similar else None,
            "neighbours": [_neighbour_dict(n) for n in neighbours],
            "reasons": reasons,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cost_usd": round(self.cost_usd(input_tokens, output_tokens) * price_factor, 6),
        }
