"""The Definitions object: the lifecycle's assets, checks, jobs and sensors, bound to the embedded defaults.

Backends and their addresses are chosen here from configuration (environment variables), never in asset code.
"""

import os
from pathlib import Path

import dagster as dg

from annapurna_assets.codegen import generated_code, selected_pages
from annapurna_assets.execution import trn1_batch_job, trn_run
from annapurna_assets.ingest import paper_metadata, paper_text, raw_pdf
from annapurna_assets.judging import verdict
from annapurna_assets.lifecycle import lifecycle_batch_job
from annapurna_assets.listings import arxiv_listing, conference_listing
from annapurna_assets.page_model import page_classifier_model
from annapurna_assets.partitions import papers_partitions
from annapurna_assets.sensors import (
    LIFECYCLE_JOB,
    build_paper_lifecycle_sensor,
    local_folder_sensor,
    trn1_batch_sensor,
)
from annapurna_resources import (
    ArxivSource,
    ListingFileSource,
    LocalBlobStore,
    LocalFolderSource,
    LogNotifier,
    MiniLMEmbedder,
    MlsysProceedingsSource,
    NeuripsProceedingsSource,
    OfflineCodeGenerator,
    OfflineJudge,
    OpenReviewSource,
    PaperSources,
    PdfFetcher,
    PmlrSource,
    SqlitePaperIndex,
    Trn1Launcher,
)
from annapurna_resources.claude_judge import DEFAULT_BEDROCK_MODEL, DEFAULT_CLAUDE_MODEL, ClaudeJudge
from annapurna_resources.judge import DEFAULT_RESEARCH_INTERESTS


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _secret(name: str):
    """An optional secret: a dg.EnvVar (never its value in config or logs) when it is set, else empty."""
    return dg.EnvVar(name) if os.environ.get(name) else ""


def _url(name: str, default: str) -> str:
    return _env(name, default).rstrip("/")


def _listing_files(setting: str) -> dict[str, str]:
    """`neurips-2023=/data/a/*.csv;icml-2024=/data/b.tsv` -> {venue-year: path or glob}."""
    files = {}
    for item in filter(None, (part.strip() for part in setting.split(";"))):
        venue_year, sep, path = item.partition("=")
        if not sep or not venue_year.strip() or not path.strip():
            raise ValueError(
                f"ANNAPURNA_LISTING_FILES item {item!r} is not venue-year=path (e.g. neurips-2023=/data/*.csv)"
            )
        files[venue_year.strip()] = path.strip()
    return files


def build_paper_sources() -> PaperSources:
    arxiv_defaults = ArxivSource()
    categories = _env("ANNAPURNA_ARXIV_CATEGORIES", "")
    return PaperSources(
        files=ListingFileSource(files=_listing_files(_env("ANNAPURNA_LISTING_FILES", ""))),
        openreview=OpenReviewSource(
            base_url=_url("ANNAPURNA_OPENREVIEW_URL", "https://api2.openreview.net"),
            base_url_v1=_url("ANNAPURNA_OPENREVIEW_V1_URL", "https://api.openreview.net"),
            site_url=_url("ANNAPURNA_OPENREVIEW_SITE_URL", "https://openreview.net"),
            username=_secret("OPENREVIEW_USERNAME"),
            password=_secret("OPENREVIEW_PASSWORD"),
        ),
        pmlr=PmlrSource(base_url=_url("ANNAPURNA_PMLR_URL", "https://proceedings.mlr.press")),
        neurips=NeuripsProceedingsSource(base_url=_url("ANNAPURNA_NEURIPS_URL", "https://papers.nips.cc")),
        mlsys=MlsysProceedingsSource(base_url=_url("ANNAPURNA_MLSYS_URL", "https://proceedings.mlsys.org")),
        arxiv=ArxivSource(
            api_url=_url("ANNAPURNA_ARXIV_API_URL", arxiv_defaults.api_url),
            oai_url=_url("ANNAPURNA_ARXIV_OAI_URL", arxiv_defaults.oai_url),
            categories=[c.strip() for c in categories.split(",") if c.strip()] or arxiv_defaults.categories,
            query=_env("ANNAPURNA_ARXIV_QUERY", ""),
            delay_seconds=float(_env("ANNAPURNA_ARXIV_DELAY_S", "3")),
            max_results=int(_env("ANNAPURNA_ARXIV_MAX_PER_DAY", str(arxiv_defaults.max_results))),
        ),
    )


