"""What every paper source returns: one listed paper, before it becomes a `papers` partition."""

from dataclasses import asdict, dataclass, field

ACCEPTED_DECISIONS = ("oral", "spotlight", "poster", "accept")
DECISIONS = (*ACCEPTED_DECISIONS, "reject", "withdrawn", "desk_rejected", "preprint", "unknown")


def accepted_decision(track: str) -> str:
    """How a venue's acceptance words ("ICLR 2025 Oral", "NeurIPS 2023 poster") read as a decision."""
    words = track.lower()
    return next((kind for kind in ("oral", "spotlight", "poster") if kind in words), "accept")


@dataclass
class ListedPaper:
    """A paper as a listing shows it. `source`/`source_id` name where it came from:
    `openreview`/forum id, `pmlr`/`v235/abe24a`, `neurips` or `mlsys`/`<year>/<hash>`, `arxiv`/`2106.09685`.
    `ids` holds every source id known for the paper (filled in further when dedup merges versions)."""

    source: str
    source_id: str
    title: str
    authors: list[str] = field(default_factory=list)
    abstract: str = ""
    venue: str = ""  # iclr, icml, neurips, mlsys, arxiv
    year: int | None = None
    decision: str = "unknown"  # one of DECISIONS
    track: str = ""  # the venue's own words, e.g. "ICLR 2025 Oral", "Submitted to ICLR 2025"
    keywords: list[str] = field(default_factory=list)
    primary_area: str = ""
    forum_url: str = ""
    proceedings_url: str = ""
    pdf_url: str = ""
    arxiv_id: str = ""
    categories: list[str] = field(default_factory=list)
    published: str = ""  # ISO date, when the source gives one
    ids: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"decision {self.decision!r} is not one of {DECISIONS}")
        self.ids.setdefault(self.source, self.source_id)

    @property
    def accepted(self) -> bool:
        return self.decision in ACCEPTED_DECISIONS

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ListedPaper":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
