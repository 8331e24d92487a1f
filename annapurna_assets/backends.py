"""Which backend each resource uses and where it is, chosen from configuration (environment variables).

Asset code names only the interfaces (PaperIndex, BlobStore, Notifier, Judge, CodeGenerator, Trn1Launcher);
this module is the one place that picks the implementation. Client libraries of optional backends are
imported only when chosen.
"""

import os
from pathlib import Path

import dagster as dg

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
from annapurna_resources.llm.claude_judge import DEFAULT_BEDROCK_MODEL, DEFAULT_CLAUDE_MODEL, ClaudeJudge
from annapurna_resources.llm.judge import DEFAULT_RESEARCH_INTERESTS


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


def _datasets_offline(setting: str) -> dict[str, str]:
    """`cifar10=CIFAR-10 python pickles;mnist=idx ubyte files` -> {name: layout}."""
    datasets = {}
    for item in filter(None, (part.strip() for part in setting.split(";"))):
        name, sep, layout = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"ANNAPURNA_DATASETS_OFFLINE item {item!r} is not name=layout (mnist=idx ubyte files)")
        datasets[name.strip()] = layout.strip()
    return datasets


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
    from annapurna_resources.llm.llm_code_generator import DEFAULT_MODELS, LlmCodeGenerator

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
    settings["datasets_offline"] = _datasets_offline(_env("ANNAPURNA_DATASETS_OFFLINE", ""))
    settings["datasets_dir"] = _env("ANNAPURNA_DATASETS_DIR", "")
    if kind == "bedrock":
        settings["aws_region"] = _env("AWS_REGION", "us-east-1")
    else:
        default_key = "ANTHROPIC_API_KEY" if kind == "claude" else "OPENAI_API_KEY"
        key_var = "ANNAPURNA_CODEGEN_API_KEY" if os.environ.get("ANNAPURNA_CODEGEN_API_KEY") else default_key
        settings["api_key"] = _secret(key_var)
    return LlmCodeGenerator(**settings)


def environment() -> str:
    """ANNAPURNA_ENV: `local` (embedded defaults: SQLite, files, offline models, this machine) or `aws` (OpenSearch,
    S3, Bedrock, the trn1 instance over SSM). Each backend setting below can still be set on its own."""
    env = _env("ANNAPURNA_ENV", "local").strip().lower()
    if env not in ("local", "aws"):
        raise ValueError(f"ANNAPURNA_ENV is {env!r}: expected local or aws")
    return env


def _aws_endpoint() -> str:
    return _url("ANNAPURNA_AWS_ENDPOINT_URL", "")


def paper_index_kind() -> str:
    return _env("ANNAPURNA_INDEX", "opensearch" if environment() == "aws" else "sqlite").strip().lower()


def build_paper_index():
    """ANNAPURNA_INDEX: `sqlite` (default) or `opensearch` (ANNAPURNA_OPENSEARCH_URL; with
    ANNAPURNA_OPENSEARCH_AWS_AUTH=1 requests are SigV4-signed for managed OpenSearch)."""
    kind = paper_index_kind()
    if kind == "sqlite":
        return SqlitePaperIndex()
    if kind == "opensearch":
        from annapurna_resources.storage.opensearch_index import OpenSearchPaperIndex

        return OpenSearchPaperIndex(
            url=_url("ANNAPURNA_OPENSEARCH_URL", "http://127.0.0.1:9200"),
            index_name=_env("ANNAPURNA_OPENSEARCH_INDEX", "research-papers-v2"),
            username=_env("ANNAPURNA_OPENSEARCH_USER", ""),
            password=_secret("ANNAPURNA_OPENSEARCH_PASSWORD"),
            aws_auth=_flag("ANNAPURNA_OPENSEARCH_AWS_AUTH"),
            aws_region=_env("AWS_REGION", "us-east-1"),
            aws_service=_env("ANNAPURNA_OPENSEARCH_AWS_SERVICE", "es"),
        )
    raise ValueError(f"ANNAPURNA_INDEX is {kind!r}: expected sqlite or opensearch")


def build_blob_store():
    """ANNAPURNA_BLOBS: `local` (default: files under ANNAPURNA_HOME) or `s3` (ANNAPURNA_S3_BUCKET and
    ANNAPURNA_S3_PREFIX)."""
    kind = _env("ANNAPURNA_BLOBS", "s3" if environment() == "aws" else "local").strip().lower()
    if kind == "local":
        server = os.environ.get("ANNAPURNA_BLOB_SERVER_URL")
        return LocalBlobStore(**({"browser_base_url": server} if server else {}))
    if kind == "s3":
        from annapurna_resources.storage.s3_blob_store import S3BlobStore

        return S3BlobStore(
            bucket=_env("ANNAPURNA_S3_BUCKET", ""),
            prefix=_env("ANNAPURNA_S3_PREFIX", "annapurna/blobs"),
            region=_env("AWS_REGION", "us-east-1"),
            endpoint_url=_aws_endpoint(),
        )
    raise ValueError(f"ANNAPURNA_BLOBS is {kind!r}: expected local or s3")