def _flag(name: str) -> bool:
    return _env(name, "").strip().lower() in ("1", "true", "yes", "on")


def _claude_settings(research_interests: str) -> dict:
    """What both Claude flavours share: profile, prompt, prices, Message Batches."""
    settings = {
        "research_interests": research_interests,
        "target_accelerator": _env("ANNAPURNA_TARGET_ACCELERATOR", "trn1"),
        "input_usd_per_mtok": float(_env("ANNAPURNA_CLAUDE_INPUT_USD_PER_MTOK", "3.0")),
        "output_usd_per_mtok": float(_env("ANNAPURNA_CLAUDE_OUTPUT_USD_PER_MTOK", "15.0")),
        "use_message_batches": _flag("ANNAPURNA_CLAUDE_MESSAGE_BATCHES"),
        "batch_min_papers": int(_env("ANNAPURNA_CLAUDE_BATCH_MIN_PAPERS", "10")),
        "batch_poll_s": float(_env("ANNAPURNA_CLAUDE_BATCH_POLL_S", "30")),
    }
    prompt_file = _env("ANNAPURNA_JUDGE_PROMPT_FILE", "")
    if prompt_file:
        settings["prompt_template"] = Path(prompt_file).expanduser().read_text()
    return settings


def build_judge(embedder: MiniLMEmbedder):
    """ANNAPURNA_JUDGE: `offline` (default, MiniLM), `claude` (Anthropic API) or `bedrock` (Claude on Bedrock)."""
    kind = _env("ANNAPURNA_JUDGE", "offline").strip().lower()
    research_interests = _env("ANNAPURNA_RESEARCH_INTERESTS", DEFAULT_RESEARCH_INTERESTS)
    if kind == "offline":
        threshold = _env("ANNAPURNA_RELEVANCE_THRESHOLD", "")
        return OfflineJudge(
            embedder=embedder,
            research_interests=research_interests,
            **({"relevance_threshold": float(threshold)} if threshold else {}),
        )
    if kind == "claude":
        return ClaudeJudge(
            api_key=dg.EnvVar("ANTHROPIC_API_KEY"),
            base_url=_url("ANNAPURNA_ANTHROPIC_URL", ""),
            model=_env("ANNAPURNA_CLAUDE_MODEL", DEFAULT_CLAUDE_MODEL),
            **_claude_settings(research_interests),
        )
    if kind == "bedrock":  # AWS credentials come from the standard AWS chain (env, profile, instance role)
        return ClaudeJudge(
            use_bedrock=True,
            aws_region=_env("AWS_REGION", "us-east-1"),
            bedrock_model=_env("ANNAPURNA_BEDROCK_MODEL", DEFAULT_BEDROCK_MODEL),
            **_claude_settings(research_interests),
        )
    raise ValueError(f"ANNAPURNA_JUDGE is {kind!r}: expected offline, claude or bedrock")


