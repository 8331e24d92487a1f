"""The verdict: is this paper relevant to the team and novel against what is already indexed?"""

import math

import dagster as dg
import numpy as np

from annapurna_assets.judge.filters import PaperFilters, filtered_verdict
from annapurna_assets.lifecycle.runs import LLM_POOL
from annapurna_assets.lifecycle.stage import Check, CheckOutcome, PaperStage, StageOutcome, StageResults
from annapurna_assets.papers.assets import paper_document
from annapurna_assets.papers.partitions import accepted_papers_partitions
from annapurna_resources import Judge, MiniLMEmbedder, PaperIndex
from annapurna_resources.llm.judge import JudgeFailure, JudgeRequest
from annapurna_resources.storage.paper_document import NeighbourEntry, VerdictSection

NEIGHBOURS = 5


def verdict_problems(verdict: dict) -> list[str]:
    """Why a verdict is not a real decision (an error dressed as one), or [] when it is well-formed."""
    problems = []
    if verdict.get("error"):
        problems.append(f"the judge reported an error: {verdict['error']}")
    if verdict.get("decision") not in ("accept", "reject"):
        problems.append(f"decision is {verdict.get('decision')!r}, not accept/reject")
    for score in ("relevance", "novelty"):
        value = verdict.get(score)
        if not isinstance(value, int | float) or not math.isfinite(value) or not -1.0 <= value <= 1.0:
            problems.append(f"{score} is {value!r}, not a number in [-1, 1]")
    if not verdict.get("reasons"):
        problems.append("no reasons given")
    if not verdict.get("judge"):
        problems.append("the verdict does not say which judge made it")
    return problems


def judge_batch(
    keys: list[str],
    paper_index: PaperIndex,
    embedder: MiniLMEmbedder,
    judge: Judge,
    filters: PaperFilters = PaperFilters(),
) -> StageResults:
    """The filters first (a paper they rule out is rejected unjudged), then every other paper's neighbours (their
    embeddings in one model call), then one `judge_many` call (a Message Batch when the judge is set up so). A paper
    whose request or verdict fails is its own failure."""
    results: StageResults = {}
    docs = paper_index.get_many(keys)
    for key in keys:
        try:
            reason = filters.rules_out(docs[key]["metadata"]) if "metadata" in docs.get(key, {}) else None
            if reason:
                metadata = docs[key]["metadata"]
                request = JudgeRequest(metadata["title"], metadata["abstract"], [], None)
                results[key] = record_verdict(key, paper_index, judge, request, filtered_verdict(reason))
        except Exception as error:
            results[key] = error
    to_judge = [key for key in keys if key not in results]
    vectors = _embed_batch(to_judge, paper_index, embedder)
    requests = {}
    for key in to_judge:
        try:
            requests[key] = judge_request(key, paper_index, embedder, vectors.get(key))
        except Exception as error:
            results[key] = error
    decisions = judge.judge_many(list(requests.values())) if requests else []
    for (key, request), decision in zip(requests.items(), decisions):
        try:
            results[key] = record_verdict(key, paper_index, judge, request, decision)
        except Exception as error:
            results[key] = error
    return {key: results[key] for key in keys}


def _embed_batch(keys: list[str], paper_index: PaperIndex, embedder: MiniLMEmbedder) -> dict:
    """The title+abstract embeddings of the papers that have metadata, in one model call (the bulk of judging)."""
    docs = {key: doc for key, doc in paper_index.get_many(keys).items() if "metadata" in doc}
    texts = [paper_embedding_text(doc["metadata"]) for doc in docs.values()]
    return dict(zip(docs, embedder.embed(texts))) if texts else {}


def judge_request(
    key: str, paper_index: PaperIndex, embedder: MiniLMEmbedder, vector: np.ndarray | None = None
) -> JudgeRequest:
    """The paper's title, abstract and nearest indexed neighbours. Its vector is indexed right away, so the
    next paper of a batch is compared with this one, as when papers are judged one after another."""
    metadata = paper_document(paper_index, key, "metadata")["metadata"]
    if vector is None:
        vector = embedder.embed_one(paper_embedding_text(metadata))
    neighbours = paper_index.nearest(vector, k=NEIGHBOURS, exclude={key})
    paper_index.set_vector(key, vector)
    return JudgeRequest(metadata["title"], metadata["abstract"], neighbours, vector)


