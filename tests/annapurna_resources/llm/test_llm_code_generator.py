"""The LLM code generator's whole loop (plan, code, review, smoke run, repair) against a loopback fake of the
Anthropic Messages API and of OpenAI chat completions. The "good" scripts are real PyTorch scripts that pass the
smoke run on CPU."""

import json
from pathlib import Path

import pytest

from annapurna_assets.codegen.assets import write_code
from annapurna_resources import LocalBlobStore, LogNotifier, PaperSection, SqlitePaperIndex
from annapurna_resources.llm.code_contract import check_contract
from annapurna_resources.llm.llm_code_generator import LlmCodeGenerator, extract_code, parse_json_object
from tests.fakes.llm_api import GOOD_PLAN, FakeLlmApi, code, cut, plan, server_error, text

GOOD = (Path(__file__).parents[2] / "fixtures" / "llm_good_script.py").read_text()
NEEDS_REQUESTS = GOOD.replace("import json\n", "import json\n\nimport requests\n", 1)
SHAPE_ERROR = GOOD.replace("nn.Linear(8, hidden)", "nn.Linear(16, hidden)")
SECTIONS = [
    PaperSection("3 Model", (3,), "We train a two-layer MLP with hidden size 512."),
    PaperSection("4 Training", (4,), "Learning rate 1e-3 with Adam, batch 64."),
]


def store_paper(paper_index, blob_store, key: str = "local-mlp") -> None:
    """A paper read into SECTIONS, as paper_text and selected_pages leave it."""
    from annapurna_assets.papers.structure import Block, PaperText, Section

    sections = [
        Section(
            s.heading.split(" ", 1)[1], s.heading.split(" ", 1)[0], blocks=[Block(s.first_page, "paragraph", s.text)]
        )
        for s in SECTIONS
    ]
    structure = PaperText(sections, 4, "pdf outline")
    ref = blob_store.put(
        json.dumps({"pages": ["", "", *(s.text for s in SECTIONS)], "structure": structure.to_json()}).encode()
    )
    paper_index.update(
        key,
        metadata={"title": "A tiny MLP", "abstract": "We fit an MLP."},
        text={"ref": ref},
        pages={"sections": [{"index": i, "kept": True} for i in range(len(sections))]},
    )


def generator(fake: FakeLlmApi, backend: str, **overrides) -> LlmCodeGenerator:
    settings = {"anthropic": {"api_key": "test-key", "base_url": fake.url}}.get(
        backend, {"api_key": "sk-test", "base_url": fake.url + "/v1", "model": "fake-coder-7b"}
    )
    return LlmCodeGenerator(backend=backend, max_retries=0, smoke_timeout_s=60, **settings, **overrides)


def run(fake: FakeLlmApi, backend: str, **overrides) -> dict:
    return generator(fake, backend, **overrides).generate("local-mlp", "A tiny MLP", "We fit an MLP.", SECTIONS)


def test_fixtures_are_what_they_claim():
    assert check_contract(GOOD).ok
    assert any("requests" in p for p in check_contract(NEEDS_REQUESTS).problems)
    assert check_contract(SHAPE_ERROR).ok  # it passes the review and crashes only when it runs


@pytest.mark.parametrize("backend", ["anthropic", "openai"])
def test_good_plan_and_code_pass_on_the_first_attempt(backend):
    with FakeLlmApi(plan(), code(GOOD)) as fake:
        result = run(fake, backend)
    assert result["final_status"] == "ok" and result["attempt_count"] == 1 and not result["repaired"]
    assert result["code"] == GOOD
    assert result["generator"] == {"anthropic": "claude", "openai": "openai-compatible"}[backend]
    assert result["plan"] == GOOD_PLAN
    assert result["dataset"] == "UCI Housing" and result["data_source"] == "synthetic"
    assert "not available offline" in result["data_note"]
    assert {h["name"]: h["page"] for h in result["hyperparameters_from_paper"]}["learning_rate"] == 4
    assert result["smoke"]["passed"] and result["smoke"]["status"] == "ok"
    assert result["input_tokens"] == 2000 + 1500 and result["output_tokens"] == 400 * (backend == "anthropic") + 600 * (
        1 + (backend == "openai")
    )
    assert (result["cost_usd"] > 0) == (backend == "anthropic")  # a server of your own costs nothing by default
    attempt = result["attempts"][0]
    assert attempt["stage"] == "smoke" and attempt["error"] == "" and len(attempt["code_sha256"]) == 64
    bodies = fake.bodies()
    assert len(bodies) == 2
    if backend == "anthropic":
        assert bodies[0]["tool_choice"] == {"type": "tool", "name": "record_plan"}
    else:
        assert "JSON object" in fake.prompts()[0] and bodies[0]["model"] == "fake-coder-7b"
    assert "learning_rate" in fake.prompts()[1]  # the plan reaches the code prompt


