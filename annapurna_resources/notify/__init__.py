"""Notifications about each paper: the log, or a Slack thread per paper."""
