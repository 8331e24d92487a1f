"""The outside world: one module per outside system, each behind a small interface.

Every resource here has an embedded default that needs no network and no key; the other backends
(S3, OpenSearch, Claude and OpenAI-compatible models, SSH and SSM hosts, Slack) implement the same interfaces.
`annapurna_assets/deployment.py` picks them from the deployment profile and settings file.

Names are imported on first use, so a command that needs one resource (`annapurna status` needs only the
index) does not pay for importing every client library.
"""

import importlib

_MODULES = {
    "ArxivSource": "sources.arxiv_source",
    "BlobStore": "storage.blob_store",
    "CodeGenerator": "llm.code_generator",
    "Judge": "llm.judge",
    "ListingFileSource": "sources.listing_files",
    "LlmCodeGenerator": "llm.llm_code_generator",
    "LocalBlobStore": "storage.blob_store",
    "LocalFolderSource": "sources.local_folder",
    "LogNotifier": "notify.notifier",
    "MiniLMEmbedder": "llm.embeddings",
    "Notifier": "notify.notifier",
    "PaperIndex": "storage.paper_index",
    "PaperSection": "llm.code_generator",
    "MlsysProceedingsSource": "sources.proceedings_source",
    "NeuripsProceedingsSource": "sources.proceedings_source",
    "OfflineCodeGenerator": "llm.code_generator",
    "OfflineJudge": "llm.judge",
    "OpenReviewSource": "sources.openreview_source",
    "PaperSources": "sources.paper_sources",
    "PdfFetcher": "sources.pdf_fetcher",
    "PmlrSource": "sources.proceedings_source",
    "SqlitePaperIndex": "storage.paper_index",
    "Trn1Launcher": "launcher.trn1_launcher",
}

__all__ = sorted(_MODULES)


def __getattr__(name: str):
    if name not in _MODULES:
        raise AttributeError(f"module 'annapurna_resources' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"annapurna_resources.{_MODULES[name]}"), name)
    globals()[name] = value
    return value
