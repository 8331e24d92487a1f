import json
import time

import numpy as np
import pytest

from annapurna_resources.llm.claude_judge import ClaudeJudge, JudgeFailure
from annapurna_resources.llm.judge import DEFAULT_RESEARCH_INTERESTS, JudgeRequest
from annapurna_resources.storage.paper_index import Neighbour
from tests.fakes.anthropic_api import (
    GOOD_VERDICT,
    FakeAnthropicApi,
    cut_at_max_tokens,
    overloaded,
    rate_limited,
    refusal,
    text_only,
    tool_verdict,
)

TITLE = "Linear-Time Attention with Random Feature Kernels"
ABSTRACT = (
    "We approximate softmax attention with positive random features, reducing the cost of self-attention "
    "from quadratic to linear in sequence length while keeping accuracy on language modelling benchmarks."
)
NEIGHBOURS = [
    Neighbour("arxiv-1706-03762", "Attention Is All You Need", 0.71),
    Neighbour("arxiv-2205-14135", "FlashAttention: Fast and Memory-Efficient Exact Attention", 0.66),
]
BEDROCK_MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"


def claude(fake: FakeAnthropicApi, **config) -> ClaudeJudge:
    return ClaudeJudge(api_key="sk-ant-test", base_url=fake.url, **config)


def verdict_with(**changes) -> dict:
    return {**GOOD_VERDICT, **changes}


def test_tool_call_becomes_a_verdict_with_tokens_and_cost():
    with FakeAnthropicApi(tool_verdict(input_tokens=912, output_tokens=187)) as fake:
        verdict = claude(fake).judge(TITLE, ABSTRACT, NEIGHBOURS)

    assert verdict["judge"] == "claude" and verdict["model"] == "claude-sonnet-4-5"
    assert verdict["decision"] == "accept" and verdict["relevant"] is True and verdict["relevance"] == 0.86
    assert verdict["similar"] is False and verdict["novelty"] == pytest.approx(0.29)
    assert verdict["most_similar"]["key"] == "arxiv-1706-03762"
    assert verdict["accelerator_compatible"] == "yes" and "Trainium" in verdict["accelerator_reason"]
    assert verdict["topics"] == ["efficient attention", "long context"]
    assert verdict["reasons"][:2] == GOOD_VERDICT["reasons"] and verdict["neighbours"][1]["similarity"] == 0.66
    assert (verdict["input_tokens"], verdict["output_tokens"]) == (912, 187)
    assert verdict["cost_usd"] == pytest.approx(912 * 3 / 1e6 + 187 * 15 / 1e6)
    assert len(verdict["prompt_version"]) == 12

    (request,) = fake.requests
    assert request.path == "/v1/messages" and request.headers["authorization"] == "Bearer sk-ant-test"
    assert request.headers["anthropic-version"] == "2026-10-21"
    body = json.loads(request.body)
    assert body["model"] == "claude-sonnet-4-5" and body["max_tokens"] == 1024 and "temperature" not in body
    assert body["tool_choice"] == {"type": "tool", "name": "record_verdict"}
    assert [tool["name"] for tool in body["tools"]] == ["record_verdict"]
    prompt = body["messages"][0]["content"]
    assert TITLE in prompt and ABSTRACT in prompt and "trn1" in prompt
    assert all(line in prompt for line in DEFAULT_RESEARCH_INTERESTS.splitlines())
    assert "arxiv-1706-03762 | 0.71 | Attention Is All You Need" in prompt
    assert "arxiv-2205-14135 | 0.66 | FlashAttention" in prompt


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"relevant": "no", "relevance": 0.2}, "not relevant"),
        ({"relevance": 0.45}, "relevant but below 0.5"),
        ({"similar_to_indexed": "yes", "most_similar_key": "arxiv-2205-14135"}, "same as an indexed paper"),
    ],
)
def test_conservative_decision_rejects(changes, reason):
    with FakeAnthropicApi(tool_verdict(verdict_with(**changes))) as fake:
        verdict = claude(fake).judge(TITLE, ABSTRACT, NEIGHBOURS)
    assert verdict["decision"] == "reject", reason
    if verdict["similar"]:
        assert verdict["most_similar"]["key"] == "arxiv-2205-14135" and verdict["novelty"] == pytest.approx(0.34)
        assert any("not novel" in r for r in verdict["reasons"])


