"""The outside world: one module per outside system, each behind a small interface.

Every resource here has an embedded default that needs no network and no key; the other backends
(S3, OpenSearch, Claude and OpenAI-compatible models, SSH and SSM hosts, Slack) implement the same interfaces.
`annapurna_assets/backends.py` picks them from configuration.

Names are imported on first use, so a command that needs one resource (`annapurna status` needs only the
index) does not pay for importing every client library.
"""

import importlib

_MODULES = {
    "ArxivSource": "arxiv_source",
    "BlobStore": "blob_store",
    "CodeGenerator": "code_generator",
    "Judge": "judge",
    "ListingFileSource": "listing_files",
    "LlmCodeGenerator": "llm_code_generator",
    "LocalBlobStore": "blob_store",
    "LocalFolderSource": "local_folder",
    "LogNotifier": "notifier",
    "MiniLMEmbedder": "embeddings",
    "Notifier": "notifier",
    "PaperIndex": "paper_index",
    "MlsysProceedingsSource": "proceedings_source",
    "NeuripsProceedingsSource": "proceedings_source",
    "OfflineCodeGenerator": "code_generator",
    "OfflineJudge": "judge",
    "OpenReviewSource": "openreview_source",
    "PaperSources": "paper_sources",
    "PdfFetcher": "pdf_fetcher",
    "PmlrSource": "proceedings_source",
    "SqlitePaperIndex": "paper_index",
    "Trn1Launcher": "trn1_launcher",
}

__all__ = sorted(_MODULES)


def __getattr__(name: str):
    if name not in _MODULES:
        raise AttributeError(f"module 'annapurna_resources' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"annapurna_resources.{_MODULES[name]}"), name)
    globals()[name] = value
    return value
