"""Notifications about each paper. Embedded default: Dagster's log; Slack threads come later."""

import dagster as dg


class LogNotifier(dg.ConfigurableResource):
    def paper_event(self, log, paper_key: str, message: str) -> None:
        log.info(f"[{paper_key}] {message}")