def test_no_neighbours_is_novel_and_says_so_in_the_prompt():
    with FakeAnthropicApi(tool_verdict(verdict_with(most_similar_key=""))) as fake:
        verdict = claude(fake).judge(TITLE, ABSTRACT, [])
    assert verdict["novelty"] == 1.0 and verdict["most_similar"] is None and verdict["decision"] == "accept"
    assert "no other paper is indexed yet" in fake.message_bodies()[0]["messages"][0]["content"]


def test_rate_limit_is_retried_after_the_retry_after_wait():
    with FakeAnthropicApi(rate_limited(retry_after="0.3"), tool_verdict()) as fake:
        started = time.monotonic()
        verdict = claude(fake).judge(TITLE, ABSTRACT, NEIGHBOURS)
        elapsed = time.monotonic() - started
    assert verdict["decision"] == "accept" and len(fake.requests) == 2
    assert 0.3 <= elapsed < 2.0  # the SDK waited what retry-after asked, not its own backoff


def test_overloaded_529_is_retried():
    with FakeAnthropicApi(overloaded(), overloaded(), tool_verdict()) as fake:
        verdict = claude(fake).judge(TITLE, ABSTRACT, NEIGHBOURS)
    assert verdict["decision"] == "accept" and len(fake.requests) == 3


def test_overloaded_after_every_retry_is_a_failure():
    with FakeAnthropicApi(overloaded()) as fake:
        with pytest.raises(JudgeFailure, match="API error 529 after 2 retries: .*Overloaded"):
            claude(fake, max_retries=2).judge(TITLE, ABSTRACT, NEIGHBOURS)
    assert len(fake.requests) == 3


@pytest.mark.parametrize(
    "tool_input, reason",
    [
        (
            {k: v for k, v in GOOD_VERDICT.items() if k not in ("relevant", "reasons")},
            "missing fields: relevant, reasons",
        ),
        (verdict_with(relevance="high"), "relevance is 'high', not a number in [0, 1]"),
        (verdict_with(relevance=1.7), "relevance is 1.7, not a number in [0, 1]"),
        (verdict_with(relevant="unclear"), "relevant is 'unclear', not one of yes/no"),
        (verdict_with(accelerator_compatible="maybe"), "accelerator_compatible is 'maybe'"),
        (verdict_with(reasons=[]), "reasons is empty"),
        (verdict_with(topics="attention"), "topics is not a list of strings"),
        (verdict_with(similar_to_indexed="yes", most_similar_key="arxiv-0000-00000"), "not one of the indexed"),
    ],
)
def test_malformed_tool_input_is_a_failure(tool_input, reason):
    with FakeAnthropicApi(tool_verdict(tool_input)) as fake:
        with pytest.raises(JudgeFailure, match="record_verdict") as failure:
            claude(fake).judge(TITLE, ABSTRACT, NEIGHBOURS)
    assert reason in str(failure.value)


@pytest.mark.parametrize(
    "step, reason",
    [
        (refusal(), "Claude refused to judge the paper: policy: general harms"),
        (cut_at_max_tokens(), "cut at max_tokens (1024) before the record_verdict call"),
        (cut_at_max_tokens({"relevance": 0.8, "relevant": "yes"}), "cut at max_tokens (1024): invalid record_verdict"),
        (text_only(), "no record_verdict tool call in the reply (stop_reason 'end_turn')"),
    ],
)
def test_replies_without_a_complete_verdict_are_failures(step, reason):
    with FakeAnthropicApi(step) as fake:
        with pytest.raises(JudgeFailure) as failure:
            claude(fake).judge(TITLE, ABSTRACT, NEIGHBOURS)
    assert reason in str(failure.value)


