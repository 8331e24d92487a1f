"""Notifications about each paper. Embedded default: Dagster's log; `SlackNotifier` posts to a thread per paper."""

import abc

import dagster as dg


class Notifier(dg.ConfigurableResource, abc.ABC):
    @abc.abstractmethod
    def paper_event(self, log, paper_key: str, message: str) -> None:
        """Tell the paper's followers what happened to it (accepted, code written, batch started, run ended)."""


class LogNotifier(Notifier):
    def paper_event(self, log, paper_key: str, message: str) -> None:
        log.info(f"[{paper_key}] {message}")
