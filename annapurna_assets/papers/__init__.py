"""A registered paper: its partitions and key, its metadata, and for accepted papers its PDF and text."""
