"""What the code generator reads of papers the classifier never saw: content recall and text fraction, with the
pipeline's selection rule (the `lifecycle` reading budget) and leave-one-paper-out models.

For each labelled page, the fraction of its text that is kept; content recall = kept method/setup text ÷ method/setup
text, where method/setup text is the text of pages labelled method or setup less the parts the label definitions call
`other` wherever they are (references, related work, acknowledgements, broader impact, checklists: see
`LabelledPaper.useful_chars`); `content_recall_whole_pages` counts every character of those pages instead;
text fraction = kept text ÷ all text.

    .venv/bin/python benchmarks/page_selection.py [DATA_DIR] [--min-probability P] [--sweep]

Prints one line per paper (its five figures: pages, useful pages, content recall, text fraction, tokens kept),
then a final JSON line.
"""

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def evaluate(papers, scores, threshold: float, budget: int, show: bool) -> dict:
    """Content recall and text fraction of the selection at `threshold`, over all papers (each printed if `show`)."""
    from annapurna_assets.codegen.reading.selection import select_sections

    totals = dict.fromkeys(("useful_kept", "useful", "page_useful_kept", "page_useful", "kept", "all"), 0)
    for paper in papers:
        selection = select_sections(paper.text, scores[paper.name], budget, threshold)
        figures = dict.fromkeys(totals, 0)
        for i, choice in enumerate(selection.choices):
            useful_chars = sum(paper.useful_chars(i).values())
            on_useful_pages = sum(c for p, c in choice.section.chars_by_page().items() if p in paper.useful_pages)
            figures["all"] += choice.section.chars
            figures["useful"] += useful_chars
            figures["page_useful"] += on_useful_pages
            if choice.kept:
                figures["kept"] += choice.section.chars
                figures["useful_kept"] += useful_chars
                figures["page_useful_kept"] += on_useful_pages
        for name in totals:
            totals[name] += figures[name]
        if show:
            kept = selection.kept_by_page()
            missed = {page: kept[page] for page in sorted(paper.useful_pages) if kept[page] < 0.9}
            print(
                f"{paper.name[:44]:44s} pages {paper.text.page_count:3d}  useful {len(paper.useful_pages):2d}  "
                f"recall {figures['useful_kept'] / max(1, figures['useful']):.3f}  "
                f"text {figures['kept'] / max(1, figures['all']):.2f}  tokens {selection.tokens_kept:6,d}  "
                f"useful pages under 0.9 kept {missed}"
            )
    return {
        "content_recall": round(totals["useful_kept"] / totals["useful"], 4),
        "content_recall_whole_pages": round(totals["page_useful_kept"] / totals["page_useful"], 4),
        "text_fraction": round(totals["kept"] / totals["all"], 4),
    }


def main(data_dir: Path, min_probability: float | None, sweep: bool) -> dict:
    from annapurna_assets.codegen.reading.classifier import classification_report, held_out_scores, labelled_papers
    from annapurna_assets.codegen.reading.features import learn_lexicons
    from annapurna_assets.lifecycle.settings import LifecycleSettings
    from annapurna_assets.settings import DEMO_CORPUS

    started = time.perf_counter()
    settings = LifecycleSettings()
    threshold = settings.section_min_probability if min_probability is None else min_probability
    papers = labelled_papers([data_dir / "pdfs", DEMO_CORPUS])
    scores = held_out_scores(papers, learn_lexicons(data_dir))
    if sweep:
        for candidate in (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5):
            figures = evaluate(papers, scores, candidate, settings.read_budget_tokens, False)
            print(f"min_probability {candidate:.2f}: {figures}")
    figures = evaluate(papers, scores, threshold, settings.read_budget_tokens, True)
    return {
        "papers": len(papers),
        "useful_pages": sum(len(paper.useful_pages) for paper in papers),
        **figures,
        "min_probability": threshold,
        "budget_tokens": settings.read_budget_tokens,
        "section_classifier": classification_report(papers, scores),
        "seconds": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--min-probability", type=float, help="override lifecycle.section_min_probability")
    parser.add_argument("--sweep", action="store_true", help="also the figures at a range of min-probabilities")
    args = parser.parse_args()
    print(json.dumps(main(args.data_dir, args.min_probability, args.sweep)))