def test_bedrock_backend_signs_requests_and_runs_the_same_loop(fake_aws):
    with FakeLlmApi(plan(), code(SHAPE_ERROR), code(GOOD)) as fake:
        result = LlmCodeGenerator(
            backend="bedrock", base_url=fake.url, aws_region="us-east-1", max_retries=0, smoke_timeout_s=60
        ).generate("local-mlp", "A tiny MLP", "We fit an MLP.", SECTIONS)
    assert result["generator"] == "claude-bedrock" and result["final_status"] == "ok" and result["repaired"]
    model = "anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert result["model"] == model
    assert [r.path for r in fake.requests] == [f"/model/{model}/invoke"] * 3
    assert all("/us-east-1/bedrock/aws4_request" in r.headers["authorization"] for r in fake.requests)
    assert fake.bodies()[0]["tool_choice"] == {"type": "tool", "name": "record_plan"}
    assert result["cost_usd"] > 0 and result["input_tokens"] > 0


READS_OFFLINE_DATA = GOOD.replace(
    "    true_w = torch.randn(8, 1)\n",
    "    import numpy as np\n\n"
    '    data = np.load(os.path.join(os.environ["ANNAPURNA_DATA_DIR"], "uci-housing", "data.npz"))\n'
    '    features, targets = torch.tensor(data["x"]), torch.tensor(data["y"])\n'
    "    emit(dataset_rows=len(features))\n"
    "    true_w = torch.randn(8, 1)\n",
).replace(
    "        x = torch.randn(64, 8)\n        y = x @ true_w + 0.1 * torch.randn(64, 1)\n",
    "        rows = torch.randint(0, len(features), (64,))\n        x, y = features[rows], targets[rows]\n",
)


def test_an_offline_dataset_is_named_to_the_model_and_readable_in_the_smoke_run(tmp_path):
    import numpy as np

    datasets = tmp_path / "datasets"  # under /tmp, which the sandbox hides: the runner binds it read-only
    (datasets / "uci-housing").mkdir(parents=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8)).astype("float32")
    np.savez(datasets / "uci-housing" / "data.npz", x=x, y=(x @ rng.normal(size=(8, 1))).astype("float32"))
    offline_plan = {**GOOD_PLAN, "dataset": {"name": "UCI Housing", "available_offline": True}}
    with FakeLlmApi(plan(offline_plan), code(READS_OFFLINE_DATA)) as fake:
        result = run(
            fake,
            "anthropic",
            datasets_offline={"uci-housing": "data.npz with float32 arrays x (n, 8) and y (n, 1)"},
            datasets_dir=str(datasets),
        )
    # The script has no fallback: its smoke run passes only if it read the file through ANNAPURNA_DATA_DIR.
    assert result["final_status"] == "ok", result["final_error"]
    assert result["data_source"] == "real" and "available offline" in result["data_note"]
    code_prompt = fake.prompts()[1]
    assert "`uci-housing` (data.npz with float32 arrays x (n, 8) and y (n, 1))" in code_prompt
    assert 'os.environ["ANNAPURNA_DATA_DIR"]' in code_prompt


def test_the_time_budget_stops_the_repair_loop():
    with FakeLlmApi(plan(), code(SHAPE_ERROR), code(GOOD)) as fake:
        result = run(fake, "anthropic", max_attempts=3, time_budget_s=0.5)  # the first smoke run takes longer
    assert result["final_status"] == "failed" and result["attempt_count"] == 1
    assert "time budget of 0.5 s spent after 1 attempt(s)" in result["final_error"]
    assert len(fake.bodies()) == 2  # the plan and one code request: no repair was asked for


def test_review_problems_go_back_to_the_model_and_attempt_two_passes():
    with FakeLlmApi(plan(), code(NEEDS_REQUESTS), code(GOOD)) as fake:
        result = run(fake, "openai")
    assert result["final_status"] == "ok" and result["attempt_count"] == 2 and result["repaired"]
    first, second = result["attempts"]
    assert first["stage"] == "review" and "imports requests" in first["error"]
    assert second["stage"] == "smoke" and second["error"] == ""
    repair_prompt = fake.prompts()[2]
    assert "static review" in repair_prompt and "imports requests" in repair_prompt
    assert "import requests" in repair_prompt  # the failing script is shown