def record_verdict(
    key: str, paper_index: PaperIndex, judge: Judge, request: JudgeRequest, decision: dict | JudgeFailure
) -> StageOutcome:
    """Store the verdict (a JudgeFailure becomes an error verdict, so well_formed fails with the reason)."""
    if isinstance(decision, JudgeFailure):
        decision = failed_verdict(judge, str(decision), request.neighbours)
    paper_index.update(key, verdict=decision)
    problems = verdict_problems(decision)

    neighbour_rows = "\n".join(
        f"| {n['similarity']:.2f} | {n['title'][:90]} | `{n['key']}` |" for n in decision.get("neighbours", [])
    )
    return StageOutcome(
        metadata={
            "title": request.title,
            "decision": decision.get("decision") or "error",
            "relevance": dg.MetadataValue.float(_score(decision, "relevance")),
            "novelty": dg.MetadataValue.float(_score(decision, "novelty")),
            "judge": decision.get("judge", "?"),
            "prompt_version": decision.get("prompt_version", ""),
            "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in decision.get("reasons", []))),
            "nearest_papers": dg.MetadataValue.md(
                "| similarity | title | key |\n|---|---|---|\n" + neighbour_rows
                if neighbour_rows
                else "_none indexed yet_"
            ),
            "model": decision.get("model", ""),
            "input_tokens": int(decision.get("input_tokens", 0)),
            "output_tokens": int(decision.get("output_tokens", 0)),
            "cost_usd": float(decision.get("cost_usd", 0.0)),
            **({"message_batch": decision["message_batch"]} if decision.get("message_batch") else {}),
        },
        ends_lifecycle=decision.get("decision") != "accept",
        checks=[
            CheckOutcome(
                "well_formed",
                not problems,
                "; ".join(problems) or f"{decision['decision']} (relevance {decision['relevance']:.2f})",
                {"problems": "; ".join(problems) or "none", "decision": str(decision.get("decision"))},
            )
        ],
    )


def update_accepted_papers(instance: dg.DagsterInstance, decisions: dict[str, str | None]) -> None:
    """`accepted_papers` follows the verdicts: an accepted paper joins it, a paper judged otherwise leaves it."""
    name = accepted_papers_partitions.name
    accepted = set(instance.get_dynamic_partitions(name))
    joining = [key for key, decision in decisions.items() if decision == "accept" and key not in accepted]
    if joining:
        instance.add_dynamic_partitions(name, joining)
    for key, decision in decisions.items():
        if decision != "accept" and key in accepted:
            instance.delete_dynamic_partition(name, key)


def adopt_earlier_verdicts(instance: dg.DagsterInstance, paper_index: PaperIndex) -> int:
    """Papers accepted before `accepted_papers` existed join it, once (an instance whose set is empty)."""
    if instance.get_dynamic_partitions(accepted_papers_partitions.name):
        return 0
    judged = instance.get_materialized_partitions(dg.AssetKey("verdict"))
    docs = paper_index.get_many(judged) if judged else {}
    decisions = {key: doc.get("verdict", {}).get("decision") for key, doc in docs.items()}
    update_accepted_papers(instance, decisions)
    return sum(decision == "accept" for decision in decisions.values())


def failed_verdict(judge: Judge, reason: str, neighbours: list) -> VerdictSection:
    """What is recorded when the judge could not decide: an error, never a reject."""
    return VerdictSection(
        judge=getattr(judge, "name", type(judge).__name__),
        model=getattr(judge, "model_id", ""),
        prompt_version=judge.prompt_version() if hasattr(judge, "prompt_version") else "",
        error=reason,
        decision=None,
        relevance=None,
        novelty=None,
        reasons=[],
        neighbours=[NeighbourEntry(key=n.key, title=n.title, similarity=round(n.similarity, 4)) for n in neighbours],
        input_tokens=0,
        output_tokens=0,
        cost_usd=0.0,
    )


def _score(verdict: dict, name: str) -> float:
    value = verdict.get(name)
    return float(value) if isinstance(value, int | float) else float("nan")


def paper_embedding_text(metadata: dict) -> str:
    return f"{metadata['title']}. {metadata['abstract']}"


def verdicts_recorded(context, resources, outcomes: dict[str, StageOutcome]) -> None:
    """`accepted_papers` follows the verdicts, and the team hears of each real one."""
    docs = resources.paper_index.get_many(list(outcomes))
    verdicts = {key: doc["verdict"] for key, doc in docs.items() if "verdict" in doc}
    update_accepted_papers(context.instance, {key: verdict.get("decision") for key, verdict in verdicts.items()})
    for key, outcome in outcomes.items():
        if outcome.blocked_by is None:
            resources.notifier.verdict_recorded(context.log, key, verdicts[key])


verdict_stage = PaperStage(
    asset="verdict",
    description="Relevance to the research interests and novelty against the nearest indexed papers, from the title "
    "and abstract (before any PDF is downloaded). An accepted paper joins the `accepted_papers` partitions that the "
    "later assets use; a rejected paper is finished here.",
    group="judge",
    step="judge_papers",
    pool=LLM_POOL,
    accepted_only=False,
    resources=("paper_index", "embedder", "judge", "notifier", "lifecycle"),
    run_many=lambda keys, r, log: judge_batch(keys, r.paper_index, r.embedder, r.judge, r.lifecycle.filters),
    checks=(Check("well_formed", "A real accept/reject decision with scores and reasons."),),
    recorded=verdicts_recorded,
)
