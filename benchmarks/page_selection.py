"""Page selection on papers the classifier never saw: recall of the labelled method/setup pages and the share of
the paper's tokens kept, with the pipeline's selection rule (the `lifecycle` page budget) and leave-one-paper-out
models.

    .venv/bin/python benchmarks/page_selection.py [DATA_DIR]

Prints one line per paper, then a final JSON line with `recall` and `token_fraction` (over all held-out pages).
"""

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(data_dir: Path) -> dict:
    from annapurna_assets.codegen.pages.classifier import classification_report, held_out_scores, labelled_papers
    from annapurna_assets.codegen.pages.features import learn_lexicons
    from annapurna_assets.codegen.pages.selection import estimate_tokens, select_pages
    from annapurna_assets.lifecycle.settings import LifecycleSettings
    from annapurna_assets.settings import DEMO_CORPUS

    started = time.perf_counter()
    config = LifecycleSettings()
    papers = labelled_papers([data_dir / "pdfs", DEMO_CORPUS])
    scores = held_out_scores(papers, learn_lexicons(data_dir))
    kept_useful = useful = kept_tokens = total_tokens = 0
    for paper in papers:
        total = sum(estimate_tokens(p) for p in paper.pages)
        budget = min(config.page_budget_tokens, int(config.page_max_fraction * total))
        selection = select_pages(paper.pages, budget, scores[paper.name], config.page_min_probability)
        wanted = {i + 1 for i, is_useful in enumerate(paper.useful) if is_useful}
        kept_useful += len(wanted & set(selection.pages))
        useful += len(wanted)
        kept_tokens += selection.tokens_kept
        total_tokens += selection.tokens_total
        missed = sorted(wanted - set(selection.pages))
        print(
            f"{paper.name[:48]:48s} pages {len(paper.pages):3d}  useful {len(wanted):2d}  kept "
            f"{len(selection.pages):2d}  tokens {selection.token_fraction:.2f}  missed {missed}"
        )
    report = classification_report(papers, scores)
    return {
        "papers": len(papers),
        "pages": report["pages"],
        "useful_pages": useful,
        "recall": round(kept_useful / useful, 4),
        "token_fraction": round(kept_tokens / total_tokens, 4),
        "classifier_precision": report["precision"],
        "classifier_recall": report["recall"],
        "classifier_auc": report["auc"],
        "budget": f"min({config.page_budget_tokens} tokens, {config.page_max_fraction} of the paper)",
        "seconds": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"
    print(json.dumps(main(data)))
