"""Choosing the pages worth giving a code generator under a token budget.

Pages are taken in order of score per token until the budget is spent: with P(useful) as the score, that keeps the
most useful pages a budget can buy (a short hyperparameter page goes before a long page only slightly likelier to
matter). The title and abstract reach the code generator separately, so page 1 competes like any other page.
A page costs its tokens without boilerplate (running headers and footers, page numbers, lone URLs and arXiv
stamps), which is also what the code generator gets.
The pipeline's scores are the page classifier's P(useful) (`page_classifier`); `score_page` is a transparent
cue score (implementation and setup cues, minus references and related work), one of the classifier's features.
"""

import re
from dataclasses import dataclass

METHOD_CUES = re.compile(
    r"\b(algorithm|we propose|our (?:method|model|approach)|architecture|layer|loss|objective|gradient|"
    r"equation|eq\.|encoder|decoder|attention|embedding|network|update rule|minimi[sz]e|maximi[sz]e|"
    r"softmax|activation|parameteri[sz]ed|defined as|given by)\b",
    re.IGNORECASE,
)
SETUP_CUES = re.compile(
    r"\b(learning rate|batch size|optimi[sz]er|adam|sgd|momentum|weight decay|dropout|epochs?|"
    r"hyper-?parameters?|warm-?up|training steps|dataset|benchmark|implementation details|"
    r"experimental setup|we train|trained (?:for|with|on))\b",
    re.IGNORECASE,
)
MATH_CHARS = re.compile(r"[=∑∏∫∂∇αβγδεθλμσφψω≤≥≈∈→]")
REFERENCE_CUES = re.compile(r"\bet al\.|\b(?:19|20)\d\d[a-z]?\b|\bIn Proceedings\b|\barXiv\b|\bvol\.|\bpp\.", re.I)
REFERENCES_HEADING = re.compile(r"^\s*(?:\d+\s+)?(references|bibliography)\s*$", re.IGNORECASE | re.MULTILINE)
RELATED_WORK_HEADING = re.compile(r"^\s*(?:\d+\.?\s+)?related work\s*$", re.IGNORECASE | re.MULTILINE)


STAMP_LINE = re.compile(r"^\s*(?:https?://\S+|arXiv:\d{4}\.\d{4,5}(?:v\d+)?\b.*)\s*$")
PAGE_NUMBER = re.compile(r"^\s*\d{1,3}\s*$")
WORDS = re.compile(r"[^\W\d_]{3,}")
EDGE_LINES = 2  # running headers and footers sit in a page's first or last two lines
RUNNING_LINE_MIN_PAGES = 3


def strip_boilerplate(pages: list[str]) -> list[str]:
    """Each page without the paper's running headers and footers (a line of 2+ words that opens or closes 3+ pages,
    like a short title or the authors' names), page numbers (a lone number opening or closing a page), and lines
    that are only a URL or an arXiv stamp. Lines inside a page (equations, table cells) are never touched."""
    page_lines = [[line for line in page.splitlines() if line.strip() and not STAMP_LINE.match(line)] for page in pages]
    edge_counts: dict[str, int] = {}
    for lines in page_lines:
        for line in {line.strip() for line in lines[:EDGE_LINES] + lines[-EDGE_LINES:]}:
            edge_counts[line] = edge_counts.get(line, 0) + 1
    running = {line for line, n in edge_counts.items() if n >= RUNNING_LINE_MIN_PAGES and len(WORDS.findall(line)) >= 2}

    def boilerplate(i: int, line: str, count: int) -> bool:
        at_edge = i < EDGE_LINES or i >= count - EDGE_LINES
        return at_edge and (line.strip() in running or bool(PAGE_NUMBER.match(line)))

    return [
        "\n".join(line for i, line in enumerate(lines) if not boilerplate(i, line, len(lines))) for lines in page_lines
    ]


@dataclass(frozen=True)
class PageSelection:
    pages: list[int]  # 1-based, in reading order
    scores: dict[int, float]
    tokens_kept: int
    tokens_total: int

    @property
    def token_fraction(self) -> float:
        return self.tokens_kept / self.tokens_total if self.tokens_total else 0.0


def estimate_tokens(text: str) -> int:
    """About 4 characters per token for English prose (the usual BPE rule of thumb)."""
    return max(1, len(text) // 4) if text.strip() else 0


def score_page(text: str) -> float:
    words = max(1, len(text.split()))
    per_100_words = 100.0 / words
    method = len(METHOD_CUES.findall(text)) * per_100_words
    setup = len(SETUP_CUES.findall(text)) * per_100_words
    maths = min(len(MATH_CHARS.findall(text)) * per_100_words, 10.0)
    references = len(REFERENCE_CUES.findall(text)) * per_100_words
    score = method + 1.5 * setup + 0.3 * maths - 0.8 * references
    if REFERENCES_HEADING.search(text) and references > 3:
        score -= 5.0
    if RELATED_WORK_HEADING.search(text):
        score -= 2.0
    if words < 80:
        score -= 3.0
    return round(score, 3)


def select_pages(
    pages: list[str], budget_tokens: int, page_scores: list[float] | None = None, min_score: float = 0.0
) -> PageSelection:
    """Pages above `min_score`, highest score per token first, whose estimated tokens without boilerplate fit
    `budget_tokens`; `tokens_total` counts the whole paper. `page_scores` (one per page) default to `score_page`."""
    tokens = [estimate_tokens(p) for p in strip_boilerplate(pages)]
    if page_scores is None:
        page_scores = [score_page(p) for p in pages]
    scores = {i + 1: round(float(score), 4) for i, score in enumerate(page_scores)}
    chosen: list[int] = []
    spent = 0
    ranked = sorted(scores, key=lambda n: -scores[n] / max(1, tokens[n - 1]))
    for number in ranked:
        cost = tokens[number - 1]
        if cost == 0 or spent + cost > budget_tokens:
            continue
        if scores[number] <= min_score:
            continue
        chosen.append(number)
        spent += cost
    return PageSelection(sorted(chosen), scores, spent, sum(estimate_tokens(p) for p in pages))
