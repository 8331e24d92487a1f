"""Paper sources: arXiv, OpenReview, proceedings sites, listing files, the local folder, and polite HTTP."""