def test_bedrock_invoke_path_signed_body_and_throttling_retry(fake_aws):
    with FakeAnthropicApi(rate_limited(retry_after="0.05"), tool_verdict(input_tokens=930, output_tokens=150)) as fake:
        judge = ClaudeJudge(use_bedrock=True, base_url=fake.url)
        verdict = judge.judge(TITLE, ABSTRACT, NEIGHBOURS)

    assert verdict["judge"] == "claude-bedrock" and verdict["model"] == BEDROCK_MODEL
    assert verdict["decision"] == "accept" and verdict["cost_usd"] == pytest.approx(930 * 3 / 1e6 + 150 * 15 / 1e6)
    assert len(fake.requests) == 2
    request = fake.requests[-1]
    assert request.path == f"/model/{BEDROCK_MODEL}/invoke"
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIAFAKEFAKEFAKEFAKE/")
    assert "/us-east-1/bedrock/aws4_request" in request.headers["authorization"]
    body = json.loads(request.body)
    assert body["anthropic_version"] == "bedrock-2023-05-31" and "model" not in body and body["temperature"] == 0
    assert "Attention Is All You Need" in body["messages"][0]["content"]


def test_bedrock_error_after_retries_is_a_failure(fake_aws):
    with FakeAnthropicApi(overloaded(retry_after="0.01")) as fake:
        with pytest.raises(JudgeFailure, match="claude-bedrock API error 503 after 1 retries"):
            ClaudeJudge(use_bedrock=True, base_url=fake.url, max_retries=1).judge(TITLE, ABSTRACT, NEIGHBOURS)


