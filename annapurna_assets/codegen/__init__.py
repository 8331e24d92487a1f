"""From an accepted paper's text to a runnable training script: what the generator reads, then the code."""
