"""Choosing the sections of a paper a code generator reads.

Everything that may describe how to build and train the method is kept; what a reproduction never needs is
dropped by its heading or its parent's (references, related work, acknowledgements, broader impact, checklists).
The section classifier's P(useful) drops what it is confident is not needed (below `min_probability`), the front
matter included. Only a paper still over the token budget loses more, the least useful sections first, though
never its last section with text (the generator summarises what is too long).
"""

from dataclasses import dataclass

from annapurna_assets.papers.structure import PaperText, Section


def estimate_tokens(text: str) -> int:
    """About 4 characters per token for English prose (the usual BPE rule of thumb)."""
    return max(1, len(text) // 4) if text.strip() else 0


@dataclass(frozen=True)
class SectionChoice:
    section: Section
    score: float | None  # P(useful); None where the heading alone decided
    tokens: int
    kept: bool
    reason: str  # why it was dropped ("" when kept)

    def to_json(self) -> dict:
        return {
            "title": self.section.heading,
            "pages": self.section.pages,
            "kept": self.kept,
            "tokens": self.tokens,
            "score": None if self.score is None else round(self.score, 4),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Selection:
    choices: list[SectionChoice]  # every section, in paper order
    budget_tokens: int
    page_count: int

    @property
    def kept(self) -> list[Section]:
        return [choice.section for choice in self.choices if choice.kept]

    @property
    def tokens_kept(self) -> int:
        return sum(choice.tokens for choice in self.choices if choice.kept)

    @property
    def tokens_total(self) -> int:
        return sum(choice.tokens for choice in self.choices)

    @property
    def token_fraction(self) -> float:
        return self.tokens_kept / self.tokens_total if self.tokens_total else 0.0

    def kept_by_page(self) -> dict[int, float]:
        """Each page (1-based) with the fraction of its text that is kept (0.0 for a page without text)."""
        kept, total = [0] * self.page_count, [0] * self.page_count
        for choice in self.choices:
            for page, chars in choice.section.chars_by_page().items():
                total[page - 1] += chars
                kept[page - 1] += chars if choice.kept else 0
        return {n + 1: round(kept[n] / total[n], 4) if total[n] else 0.0 for n in range(self.page_count)}

    @property
    def pages(self) -> list[int]:
        """The pages some kept text is on."""
        return [page for page, fraction in self.kept_by_page().items() if fraction > 0]


def scored_sections(paper: PaperText) -> list[int]:
    """The indices of the sections the classifier judges (the others are decided by their headings)."""
    return [i for i, section in enumerate(paper.sections) if _decided_by_heading(paper, section) is None]


def _decided_by_heading(paper: PaperText, section: Section) -> str | None:
    kind = section.not_for_reproduction
    return kind.replace("_", " ") if kind else None


def select_sections(
    paper: PaperText, scores: dict[int, float], budget_tokens: int, min_probability: float
) -> Selection:
    """The sections the generator reads: `scores` maps the index of each section in `scored_sections(paper)`
    to its P(useful)."""
    choices = []
    for i, section in enumerate(paper.sections):
        tokens = estimate_tokens(section.text)
        by_heading = _decided_by_heading(paper, section)
        score = scores.get(i)
        if by_heading is not None:
            choices.append(SectionChoice(section, None, tokens, False, by_heading))
        elif score is not None and score < min_probability:
            choices.append(SectionChoice(section, score, tokens, False, f"P(useful) {score:.3f} < {min_probability}"))
        else:
            choices.append(SectionChoice(section, score, tokens, True, ""))
    spent = sum(choice.tokens for choice in choices if choice.kept)
    for i in sorted((i for i, c in enumerate(choices) if c.kept), key=lambda i: (choices[i].score or 0.0, -i)):
        if spent <= budget_tokens:
            break
        choice = choices[i]
        if choice.tokens == 0 or sum(1 for c in choices if c.kept and c.tokens) == 1:
            continue
        spent -= choice.tokens
        reason = f"over the budget of {budget_tokens:,} tokens (P(useful) {choice.score or 0.0:.2f})"
        choices[i] = SectionChoice(choice.section, choice.score, choice.tokens, False, reason)
    return Selection(choices, budget_tokens, paper.page_count)
