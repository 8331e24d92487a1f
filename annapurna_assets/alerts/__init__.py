"""Every failed check and failed run, told through the notifier."""
