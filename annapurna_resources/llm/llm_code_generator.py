"""An LLM code generator: plan, write, review, smoke-run and repair one PyTorch training script per paper.

Backends: `anthropic` (Claude through the Anthropic API), `bedrock` (Claude on Amazon Bedrock; credentials from
the standard AWS chain) and `openai` (any OpenAI-compatible chat completions endpoint: OpenAI, vLLM, llama.cpp
server, Ollama; `base_url` like `http://host:8000/v1`, `model`, optional `api_key`). The SDKs retry 408/409/429/5xx
themselves (`max_retries`); what still fails becomes a failed attempt with a clear error, never an exception.

Flow of `generate`:
1. The paper's sections, under their headings in paper order; sections over `summarise_over_tokens` (chars/4) in
   all are summarised in chunks first (summaries keep equations, hyperparameters with their pages and dataset
   names).
2. Plan: components, equations, hyperparameters (name, value, page), dataset (and whether it is on the execution
   host offline; otherwise synthetic data shaped like it), training loop, metrics. Claude answers through a forced
   `record_plan` tool call; OpenAI-compatible models answer a JSON object in text, parsed leniently.
3. Code, then the static review (`check_contract`), then a smoke run (ANNAPURNA_SMOKE=1, short timeout) in a fresh
   temporary directory through the runner's sandbox. Review problems or the smoke run's error and stderr tail go
   back to the model; at most `max_attempts` code attempts within `time_budget_s`.
Every attempt is recorded (number, code sha256, stage reached, error, tokens). When none succeeds, the last code
comes back with `final_status` "failed" and the reasons, so the asset records it and its checks fail visibly.
"""

import ast
import hashlib
import json
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, PrivateAttr

from annapurna_resources.llm.claude_client import claude_client
from annapurna_resources.llm.code_contract import ALLOWED_MODULES, check_contract
from annapurna_resources.llm.code_generator import CodeGenerator, PaperSection

DEFAULT_MODELS = {
    "anthropic": "claude-sonnet-4-5",
    "bedrock": "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "openai": "gpt-4.1-mini",
}
GENERATOR_NAMES = {"anthropic": "claude", "bedrock": "claude-bedrock", "openai": "openai-compatible"}
BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"
ERROR_CHARS = 300  # the short error recorded per attempt
FEEDBACK_CHARS = 3000  # how much of a traceback goes back to the model

PLAN_SCHEMA = {
    "type": "object",
    "properties": {
        "components": {"type": "array", "items": {"type": "string"}},
        "equations": {"type": "array", "items": {"type": "string"}},
        "hyperparameters": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "value": {"type": ["number", "string"]},
                    "used_value": {"type": ["number", "string"]},
                    "page": {"type": "integer"},
                },
                "required": ["name", "value", "page"],
            },
        },
        "dataset": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "available_offline": {"type": "boolean"},
                "synthetic_shape": {"type": "string"},
            },
            "required": ["name", "available_offline", "synthetic_shape"],
        },
        "training_loop": {"type": "string"},
        "metrics": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["components", "equations", "hyperparameters", "dataset", "training_loop", "metrics"],
}
PLAN_TOOL = {
    "name": "record_plan",
    "description": "Record the implementation plan for a small-scale PyTorch reproduction of the paper.",
    "input_schema": PLAN_SCHEMA,
}

SYSTEM_PROMPT = (
    "You are a senior machine-learning engineer who reproduces research papers as small, faithful, runnable "
    "PyTorch training scripts."
)

CONTRACT = f"""\
The script contract (a static review and a smoke run check every point):
- One self-contained Python file, run as `python main.py` with no arguments, in an empty working directory.
- Imports only these modules: {", ".join(sorted(m for m in ALLOWED_MODULES if not m.startswith("_")))}.
- No network, no subprocesses, no reading or writing files outside the working directory (no absolute paths);
  no eval/exec/compile/__import__. The host has no internet and no dataset files: {{data_rule}}
- Device: try `import torch_xla.core.xla_model as xm; device = xm.xla_device()` (AWS Trainium) inside
  try/except ImportError, else `cuda` when `torch.cuda.is_available()`, else `cpu`.
- Reads the wall-clock budget `float(os.environ.get("ANNAPURNA_TIME_BUDGET_S", "60"))` and stops training
  before 90% of it has passed; when `os.environ.get("ANNAPURNA_SMOKE") == "1"` it runs only ~3 steps at tiny
  sizes (a smoke test that must finish in seconds on a CPU).
- Prints progress as lines `METRICS: {{{{json}}}}` (one JSON object per line, e.g. step and loss), and as the last
  line a METRICS object with a finite `final_loss` plus the paper's own metrics where they apply.
- Has `if __name__ == "__main__":` calling the entry point.
- Faithful to the paper: the same architecture, objective, equations and optimiser; scale sizes down to fit a
  CPU in the time budget and say so in comments; use the paper's hyperparameters where they fit."""

