"""Where papers come from: conference and arXiv listings and the watched folder, registered as `papers` partitions
(one per paper, deduplicated across sources)."""