def build_notifier(paper_index):
    """Slack when SLACK_BOT_TOKEN and SLACK_CHANNEL are set (ANNAPURNA_SLACK_API_URL for a Slack-compatible
    server); otherwise Dagster's log."""
    if not (os.environ.get("SLACK_BOT_TOKEN") and os.environ.get("SLACK_CHANNEL")):
        return LogNotifier()
    from annapurna_resources.notify.slack_notifier import SlackNotifier

    return SlackNotifier(
        token=dg.EnvVar("SLACK_BOT_TOKEN"),
        channel=dg.EnvVar("SLACK_CHANNEL"),
        api_url=_url("ANNAPURNA_SLACK_API_URL", "https://slack.com/api"),
        paper_index=paper_index,
    )


def _slots(setting: str) -> int:
    """A number of parallel scripts, or `auto` (0): sized on the execution host to its NeuronCores, GPUs or CPUs."""
    if setting.strip().lower() == "auto":
        return 0
    if not setting.strip().isdigit():
        raise ValueError(f"ANNAPURNA_TRN1_SLOTS is {setting!r}: expected a number of slots or auto")
    return int(setting)


def build_launcher() -> Trn1Launcher:
    """ANNAPURNA_TRN1_MODE: `local` (default: this machine), `ssh` (ANNAPURNA_SSH_*) or `ssm` (the EC2 instance
    through AWS Systems Manager, Pipes through S3)."""
    mode = _env("ANNAPURNA_TRN1_MODE", "ssm" if environment() == "aws" else "local").strip().lower()
    if mode not in ("local", "ssh", "ssm"):
        raise ValueError(f"ANNAPURNA_TRN1_MODE is {mode!r}: expected local, ssh or ssm")
    return Trn1Launcher(
        mode=mode,
        slots=_slots(_env("ANNAPURNA_TRN1_SLOTS", "auto" if mode != "local" else str(min(os.cpu_count() or 1, 4)))),
        timeout_s=float(_env("ANNAPURNA_RUN_TIMEOUT_S", "120")),
        time_budget_s=float(_env("ANNAPURNA_TIME_BUDGET_S", "30")),
        batch_size=int(_env("ANNAPURNA_BATCH_SIZE", "10")),
        max_wait_minutes=float(_env("ANNAPURNA_BATCH_MAX_WAIT_MINUTES", "30")),
        ssh_host=_env("ANNAPURNA_SSH_HOST", ""),
        ssh_port=int(_env("ANNAPURNA_SSH_PORT", "22")),
        ssh_user=_env("ANNAPURNA_SSH_USER", ""),
        ssh_key_path=_env("ANNAPURNA_SSH_KEY", ""),
        ssh_jump_host=_env("ANNAPURNA_SSH_JUMP_HOST", ""),
        ssh_known_hosts_path=_env("ANNAPURNA_SSH_KNOWN_HOSTS", ""),
        remote_work_root=_env("ANNAPURNA_REMOTE_WORK_ROOT", "/tmp/annapurna-batches"),
        remote_python=_env("ANNAPURNA_REMOTE_PYTHON", "python3"),
        datasets_dir=_env("ANNAPURNA_HOST_DATASETS_DIR", _env("ANNAPURNA_DATASETS_DIR", "")),
        s3_bucket=_env("ANNAPURNA_S3_BUCKET", ""),
        s3_prefix=_env("ANNAPURNA_S3_PIPES_PREFIX", "annapurna/pipes"),
        aws_region=_env("AWS_REGION", "us-east-1"),
        aws_endpoint_url=_aws_endpoint(),
        ec2_instance_id=_env("ANNAPURNA_EC2_INSTANCE_ID", ""),
        ec2_usd_per_hour=float(_env("ANNAPURNA_EC2_USD_PER_HOUR", "1.34375")),
        ec2_idle_stop_minutes=float(_env("ANNAPURNA_EC2_IDLE_STOP_MINUTES", "15")),
        ec2_wait_timeout_s=float(_env("ANNAPURNA_EC2_WAIT_TIMEOUT_S", "900")),
    )


def build_resources() -> dict:
    embedder = MiniLMEmbedder()
    paper_index = build_paper_index()
    return {
        "paper_folder": LocalFolderSource(folder=_env("ANNAPURNA_PAPERS_DIR", "")),
        "paper_sources": build_paper_sources(),
        "pdf_fetcher": PdfFetcher(),
        "paper_index": paper_index,
        "blob_store": build_blob_store(),
        "embedder": embedder,
        "judge": build_judge(embedder),
        "code_generator": build_code_generator(),
        "launcher": build_launcher(),
        "notifier": build_notifier(paper_index),
    }
