"""The `papers` dynamic partitions and the slug keys that name them."""

import re

import dagster as dg

papers_partitions = dg.DynamicPartitionsDefinition(name="papers")

_ARXIV_ID = re.compile(r"^(?:arxiv:)?(?P<id>\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?$", re.IGNORECASE)


def slugify(text: str) -> str:
    """Lowercase letters, digits and single hyphens: safe in URLs, UI backfills and file names."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def arxiv_paper_key(arxiv_id: str) -> str:
    """`2106.09685v2` -> `arxiv-2106-09685` (versions of one paper share a key)."""
    match = _ARXIV_ID.match(arxiv_id.strip())
    if not match:
        raise ValueError(f"not an arXiv identifier: {arxiv_id!r}")
    return "arxiv-" + slugify(match.group("id"))


def local_paper_key(sha256: str) -> str:
    """A local file is named by its content: `local-<first 16 hex digits of its sha256>`."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return "local-" + sha256[:16]


def paper_check(name: str, asset: str, description: str, blocking: bool = True) -> dg.AssetCheckSpec:
    """A per-paper asset check; blocking ones stop that paper's run (the other papers go on)."""
    return dg.AssetCheckSpec(
        name, asset=asset, partitions_def=papers_partitions, blocking=blocking, description=description
    )