def test_smoke_crash_traceback_reaches_the_model_and_is_repaired():
    with FakeLlmApi(plan(), code(SHAPE_ERROR), code(GOOD)) as fake:
        result = run(fake, "anthropic")
    assert result["final_status"] == "ok" and result["repaired"] and result["attempt_count"] == 2
    first = result["attempts"][0]
    assert first["stage"] == "smoke" and "exited with code 1" in first["error"]
    assert "RuntimeError" in first["error"] and "shapes cannot be multiplied" in first["error"]
    repair_prompt = fake.prompts()[2]
    assert "Traceback (most recent call last)" in repair_prompt and "shapes cannot be multiplied" in repair_prompt
    assert first["code_sha256"] != result["attempts"][1]["code_sha256"]


def test_a_model_that_never_works_fails_after_max_attempts_and_write_code_fails_its_checks(tmp_path):
    steps = [plan(), code(NEEDS_REQUESTS), code(SHAPE_ERROR), code(NEEDS_REQUESTS)]
    paper_index = SqlitePaperIndex(path=str(tmp_path / "index.sqlite"))
    blob_store = LocalBlobStore(root=str(tmp_path / "blobs"))
    store_paper(paper_index, blob_store)
    with FakeLlmApi(*steps) as fake:
        outcome = write_code("local-mlp", paper_index, blob_store, generator(fake, "anthropic", max_attempts=3))
    assert len(fake.bodies()) == 4  # one plan and three code requests
    stored = paper_index.get("local-mlp")["code"]
    assert stored["final_status"] == "failed" and stored["attempt_count"] == 3 and not stored["repaired"]
    assert [a["stage"] for a in stored["attempts"]] == ["review", "smoke", "review"]
    assert all(a["error"] for a in stored["attempts"])
    assert "imports requests" in stored["final_error"]
    checks = {c.name: c for c in outcome.checks}
    assert not checks["meets_contract"].passed and "imports requests" in checks["meets_contract"].description
    assert not checks["smoke_run_passed"].passed and "imports requests" in checks["smoke_run_passed"].description
    assert outcome.blocked_by is not None
    table = outcome.metadata["attempts"].value
    assert table.count("\n") == 4 and "| review |" in table and "| smoke |" in table
    assert outcome.metadata["attempt_count"] == 3 and outcome.metadata["repaired"] is False
    assert "import requests" in blob_store.get(stored["ref"]).decode()  # the last code is kept


@pytest.mark.parametrize("backend", ["anthropic", "openai"])
def test_garbage_and_cut_replies_are_failed_attempts_with_clear_errors(backend):
    garbage = text("I am sorry, here is a summary of the paper instead: it trains an MLP.")
    with FakeLlmApi(plan(), garbage, cut(GOOD)) as fake:
        result = run(fake, backend, max_attempts=2)
    assert result["final_status"] == "failed" and result["attempt_count"] == 2
    first, second = result["attempts"]
    assert first["stage"] == "generate" and "no ```python fenced block" in first["error"]
    assert second["stage"] == "generate" and "cut at max_tokens" in second["error"]
    assert result["smoke"] is None and "cut at max_tokens" in result["final_error"]


def test_api_errors_and_a_bad_plan_are_recorded_not_raised():
    with FakeLlmApi(text("no json here"), server_error(500)) as fake:
        result = run(fake, "openai", max_attempts=2)
    assert result["plan"] == {} and "not a JSON object" in result["plan_error"]
    assert result["final_status"] == "failed" and result["attempt_count"] == 2
    assert all("API error 500" in a["error"] for a in result["attempts"])
    assert result["code"] == ""


