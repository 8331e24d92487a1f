"""What each of a paper's assets records in its index document, and what `annapurna status` calls the papers that
have it, in flow order.

Free of Dagster, so `annapurna status` counts papers without loading it (one query on the index file); the stage
table (`stages.py`) checks that its assets are these, in this order.
"""

PAPER_SECTIONS: dict[str, tuple[str, str]] = {  # asset -> (section of the paper document, counted as)
    "paper_metadata": ("metadata", "described"),
    "verdict": ("verdict", "judged"),
    "raw_pdf": ("pdf", "pdf"),
    "paper_text": ("text", "text"),
    "selected_pages": ("pages", "pages"),
    "generated_code": ("code", "code"),
    "trn_run_result": ("run", "executed"),  # trn1_batch_job's per-paper assets
    "trn_profile": ("profile", "profiled"),
}
COUNTED_SECTIONS = {counted_as: section for section, counted_as in PAPER_SECTIONS.values()}
"""What `annapurna status` counts, in flow order: papers whose index document has the section."""