def test_missing_api_key_is_a_failure(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(JudgeFailure, match="no Anthropic API key"):
        ClaudeJudge(base_url="http://127.0.0.1:9").judge(TITLE, ABSTRACT, NEIGHBOURS)


def test_the_judge_kind_and_its_settings_come_from_the_deployment_settings():
    from annapurna_assets.deployment import build_resource

    judge = build_resource(
        "judge", {"judge": {"kind": "claude", "base_url": "http://127.0.0.1:9", "model": "claude-haiku-4-5"}}
    )
    assert isinstance(judge, ClaudeJudge) and judge.model == "claude-haiku-4-5" and not judge.use_bedrock
    assert judge.base_url == "http://127.0.0.1:9"
    judge = build_resource("judge", {"judge": {"kind": "bedrock"}, "aws": {"region": "eu-west-1"}})
    assert judge.use_bedrock and judge.aws_region == "eu-west-1" and judge.bedrock_model == BEDROCK_MODEL
    with pytest.raises(ValueError, match="expected one of offline, claude, bedrock"):
        build_resource("judge", {"judge": {"kind": "gpt"}})


def test_judge_failure_in_the_verdict_stage_fails_well_formed(annapurna_home):
    from annapurna_assets.judge.assets import judge_batch
    from annapurna_resources import SqlitePaperIndex

    index = SqlitePaperIndex()
    for key, title, vector in [("arxiv-1706-03762", "Attention Is All You Need", [1.0, 0.0, 0.0])]:
        index.register_many([(key, {"source": "arxiv"})])
        index.update(key, metadata={"title": title, "abstract": "The Transformer."})
        index.set_vector(key, np.array(vector, dtype=np.float32))
    index.register_many([("arxiv-2009-14794", {"source": "arxiv"})])
    index.update("arxiv-2009-14794", metadata={"title": TITLE, "abstract": ABSTRACT})

    class OneVector:
        def embed(self, texts):
            return [np.array([0.8, 0.6, 0.0], dtype=np.float32) for _ in texts]

    with FakeAnthropicApi(refusal()) as fake:
        [outcome] = judge_batch(["arxiv-2009-14794"], index, embedder=OneVector(), judge=claude(fake)).values()

    (check,) = outcome.checks
    assert check.name == "well_formed" and check.passed is False
    assert "the judge reported an error: Claude refused to judge the paper" in check.description
    assert outcome.blocked_by is check and outcome.metadata["decision"] == "error"
    assert "Attention Is All You Need" in fake.message_bodies()[0]["messages"][0]["content"]
    stored = index.get("arxiv-2009-14794")["verdict"]
    assert stored["decision"] is None and stored["judge"] == "claude" and "refused" in stored["error"]


def batch_requests(n: int) -> list[JudgeRequest]:
    return [JudgeRequest(f"{TITLE} ({i})", ABSTRACT, NEIGHBOURS) for i in range(n)]


def batched(fake: FakeAnthropicApi, **config) -> ClaudeJudge:
    return claude(fake, use_message_batches=True, batch_min_papers=3, batch_poll_s=0.01, **config)


def test_message_batch_judges_many_papers_at_half_price():
    with FakeAnthropicApi(tool_verdict(input_tokens=1000, output_tokens=200), batch_polls=2) as fake:
        verdicts = batched(fake).judge_many(batch_requests(4))

    created = [r for r in fake.requests if r.method == "POST" and r.path == "/v1/messages/batches"]
    assert len(created) == 1 and not fake.message_bodies()  # one batch, no single-message request
    sent = json.loads(created[0].body)["requests"]
    assert [entry["custom_id"] for entry in sent] == ["paper-0", "paper-1", "paper-2", "paper-3"]
    params = sent[2]["params"]
    assert params["tool_choice"] == {"type": "tool", "name": "record_verdict"} and params["max_tokens"] == 1024
    assert f"{TITLE} (2)" in params["messages"][0]["content"]
    polls = [r for r in fake.requests if r.method == "GET" and r.path.count("/") == 4]
    assert len(polls) >= 2  # polled while in_progress
    assert all(v["decision"] == "accept" and v["message_batch"].startswith("msgbatch_") for v in verdicts)
    assert verdicts[0]["cost_usd"] == pytest.approx((1000 * 3 + 200 * 15) / 1e6 / 2)


def test_message_batch_results_are_matched_to_their_papers_and_failures_stay_per_paper():
    steps = [tool_verdict(), rate_limited(), refusal(), tool_verdict(verdict_with(relevant="no", relevance=0.1))]
    with FakeAnthropicApi(*steps) as fake:
        verdicts = batched(fake).judge_many(batch_requests(4))

    assert verdicts[0]["decision"] == "accept"
    assert isinstance(verdicts[1], JudgeFailure) and "errored: rate_limit_error" in str(verdicts[1])
    assert isinstance(verdicts[2], JudgeFailure) and "refused" in str(verdicts[2])
    assert verdicts[3]["decision"] == "reject"


def test_small_runs_and_bedrock_do_not_use_message_batches():
    with FakeAnthropicApi(tool_verdict()) as fake:
        verdicts = batched(fake).judge_many(batch_requests(2))
    assert len(fake.message_bodies()) == 2 and not any("batches" in r.path for r in fake.requests)
    assert all("message_batch" not in v for v in verdicts)


def test_message_batch_that_does_not_end_in_time_is_cancelled_and_fails_every_paper():
    with FakeAnthropicApi(tool_verdict(), batch_polls=10_000) as fake:
        verdicts = batched(fake, batch_max_wait_s=0.1).judge_many(batch_requests(3))
    assert all(isinstance(v, JudgeFailure) and "did not end within" in str(v) for v in verdicts)
    assert any(r.method == "POST" and r.path.endswith("/cancel") for r in fake.requests)


def test_prompt_template_is_configuration_and_checked():
    from annapurna_assets.deployment import build_resource

    prompt = "Only {research_interests}. Title: {title}\nAbstract: {abstract}\n{neighbours}"
    settings = {"kind": "claude", "prompt_template": prompt, "use_message_batches": True, "input_usd_per_mtok": 1.0}
    judge = build_resource("judge", {"judge": settings})
    assert judge.prompt_template == prompt and judge.use_message_batches
    assert judge.input_usd_per_mtok == 1.0
    assert judge.prompt_version() != ClaudeJudge().prompt_version()

    with pytest.raises(ValueError, match=r"unknown placeholders \['paper_title'\]; lacks \['title'\]"):
        build_resource("judge", {"judge": {**settings, "prompt_template": "Judge {paper_title}: {abstract}"}})
