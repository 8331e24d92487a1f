"""Papers per lifecycle stage, counted straight from the paper index file in one query.

Each stage writes its section of the paper's index document in the step that materializes its asset, so these
counts are the ones the UI shows; reading them needs neither Dagster nor its instance, which keeps
`annapurna status` fast however many papers are registered. (The Dagster-side count is
`annapurna_assets.lifecycle.progress.stage_counts`; a test checks the two agree.)
"""

import sqlite3
from collections.abc import Iterable
from pathlib import Path


def _in(section: str, expression: str) -> str:
    """`expression` on the rows of `section` (the query walks each document's sections: `s.key`, `s.value`)."""
    return f"CASE WHEN s.key = '{section}' THEN {expression} END"


# How the recorded verdicts and runs came out, as SQL over the index file and as a test of one document.
_OUTCOMES_SQL = {
    "accepted": _in("verdict", "json_extract(s.value, '$.decision') = 'accept'"),
    "rejected": _in("verdict", "json_extract(s.value, '$.decision') = 'reject'"),
    "pending_execution": _in(
        "code", "json_extract(s.value, '$.contract_ok') = 1 AND json_type(papers.doc, '$.run') IS NULL"
    ),
    "executed_ok": _in("run", "json_extract(s.value, '$.ok') = 1"),
    "executed_failed": _in("run", "coalesce(json_extract(s.value, '$.ok'), 0) != 1"),
}


def _outcomes(doc: dict) -> dict[str, bool]:
    verdict, code, run = doc.get("verdict"), doc.get("code"), doc.get("run")
    decision = verdict.get("decision") if isinstance(verdict, dict) else None
    return {
        "accepted": decision == "accept",
        "rejected": decision == "reject",
        "pending_execution": isinstance(code, dict) and code.get("contract_ok") is True and run is None,
        "executed_ok": isinstance(run, dict) and run.get("ok") is True,
        "executed_failed": isinstance(run, dict) and run.get("ok") is not True,
    }


# What each paid stage spent, from its section of the document: (section, fields summed).
COST_STAGES = {
    "judge": ("verdict", ("input_tokens", "output_tokens", "cost_usd")),
    "code": ("code", ("input_tokens", "output_tokens", "cost_usd")),
    "run": ("run", ("instance_hours", "cost_usd")),
}


def _cost_columns() -> list[str]:
    columns = []
    for section, fields in COST_STAGES.values():
        columns.append(f"coalesce(sum(s.key = '{section}'), 0)")
        columns += [
            f"coalesce(sum({_in(section, f'json_extract(s.value, {chr(39)}$.{field}{chr(39)})')}), 0)"
            for field in fields
        ]
    return columns


def cost_totals(index_path: Path) -> dict:
    """Tokens, instance-hours and dollars per stage, their total, and the total per 100 judged papers."""
    return status_counts(index_path, {})[1]


def cost_totals_from_documents(docs: Iterable[dict]) -> dict:
    """`cost_totals` over documents (for index backends other than the SQLite file)."""
    values = [0] * sum(1 + len(fields) for _, fields in COST_STAGES.values())
    for doc in docs:
        position = 0
        for section, fields in COST_STAGES.values():
            part = doc.get(section)
            if isinstance(part, dict):
                values[position] += 1
                for offset, field in enumerate(fields, start=1):
                    value = part.get(field)
                    if isinstance(value, int | float):
                        values[position + offset] += value
            position += 1 + len(fields)
    return _cost_summary(values)


def _cost_summary(values: list) -> dict:
    summary: dict = {}
    position = 0
    for stage, (_, fields) in COST_STAGES.items():
        row = {"papers": int(values[position])}
        for offset, field in enumerate(fields, start=1):
            value = values[position + offset] or 0
            row[field] = round(float(value), 6) if field in ("cost_usd", "instance_hours") else int(value)
        summary[stage] = row
        position += 1 + len(fields)
    total = sum(row["cost_usd"] for row in summary.values())
    judged = summary["judge"]["papers"]
    summary["total_usd"] = round(total, 6)
    summary["usd_per_100_papers"] = round(100 * total / judged, 4) if judged else 0.0
    return summary


def stage_counts(index_path: Path, sections: dict[str, str]) -> dict[str, int]:
    """Papers registered, papers per stage (`sections`: what a stage's papers are counted as -> the document section
    the stage writes), then how the verdicts and runs came out. `pending_execution` here includes papers whose
    batch is running (the Dagster-side count leaves those out)."""
    return status_counts(index_path, sections)[0]


def status_counts(index_path: Path, sections: dict[str, str]) -> tuple[dict[str, int], dict]:
    """(`stage_counts`, `cost_totals`) from two passes over the index file that parse each document once
    (`json_each`): its sections counted, then only the verdict, code and run sections read. At 200,000 registered
    papers this takes well under a second."""
    outcome_columns = [f"coalesce(sum({condition}), 0)" for condition in _OUTCOMES_SQL.values()]
    cost_columns = _cost_columns()
    if not index_path.is_file():
        return dict.fromkeys(["discovered", *sections, *_OUTCOMES_SQL], 0), _cost_summary([0] * len(cost_columns))
    read = sorted({"verdict", "code", "run"} | {section for section, _ in COST_STAGES.values()})
    with sqlite3.connect(f"file:{index_path}?mode=ro", uri=True) as db:
        [registered] = db.execute("SELECT count(*) FROM papers").fetchone()
        present = dict(db.execute("SELECT s.key, count(*) FROM papers, json_each(papers.doc) AS s GROUP BY s.key"))
        row = db.execute(
            f"SELECT {', '.join(outcome_columns + cost_columns)} FROM papers, json_each(papers.doc) AS s "
            f"WHERE s.key IN ({', '.join(repr(section) for section in read)})"
        ).fetchone()
    counts = {"discovered": registered} | {name: present.get(section, 0) for name, section in sections.items()}
    counts |= {name: int(value) for name, value in zip(_OUTCOMES_SQL, row)}
    return counts, _cost_summary(list(row[len(outcome_columns) :]))


def stage_counts_from_documents(docs: Iterable[dict], sections: dict[str, str]) -> dict[str, int]:
    """`stage_counts` over documents (for index backends other than the SQLite file)."""
    docs = list(docs)
    counts = {"discovered": len(docs)}
    counts |= {name: sum(section in doc for doc in docs) for name, section in sections.items()}
    return counts | outcome_counts(docs)


def outcome_counts(docs: Iterable[dict]) -> dict[str, int]:
    """How the verdicts and runs of these documents came out."""
    counts = dict.fromkeys(_OUTCOMES_SQL, 0)
    for doc in docs:
        for name, yes in _outcomes(doc).items():
            counts[name] += int(yes)
    return counts