PLAN_PROMPT = """\
Plan a small-scale, faithful PyTorch reproduction of this paper.

<paper key="{paper_key}">
<title>{title}</title>
<abstract>{abstract}</abstract>
<sections>
{sections}
</sections>
</paper>

{contract}

The plan: the model's components; the key equations (LaTeX or plain text); every hyperparameter the paper states
(name, value as in the paper, the scaled-down value to use, and the page it comes from); the dataset (its name,
whether it is available offline on the execution host, and the shape of the synthetic stand-in otherwise); the
training loop; and the metrics to print.{answer_format}"""

PLAN_JSON_FORMAT = """

Answer with one JSON object only (no prose), with the keys components (list of strings), equations (list of
strings), hyperparameters (list of {"name", "value", "used_value", "page"}), dataset ({"name",
"available_offline", "synthetic_shape"}), training_loop (string), metrics (list of strings)."""

CODE_PROMPT = """\
Write the training script for this paper.

<paper key="{paper_key}">
<title>{title}</title>
<abstract>{abstract}</abstract>
<sections>
{sections}
</sections>
</paper>

<plan>
{plan}
</plan>

{contract}

Answer with the complete script in one ```python fenced block."""

REPAIR_PROMPT = """\
Your training script for the paper "{title}" ({paper_key}) failed {stage}. Fix it and answer with the complete
corrected script in one ```python fenced block.

<plan>
{plan}
</plan>

{contract}

<script>
{code}
</script>

<problems>
{problems}
</problems>"""

SUMMARY_PROMPT = """\
Summarise these sections ({first} to {last}) of the paper "{title}" for an engineer who must reimplement it. Keep
every equation (verbatim, LaTeX or plain text), every hyperparameter with its value and the page it is on (as
"name = value (p. N)"), every dataset name, and the architecture and training details; drop related work
and prose. Be concise.

<sections>
{sections}
</sections>"""


