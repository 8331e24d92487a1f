"""The `papers` and `accepted_papers` dynamic partitions, and the readable slug keys that name papers.

A key names its paper: `icml-2024-<title slug>`, `arxiv-2106-09685-<title slug>`, `<title slug>-<12 hex of the file's
sha256>` for a local file. Keys registered before titles were part of them (`arxiv-2106-09685`,
`local-<16 hex>`) stay valid.
"""

import re

import dagster as dg

papers_partitions = dg.DynamicPartitionsDefinition(name="papers")
# The papers the judge accepted: `verdict` adds (and, on a changed mind, removes) them. The assets after the verdict
# are partitioned by it, so a rejected paper is a finished paper, never missing work downstream.
accepted_papers_partitions = dg.DynamicPartitionsDefinition(name="accepted_papers")

TITLE_SLUG_CHARS = 60
LOCAL_DIGEST_CHARS = 12

_ARXIV_ID = re.compile(r"^(?:arxiv:)?(?P<id>\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?$", re.IGNORECASE)


def slugify(text: str) -> str:
    """Lowercase letters, digits and single hyphens: safe in URLs, UI backfills and file names."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def title_slug(title: str, max_chars: int = TITLE_SLUG_CHARS) -> str:
    """The title as a slug, cut at a word boundary."""
    slug = slugify(title)
    if len(slug) > max_chars:
        slug = slug[: max_chars + 1].rsplit("-", 1)[0]
    return slug


def arxiv_paper_key(arxiv_id: str, title: str = "") -> str:
    """`2106.09685v2`, "LoRA: Low-Rank ..." -> `arxiv-2106-09685-lora-low-rank-...` (versions share a key)."""
    match = _ARXIV_ID.match(arxiv_id.strip())
    if not match:
        raise ValueError(f"not an arXiv identifier: {arxiv_id!r}")
    return "-".join(part for part in ("arxiv", slugify(match.group("id")), title_slug(title, 48)) if part)


def local_paper_key(sha256: str, title: str) -> str:
    """A local file is named by its title and its content: `<title slug>-<first 12 hex digits of its sha256>`,
    so the same file under another name is still one paper."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return "-".join(part for part in (title_slug(title), sha256[:LOCAL_DIGEST_CHARS]) if part)


def local_key_digest(key: str) -> str | None:
    """The content-hash prefix a local paper's key ends with (`local-<16 hex>` keys included), else None."""
    if re.fullmatch(r"local-[0-9a-f]{16}", key):
        return key[6 : 6 + LOCAL_DIGEST_CHARS]
    match = re.search(r"(?:^|-)([0-9a-f]{12})$", key)
    return match.group(1) if match else None