def test_long_papers_are_summarised_in_chunks_first():
    long_sections = [PaperSection(f"{n} Part", (n,), f"Part {n}. " + "lorem ipsum dolor " * 400) for n in range(1, 5)]
    summary = text("learning_rate = 1e-3 (p. 2); dataset: UCI Housing; L = mean((y_hat - y)^2)")
    with FakeLlmApi(summary, summary, plan(), code(GOOD)) as fake:
        result = generator(fake, "openai", summarise_over_tokens=2000, summary_chunk_tokens=4000).generate(
            "local-mlp", "A tiny MLP", "We fit an MLP.", long_sections
        )
    assert [s["sections"] for s in result["section_summaries"]] == [["1 Part", "2 Part"], ["3 Part", "4 Part"]]
    assert result["final_status"] == "ok"
    prompts = fake.prompts()
    assert "Summarise these sections (1 Part to 2 Part)" in prompts[0] and "(3 Part to 4 Part)" in prompts[1]
    assert '<section heading="1 Part" pages="1">' in prompts[0]
    assert "learning_rate = 1e-3 (p. 2)" in prompts[2] and "lorem ipsum" not in prompts[2]


def test_a_section_longer_than_a_summary_chunk_is_summarised_whole():
    from annapurna_resources.llm.llm_code_generator import _parts

    long = PaperSection("D Proofs", (20, 30), "x" * 25)
    parts = _parts(long, 10)
    assert [p.heading for p in parts] == ["D Proofs (part 1 of 3)", "D Proofs (part 2 of 3)", "D Proofs (part 3 of 3)"]
    assert "".join(p.text for p in parts) == long.text and _parts(SECTIONS[0], 10_000) == [SECTIONS[0]]


def test_code_and_plan_extraction_is_lenient():
    assert extract_code("Sure!\n```python\nimport torch\nprint(1)\n```\nDone.") == "import torch\nprint(1)\n"
    assert extract_code("import torch\n\ndef main():\n    pass\n") == "import torch\n\ndef main():\n    pass\n"
    assert parse_json_object('Plan:\n```json\n{"a": 1}\n```') == {"a": 1}
    assert parse_json_object('Here: {"a": {"b": 2}} ok') == {"a": {"b": 2}}


def test_the_code_generator_comes_from_the_deployment_settings(monkeypatch):
    import dagster as dg

    from annapurna_assets.deployment import build_resource
    from annapurna_resources import OfflineCodeGenerator

    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(build_resource("code_generator", {}), OfflineCodeGenerator)  # the default: no key, no network

    server = {"kind": "openai", "base_url": "http://gpu-box:8000/v1", "model": "qwen2.5-coder-32b", "max_attempts": 5}
    local = build_resource("code_generator", {"code_generator": server})
    assert (local.backend, local.base_url, local.model, local.max_attempts) == (
        "openai",
        "http://gpu-box:8000/v1",
        "qwen2.5-coder-32b",
        5,
    )
    assert local.api_key == "" and local.name == "openai-compatible" and local.cost_usd(10**6, 10**6) == 0.0

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    claude = build_resource("code_generator", {"code_generator": {"kind": "claude"}})
    assert claude.backend == "anthropic" and claude.model_id == "claude-sonnet-4-5"
    assert isinstance(claude.api_key, dg.EnvVar) and "sk-ant-secret" not in repr(claude)
    assert claude.cost_usd(10**6, 10**6) == 18.0

    assert build_resource("code_generator", {"code_generator": {"kind": "bedrock"}}).name == "claude-bedrock"
    with pytest.raises(ValueError, match="code_generator.kind is 'gpt'"):
        build_resource("code_generator", {"code_generator": {"kind": "gpt"}})


def test_generated_code_asset_reports_the_smoke_check_only_for_llm_generators(instance, tmp_path):
    import dagster as dg

    from annapurna_assets.lifecycle.stages import stage_assets
    from annapurna_resources import OfflineCodeGenerator

    paper_index = SqlitePaperIndex(path=str(tmp_path / "index.sqlite"))
    blob_store = LocalBlobStore(root=str(tmp_path / "blobs"))
    store_paper(paper_index, blob_store)
    instance.add_dynamic_partitions("accepted_papers", ["local-mlp"])

    def checks(code_generator) -> dict[str, bool]:
        result = dg.materialize(
            [a for a in stage_assets(code_generator.smoke_runs) if a.key == dg.AssetKey("generated_code")],
            instance=instance,
            partition_key="local-mlp",
            resources={
                "paper_index": paper_index,
                "blob_store": blob_store,
                "code_generator": code_generator,
                "notifier": LogNotifier(),
            },
            raise_on_error=False,
        )
        return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}

    assert checks(OfflineCodeGenerator()) == {"meets_contract": True}
    with FakeLlmApi(plan(), code(SHAPE_ERROR)) as fake:
        assert checks(generator(fake, "openai", max_attempts=1)) == {"meets_contract": True, "smoke_run_passed": False}