def _attribute(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _tagged(section: PaperSection) -> str:
    pages = f"{section.pages[0]}-{section.pages[-1]}" if len(section.pages) > 1 else str(section.first_page)
    return f'<section heading="{_attribute(section.heading)}" pages="{pages}">\n{section.text}\n</section>'


def _parts(section: PaperSection, limit: int) -> list[PaperSection]:
    """The section in pieces of at most `limit` characters (a long appendix is summarised whole, not cut)."""
    if len(section.text) <= limit:
        return [section]
    count = -(-len(section.text) // limit)
    return [
        PaperSection(
            f"{section.heading} (part {n + 1} of {count})", section.pages, section.text[n * limit : (n + 1) * limit]
        )
        for n in range(count)
    ]


class LlmError(Exception):
    """A model call that produced nothing usable: an API error after the SDK's retries, a refusal, a cut reply."""


@dataclass
class LlmReply:
    text: str
    tool_input: object
    stop_reason: str
    input_tokens: int
    output_tokens: int


def extract_code(text: str) -> str:
    """The script in a reply: the longest ```python fence (or any fence that parses), else the whole reply when it
    parses as Python with at least one statement; raises LlmError otherwise."""
    fences = re.findall(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", text, re.DOTALL | re.IGNORECASE)
    candidates = sorted(fences, key=len, reverse=True)
    for candidate in candidates:
        if _parses(candidate):
            return candidate.strip() + "\n"
    if candidates:
        return candidates[0].strip() + "\n"  # the review says why it does not parse
    if "```" in text:
        raise LlmError("the reply opens a code fence that never closes (a truncated reply?)")
    if (
        text.strip()
        and _parses(text)
        and any(isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef) for node in ast.parse(text).body)
    ):
        return text.strip() + "\n"
    raise LlmError(f"no ```python fenced block in the reply and the reply is not Python: {_short(text, 120)!r}")


def parse_json_object(text: str) -> dict:
    """A JSON object from a model's text: ```json fences stripped, else the outermost {...}; LlmError otherwise."""
    fenced = re.search(r"```(?:json)?\s*\n(.*?)```", text, re.DOTALL | re.IGNORECASE)
    candidates = [fenced.group(1)] if fenced else []
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        candidates.append(text[start : end + 1])
    candidates.append(text)
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    raise LlmError(f"the plan is not a JSON object: {_short(text, 120)!r}")


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return bool(code.strip())


def _short(text: str, limit: int = ERROR_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _dataset_id(name: str) -> str:
    """ "CIFAR-10", "cifar10" and "Cifar 10" name the same dataset."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _number(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value
    try:
        return float(str(value).replace("−", "-"))
    except ValueError:
        return value


class LlmCodeGenerator(CodeGenerator):
    """Plan -> code -> static review -> smoke run -> repair, with an LLM (see the module docstring)."""

    backend: str = "anthropic"  # anthropic | bedrock | openai
    model: str = Field(
        default="", description="Model id; empty: the backend's default (claude-sonnet-4-5 on Anthropic)."
    )
    api_key: str = ""
    base_url: str = Field(
        default="",
        description="API base URL: Anthropic's by default; an OpenAI-compatible server's (vLLM, llama.cpp, Ollama).",
    )
    aws_region: str = Field(default="us-east-1", description="Bedrock's region.")
    max_tokens: int = 16000  # for a code reply
    plan_max_tokens: int = 4096
    summary_max_tokens: int = 2048
    max_retries: int = 4
    request_timeout_s: float = 600.0
    input_usd_per_mtok: float | None = Field(
        default=None, description="USD per million input tokens; empty: 3.0 for Claude, 0 for a server of your own."
    )
    output_usd_per_mtok: float | None = Field(
        default=None, description="USD per million output tokens; empty: 15.0 for Claude, 0 for a server of your own."
    )
    max_attempts: int = Field(default=3, description="Code, review, smoke run and repair attempts per paper.")
    time_budget_s: float = Field(
        default=1800.0, description="No new model call starts after this many seconds on one paper."
    )
    summarise_over_tokens: int = Field(
        default=60_000, description="Sections longer than this in all (chars/4) are summarised in chunks first."
    )
    summary_chunk_tokens: int = 12000
    smoke_timeout_s: float = Field(default=90.0, description="Wall-clock limit of one smoke run.")
    smoke_time_budget_s: float = 20.0
    smoke_memory_mb: int = 8192
    # Datasets the execution host has offline: name -> how its files are laid out (e.g. "CIFAR-10 python pickles
    # data_batch_1..5 and test_batch"); each lies in <ANNAPURNA_DATA_DIR>/<name> on the host. None by default.
    datasets_offline: dict[str, str] = Field(
        default={},
        description="Datasets the execution host has offline, name -> how its files are laid out (told to the LLM).",
    )
    datasets_dir: str = Field(default="", description="The same datasets on this machine, for smoke runs.")
    _client: object | None = PrivateAttr(default=None)

    @property
    def smoke_runs(self) -> bool:
        return True

    @property
    def name(self) -> str:
        return GENERATOR_NAMES.get(self.backend, self.backend)

    @property
    def model_id(self) -> str:
        return self.model or DEFAULT_MODELS.get(self.backend, "")

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        own_server = self.backend == "openai"
        per_input = self.input_usd_per_mtok if self.input_usd_per_mtok is not None else 0.0 if own_server else 3.0
        per_output = self.output_usd_per_mtok if self.output_usd_per_mtok is not None else 0.0 if own_server else 15.0
        return (input_tokens * per_input + output_tokens * per_output) / 1_000_000

    # --- model calls -----------------------------------------------------------------------------------------

    def client(self):
        if self._client is None:
            if self.backend == "openai":
                import openai

                self._client = openai.OpenAI(
                    api_key=self.api_key or "not-needed",  # local servers (vLLM, llama.cpp, Ollama) take any key
                    base_url=self.base_url or None,
                    max_retries=self.max_retries,
                    timeout=self.request_timeout_s,
                )
            elif self.backend in ("anthropic", "bedrock"):
                self._client = claude_client(
                    bedrock=self.backend == "bedrock",
                    api_key=self.api_key,
                    base_url=self.base_url,
                    aws_region=self.aws_region,
                    max_retries=self.max_retries,
                    timeout_s=self.request_timeout_s,
                    error=LlmError,
                )
            else:
                raise LlmError(f"unknown code generator backend {self.backend!r}: anthropic, bedrock or openai")
        return self._client

    def ask(self, prompt: str, max_tokens: int, tool: dict | None = None) -> LlmReply:
        """One model call; LlmError when the API fails after the SDK's retries or the reply is unusable."""
        if self.backend == "openai":
            return self._ask_openai(prompt, max_tokens)
        return self._ask_claude(prompt, max_tokens, tool)

    def _ask_claude(self, prompt: str, max_tokens: int, tool: dict | None) -> LlmReply:
        import anthropic

        request = {
            "model": self.model_id,
            "max_tokens": max_tokens,
            "system": SYSTEM_PROMPT,
            "messages": [{"role": "user", "content": prompt}],
        }
        if tool is not None:
            request["tools"] = [tool]
            request["tool_choice"] = {"type": "tool", "name": tool["name"]}
        if self.backend == "bedrock":
            request["extra_body"] = {"anthropic_version": BEDROCK_ANTHROPIC_VERSION}
        try:
            response = self.client().messages.create(**request)
        except anthropic.APIStatusError as error:
            retried = error.status_code in (408, 409, 429) or error.status_code >= 500
            after = f" after {self.max_retries} retries" if retried else ""
            raise LlmError(f"{self.name} API error {error.status_code}{after}: {_short(error.message)}") from error
        except anthropic.AnthropicError as error:
            raise LlmError(f"{self.name} request failed: {type(error).__name__}: {_short(error)}") from error
        usage = response.usage
        text = "".join(getattr(b, "text", "") for b in response.content if b.type == "text")
        tool_input = next(
            (b.input for b in response.content if b.type == "tool_use" and tool and b.name == tool["name"]), None
        )
        return LlmReply(text, tool_input, response.stop_reason or "", usage.input_tokens, usage.output_tokens)

    def _ask_openai(self, prompt: str, max_tokens: int) -> LlmReply:
        import openai

        try:
            response = self.client().chat.completions.create(
                model=self.model_id,
                max_tokens=max_tokens,
                messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}],
            )
        except openai.APIStatusError as error:
            retried = error.status_code in (408, 409, 429) or error.status_code >= 500
            after = f" after {self.max_retries} retries" if retried else ""
            raise LlmError(f"{self.name} API error {error.status_code}{after}: {_short(error.message)}") from error
        except openai.OpenAIError as error:
            raise LlmError(f"{self.name} request failed: {type(error).__name__}: {_short(error)}") from error
        if not response.choices:
            raise LlmError(f"{self.name} replied with no choices")
        choice = response.choices[0]
        usage = response.usage
        stop = {"length": "max_tokens", "content_filter": "refusal"}.get(choice.finish_reason, choice.finish_reason)
        return LlmReply(
            choice.message.content or "",
            None,
            stop or "",
            usage.prompt_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
        )

    # --- the loop --------------------------------------------------------------------------------------------

    def generate(self, paper_key: str, title: str, abstract: str, sections: list[PaperSection]) -> dict:
        state = _Run(started=time.monotonic())
        section_text, summaries = self._section_text(title, sections, state)
        plan, plan_error = self._plan(paper_key, title, abstract, section_text, state)
        plan_json = json.dumps(plan, indent=1) if plan else "(no plan: work from the sections)"
        contract = CONTRACT.format(data_rule=self._data_rule())

        attempts: list[dict] = []
        code, final_ok, last_error, smoke = "", False, plan_error or "no attempt was made", None
        feedback: tuple[str, str] | None = None  # (stage description, problems) for a repair prompt
        for number in range(1, self.max_attempts + 1):
            if time.monotonic() - state.started > self.time_budget_s:
                last_error = f"time budget of {self.time_budget_s:g} s spent after {number - 1} attempt(s)"
                break
            if feedback is None or not code:
                prompt = CODE_PROMPT.format(
                    paper_key=paper_key, title=title, abstract=abstract, sections=section_text, plan=plan_json,
                    contract=contract,
                )  # fmt: skip
            else:
                prompt = REPAIR_PROMPT.format(
                    title=title, paper_key=paper_key, stage=feedback[0], plan=plan_json, contract=contract,
                    code=code, problems=feedback[1],
                )  # fmt: skip
            attempt = {"attempt": number, "code_sha256": "", "stage": "generate", "error": ""}
            try:
                reply = self.ask(prompt, self.max_tokens)
            except LlmError as error:
                attempt.update(error=_short(error), input_tokens=0, output_tokens=0)
                attempts.append(attempt)
                last_error = attempt["error"]
                continue
            state.add(reply)
            attempt.update(input_tokens=reply.input_tokens, output_tokens=reply.output_tokens)
            try:
                new_code = self._code_from(reply)
            except LlmError as error:
                attempt["error"] = _short(error)
                attempts.append(attempt)
                last_error = attempt["error"]
                continue
            code = new_code
            attempt["code_sha256"] = hashlib.sha256(code.encode()).hexdigest()
            attempt["stage"] = "review"
            report = check_contract(code)
            if not report.ok:
                attempt["error"] = _short("review: " + "; ".join(report.problems))
                attempts.append(attempt)
                last_error = attempt["error"]
                feedback = (
                    "the static review (nothing ran)",
                    "\n".join(f"- {p}" for p in report.problems),
                )
                continue
            attempt["stage"] = "smoke"
            smoke = self.smoke_run(code)
            attempt["smoke_seconds"] = smoke["seconds"]
            if smoke["status"] == "ok":
                attempts.append(attempt)
                final_ok = True
                break
            error_tail = (smoke["stderr_tail"] or smoke["stdout_tail"]).strip()
            last_line = error_tail.splitlines()[-1] if error_tail else ""
            attempt["error"] = _short(
                f"smoke run {smoke['status']}: {smoke['reason']}" + (f": {last_line}" if last_line else "")
            )
            attempts.append(attempt)
            last_error = attempt["error"]
            feedback = (
                "its smoke run (ANNAPURNA_SMOKE=1)",
                f"{smoke['status']}: {smoke['reason']}\n\nstderr (tail):\n{smoke['stderr_tail'][-FEEDBACK_CHARS:]}"
                f"\n\nstdout (tail):\n{smoke['stdout_tail'][-1000:]}",
            )

        return self._result(code, plan, plan_error, summaries, attempts, final_ok, last_error, smoke, state, sections)

    def _code_from(self, reply: LlmReply) -> str:
        if reply.stop_reason == "refusal":
            raise LlmError("the model refused to write the script")
        if reply.stop_reason == "max_tokens":
            raise LlmError(
                f"the reply was cut at max_tokens ({self.max_tokens}) after {reply.output_tokens} tokens: "
                "the script is incomplete"
            )
        return extract_code(reply.text)

    def smoke_run(self, code: str) -> dict:
        from annapurna_resources.launcher.host.trn1_runner import default_limits, run_sandboxed

        workdir = Path(tempfile.mkdtemp(prefix="annapurna-smoke-"))
        try:
            return run_sandboxed(
                code,
                workdir,
                timeout_s=self.smoke_timeout_s,
                time_budget_s=self.smoke_time_budget_s,
                smoke=True,
                limits=default_limits(self.smoke_timeout_s, self.smoke_memory_mb),
                data_dir=self.datasets_dir,
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _data_rule(self) -> str:
        if self.datasets_offline:
            listed = "; ".join(f"`{name}` ({layout})" for name, layout in sorted(self.datasets_offline.items()))
            return (
                "except these datasets, which the host has offline, read-only, each in its own directory "
                f'`os.path.join(os.environ["ANNAPURNA_DATA_DIR"], NAME)`: {listed}. When the paper uses one of them, '
                "read it from there (never write there) and fall back to synthetic data shaped like it when "
                "ANNAPURNA_DATA_DIR is unset or the directory is missing; for any other dataset generate synthetic "
                "data shaped like it (same input shapes, classes, vocabulary)."
            )
        return "generate synthetic data shaped like the paper's dataset (same input shapes, classes, vocabulary)."

    def _section_text(self, title: str, sections: list[PaperSection], state: "_Run") -> tuple[str, list[dict]]:
        """The sections under their headings, or summaries of them in chunks when they are too long in all."""
        raw = "\n\n".join(_tagged(section) for section in sections)
        if sum(len(section.text) for section in sections) // 4 <= self.summarise_over_tokens:
            return raw, []
        limit = 4 * self.summary_chunk_tokens
        chunks: list[list[PaperSection]] = [[]]
        for section in (part for whole in sections for part in _parts(whole, limit)):
            if chunks[-1] and sum(len(s.text) for s in chunks[-1]) + len(section.text) > limit:
                chunks.append([])
            chunks[-1].append(section)
        parts, summaries = [], []
        for chunk in chunks:
            first, last = chunk[0].heading, chunk[-1].heading
            text = "\n\n".join(_tagged(section) for section in chunk)
            record = {"sections": [section.heading for section in chunk], "error": ""}
            try:
                prompt = SUMMARY_PROMPT.format(first=first, last=last, title=title, sections=text)
                reply = self.ask(prompt, self.summary_max_tokens)
                state.add(reply)
                summary = reply.text.strip()
                if not summary:
                    raise LlmError("empty summary")
            except LlmError as error:  # fall back to the start of the sections themselves
                record["error"] = _short(error)
                summary = text[: limit // max(1, len(chunks))]
            summaries.append(record)
            parts.append(f'<summary sections="{_attribute(first)} to {_attribute(last)}">\n{summary}\n</summary>')
        return "\n\n".join(parts), summaries

    def _plan(self, paper_key, title, abstract, section_text, state: "_Run") -> tuple[dict, str]:
        contract = CONTRACT.format(data_rule=self._data_rule())
        claude = self.backend != "openai"
        prompt = PLAN_PROMPT.format(
            paper_key=paper_key, title=title, abstract=abstract, sections=section_text, contract=contract,
            answer_format=" Record it with the record_plan tool." if claude else PLAN_JSON_FORMAT,
        )  # fmt: skip
        try:
            reply = self.ask(prompt, self.plan_max_tokens, PLAN_TOOL if claude else None)
            state.add(reply)
            if claude:
                if not isinstance(reply.tool_input, dict):
                    cut = " (cut at max_tokens)" if reply.stop_reason == "max_tokens" else ""
                    raise LlmError(f"no record_plan tool call in the reply{cut}")
                plan = reply.tool_input
            else:
                plan = parse_json_object(reply.text)
        except LlmError as error:
            return {}, f"plan: {_short(error)}"
        return plan, ""

    def _result(self, code, plan, plan_error, summaries, attempts, final_ok, last_error, smoke, state, sections):
        dataset = plan.get("dataset") if isinstance(plan.get("dataset"), dict) else {}
        name = str(dataset.get("name") or "")
        offline = bool(dataset.get("available_offline")) and _dataset_id(name) in {
            _dataset_id(n) for n in self.datasets_offline
        }
        shape = str(dataset.get("synthetic_shape") or "")
        if offline:
            data_note = f"{name}: available offline on the execution host."
        elif name:
            data_note = f"{name} is not available offline on the execution host: synthetic data shaped like it" + (
                f" ({shape})." if shape else "."
            )
        else:
            data_note = "no dataset named in the plan: synthetic data for the task."
        page_numbers = {page for section in sections for page in section.pages}
        found = []
        for item in plan.get("hyperparameters") or []:
            if not isinstance(item, dict) or "name" not in item:
                continue
            value = _number(item.get("value"))
            found.append(
                {
                    "name": str(item["name"]),
                    "paper_value": value,
                    "used_value": _number(item.get("used_value", value)),
                    "page": item.get("page"),
                    "page_selected": item.get("page") in page_numbers,
                }
            )
        return {
            "code": code,
            "generator": self.name,
            "model": self.model_id,
            "scaffold": False,
            "family": "",
            "plan": plan,
            "plan_error": plan_error,
            "section_summaries": summaries,
            "dataset": name or "synthetic",
            "data_source": "real" if offline else "synthetic",
            "data_note": data_note,
            "hyperparameters_from_paper": found,
            "attempts": attempts,
            "attempt_count": len(attempts),
            "repaired": final_ok and len(attempts) > 1,
            "final_status": "ok" if final_ok else "failed",
            "final_error": "" if final_ok else last_error,
            "smoke": None
            if smoke is None
            else {k: smoke[k] for k in ("status", "reason", "exit_code", "seconds", "final")} | {"passed": final_ok},
            "input_tokens": state.input_tokens,
            "output_tokens": state.output_tokens,
            "cost_usd": round(self.cost_usd(state.input_tokens, state.output_tokens), 6),
            "seconds": round(time.monotonic() - state.started, 3),
        }


@dataclass
class _Run:
    started: float
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, reply: LlmReply) -> None:
        self.input_tokens += reply.input_tokens
        self.output_tokens += reply.output_tokens
