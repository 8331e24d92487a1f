"""Running generated code on the trn1 launcher: batches, per-paper results and profiles, idle stop."""
