"""The paper document: the sections the stages write, each typed once here.

Every stage replaces its own section (`PaperIndex.update(key, pdf=PdfSection(...))`), so a section's fields are
written by one function and read by the stages after it. Sections are JSON objects in the index; these
`TypedDict`s say what each holds. Fields marked `NotRequired` are absent in some documents (older ones, or a
path that does not produce them).
"""

from typing import NotRequired, TypedDict


class SourceVersion(TypedDict):
    """Another listing's entry of the same paper, merged into this document by dedup."""

    source: str
    source_id: str
    listing: str
    matched_by: str
    pdf_url: str
    title: str


class SourceSection(TypedDict):
    """Where the paper was listed (written at registration)."""

    source: str  # openreview, pmlr, neurips, mlsys, arxiv, folder
    source_id: str
    listing: str  # the listing partition it came from
    pdf_uri: str
    paper: dict  # `ListedPaper.to_dict()`
    file_name: NotRequired[str]  # papers from a local folder
    versions: NotRequired[list[SourceVersion]]


class MetadataSection(TypedDict, total=False):
    """`ListedPaper.to_dict()` (every field of `ListedPaper`; the ones stages read are named here) completed from
    the source and the PDF (`paper_metadata`)."""

    title: str
    abstract: str
    authors: list[str]
    venue: str
    year: int | None
    decision: str
    pdf_url: str
    forum_url: str
    proceedings_url: str
    listing: str
    title_from: str
    abstract_from: str
    pdf_ref: str


class NeighbourEntry(TypedDict):
    key: str
    title: str
    similarity: float


class VerdictSection(TypedDict):
    """The judge's decision (`verdict`); `decision` is None and `error` set when the judge could not decide."""

    judge: str
    model: str
    prompt_version: str
    decision: str | None  # accept, reject
    relevance: float | None
    novelty: float | None
    reasons: list[str]
    neighbours: list[NeighbourEntry]
    input_tokens: int
    output_tokens: int
    cost_usd: float
    error: NotRequired[str]
    relevant: NotRequired[bool]
    matched_interest: NotRequired[str]
    interest_scores: NotRequired[dict[str, float]]
    most_similar: NotRequired[NeighbourEntry | None]
    similar: NotRequired[bool]
    accelerator_compatible: NotRequired[bool]
    accelerator_reason: NotRequired[str]
    topics: NotRequired[list[str]]


class PdfSection(TypedDict):
    """The stored PDF (`raw_pdf`); `ref` is empty when none could be had."""

    ref: str
    readable: bool
    problem: str
    page_count: int
    size: NotRequired[int]
    pdf_title: NotRequired[str]


class TextSection(TypedDict, total=False):
    """The PDF's text, stored as a blob (`paper_text`): one string per page, and its sections under their headings."""

    ref: str
    pages: int
    chars: int
    words: int
    problem: str
    sections: int
    headings_from: str  # "pdf outline", "type" or "none"


class ReadSection(TypedDict):
    """One section of the paper and whether the code generator reads it."""

    index: int  # its place among the paper's sections
    title: str
    pages: list[int]
    kept: bool
    tokens: int
    score: float | None  # P(useful); None where its heading decided
    reason: str  # why it is not read ("" when it is)


class PagesSection(TypedDict):
    """What the code generator reads (`selected_pages`): the paper's sections, kept or dropped, and for every page
    the fraction of its text that is kept."""

    sections: list[ReadSection]
    pages: list[int]  # the pages some kept text is on, 1-based
    kept: dict[str, float]  # page number (a JSON key, so a string) -> fraction of its text kept
    tokens_kept: int
    tokens_total: int
    budget_tokens: int
    method: str


class CodeSection(TypedDict, total=False):
    """The generated script (`generated_code`): the generator's report plus where the code is stored."""

    ref: str
    bytes: int
    lines: int
    contract_ok: bool
    contract_problems: list[str]
    generated_at: float
    generator: str
    model: str
    family: str
    plan: dict
    hyperparameters: dict
    hyperparameters_from_paper: list[dict]
    final_status: str  # LLM generators: ok, failed
    final_error: str
    smoke: dict
    input_tokens: int
    output_tokens: int
    cost_usd: float


class RunSection(TypedDict):
    """One execution of the code on the launcher (`trn_run`)."""

    status: str  # ok, failed, timeout, infrastructure
    ok: bool
    reason: str
    exit_code: int | None
    seconds: float
    device: str
    host: str
    final: dict
    metrics: list[dict]
    stdout_tail: str
    stderr_tail: str
    code_ref: str
    run_id: str
    loss_curve_ref: NotRequired[str]
    instance_hours: NotRequired[float]
    cost_usd: NotRequired[float]


class ProfileSection(TypedDict):
    """The profiler's trace and summary of a run (`trn_profile`)."""

    trace_ref: str
    top_operators: list[dict]
    profiled_optimizer_steps: int
    time_split: dict[str, float]


class SlackSection(TypedDict):
    """The paper's Slack thread, so every later message goes to it."""

    channel: str
    thread_ts: str


class PaperDocument(TypedDict, total=False):
    """One paper's document in the index, section by section in lifecycle order."""

    source: SourceSection
    metadata: MetadataSection
    verdict: VerdictSection
    pdf: PdfSection
    text: TextSection
    pages: PagesSection
    code: CodeSection
    run: RunSection
    profile: ProfileSection
    slack: SlackSection