def build_code_generator():
    """ANNAPURNA_CODEGEN: `offline` (default: templates, no key, no network), `claude` (Anthropic API), `bedrock`
    (Claude on Bedrock, AWS credentials from the standard chain) or `openai` (any OpenAI-compatible endpoint:
    ANNAPURNA_CODEGEN_URL like http://host:8000/v1 for vLLM, llama.cpp server or Ollama)."""
    kind = _env("ANNAPURNA_CODEGEN", "offline").strip().lower()
    if kind == "offline":
        return OfflineCodeGenerator()
    backends = {"claude": "anthropic", "bedrock": "bedrock", "openai": "openai"}
    if kind not in backends:
        raise ValueError(f"ANNAPURNA_CODEGEN is {kind!r}: expected offline, claude, bedrock or openai")
    from annapurna_resources.llm_code_generator import DEFAULT_MODELS, LlmCodeGenerator

    backend = backends[kind]
    settings = {
        "backend": backend,
        "model": _env("ANNAPURNA_CODEGEN_MODEL", DEFAULT_MODELS[backend]),
        "base_url": _url("ANNAPURNA_CODEGEN_URL", ""),
        "max_attempts": int(_env("ANNAPURNA_CODEGEN_MAX_ATTEMPTS", "3")),
        "time_budget_s": float(_env("ANNAPURNA_CODEGEN_TIME_BUDGET_S", "1800")),
        "smoke_timeout_s": float(_env("ANNAPURNA_CODEGEN_SMOKE_TIMEOUT_S", "90")),
        "input_usd_per_mtok": float(_env("ANNAPURNA_CODEGEN_INPUT_USD_PER_MTOK", "0" if kind == "openai" else "3.0")),
        "output_usd_per_mtok": float(
            _env("ANNAPURNA_CODEGEN_OUTPUT_USD_PER_MTOK", "0" if kind == "openai" else "15.0")
        ),
    }
    if kind == "bedrock":
        settings["aws_region"] = _env("AWS_REGION", "us-east-1")
    else:
        default_key = "ANTHROPIC_API_KEY" if kind == "claude" else "OPENAI_API_KEY"
        key_var = "ANNAPURNA_CODEGEN_API_KEY" if os.environ.get("ANNAPURNA_CODEGEN_API_KEY") else default_key
        settings["api_key"] = _secret(key_var)
    return LlmCodeGenerator(**settings)


def build_resources() -> dict:
    embedder = MiniLMEmbedder()
    return {
        "paper_folder": LocalFolderSource(folder=_env("ANNAPURNA_PAPERS_DIR", "")),
        "paper_sources": build_paper_sources(),
        "pdf_fetcher": PdfFetcher(),
        "paper_index": SqlitePaperIndex(),
        "blob_store": LocalBlobStore(),
        "embedder": embedder,
        "judge": build_judge(embedder),
        "code_generator": build_code_generator(),
        "launcher": Trn1Launcher(
            slots=int(_env("ANNAPURNA_TRN1_SLOTS", str(min(os.cpu_count() or 1, 4)))),
            timeout_s=float(_env("ANNAPURNA_RUN_TIMEOUT_S", "120")),
            time_budget_s=float(_env("ANNAPURNA_TIME_BUDGET_S", "30")),
            batch_size=int(_env("ANNAPURNA_BATCH_SIZE", "10")),
            max_wait_minutes=float(_env("ANNAPURNA_BATCH_MAX_WAIT_MINUTES", "30")),
        ),
        "notifier": LogNotifier(),
    }


PAPER_ASSETS = [paper_metadata, verdict, raw_pdf, paper_text, selected_pages, generated_code]

paper_lifecycle_job = dg.define_asset_job(
    LIFECYCLE_JOB,
    selection=dg.AssetSelection.assets(*PAPER_ASSETS),
    partitions_def=papers_partitions,
    executor_def=dg.in_process_executor,
    description="One paper from registration to generated code (execution is batched by trn1_batch_sensor).",
)


def build_definitions() -> dg.Definitions:
    """The Definitions, with resources configured from the environment as it is now."""
    return dg.Definitions(
        assets=[conference_listing, arxiv_listing, page_classifier_model, *PAPER_ASSETS, trn_run],
        jobs=[paper_lifecycle_job, lifecycle_batch_job, trn1_batch_job],
        sensors=[
            local_folder_sensor,
            build_paper_lifecycle_sensor(int(_env("ANNAPURNA_LIFECYCLE_BATCH_SIZE", "50"))),
            trn1_batch_sensor,
        ],
        resources=build_resources(),
        executor=dg.in_process_executor,
    )


defs = build_definitions()
