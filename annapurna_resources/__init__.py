"""The outside world: one module per outside system, each behind a small interface.

Every resource here has an embedded default that needs no network and no key; later backends
(S3, OpenSearch, Claude, remote trn1 hosts, Slack) implement the same methods.
"""

from annapurna_resources.blob_store import LocalBlobStore
from annapurna_resources.code_generator import CodeGenerator, OfflineCodeGenerator
from annapurna_resources.embeddings import MiniLMEmbedder
from annapurna_resources.judge import Judge, OfflineJudge
from annapurna_resources.notifier import LogNotifier
from annapurna_resources.paper_index import SqlitePaperIndex
from annapurna_resources.paper_source import LocalFolderSource
from annapurna_resources.trn1_launcher import Trn1Launcher

__all__ = [
    "CodeGenerator",
    "Judge",
    "LocalBlobStore",
    "LocalFolderSource",
    "LogNotifier",
    "MiniLMEmbedder",
    "OfflineCodeGenerator",
    "OfflineJudge",
    "SqlitePaperIndex",
    "Trn1Launcher",
]
