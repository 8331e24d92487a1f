"""`annapurna show KEY`: one paper's story as a person reads it, stage by stage, with the links the UI has."""

import textwrap

from annapurna_assets.cli.demo import format_table
from annapurna_resources.storage.blob_server import perfetto_url

UI_URL = "http://127.0.0.1:3000"
WIDTH = 100


def paper_report(shown: dict, blob_store, ui_url: str = UI_URL) -> str:
    """`shown` is what `annapurna show --json` prints: the paper's index document, sections named by stage."""
    key = shown["paper_key"]
    meta = shown["metadata"] or {}
    lines = [meta.get("title") or key, "=" * min(WIDTH, len(meta.get("title") or key))]
    lines += _fields(
        {
            "key": key,
            "authors": ", ".join(meta.get("authors") or []) or "-",
            "venue": f"{meta.get('venue', '')} {meta.get('year') or ''}".strip() or "-",
            "link": meta.get("forum_url") or meta.get("proceedings_url") or meta.get("pdf_url") or "-",
            "listing": meta.get("listing") or "-",
            "in the UI": f"{ui_url}/assets/verdict?view=partitions&partition={key}",
        }
    )
    sections = [("Verdict", _verdict(shown["verdict"]))]
    if (shown["verdict"] or {}).get("decision") in ("accept", None):  # a rejected paper's story ends at its verdict
        sections += [
            ("PDF", _pdf(shown["pdf"])),
            ("What the code generator reads", _pages(shown["pages"])),
            ("Code", _code(shown["code"], blob_store)),
            ("Run", _run(shown["run"], blob_store)),
            ("Profile", _profile(shown["profile"], blob_store)),
        ]
    sections += [("Costs", _costs(shown["costs"])), ("Materializations", _materializations(shown["materializations"]))]
    for title, section in sections:
        lines += ["", title, "-" * len(title), *section]
    return "\n".join(lines)


def _fields(values: dict) -> list[str]:
    width = max(map(len, values))
    return [f"{name.ljust(width)}  {value}" for name, value in values.items()]


def _indent(text: str) -> list[str]:
    return ["  " + line for line in text.splitlines()]


def _verdict(verdict: dict | None) -> list[str]:
    if not verdict:
        return ["not judged yet"]
    if verdict.get("error"):
        return [f"the judge could not decide: {verdict['error']}"]
    head = (
        f"{verdict['decision']} (relevance {verdict['relevance']:.2f}, novelty {verdict['novelty']:.2f}) "
        f"by {verdict.get('judge', '?')}"
    )
    lines = [head, *[textwrap.fill(f"- {r}", WIDTH, subsequent_indent="  ") for r in verdict.get("reasons", [])]]
    neighbours = [
        {"similarity": n["similarity"], "nearest paper": n["title"][:70]} for n in verdict.get("neighbours", [])
    ]
    if neighbours:
        lines += ["", *_indent(format_table(neighbours))]
    if verdict["decision"] != "accept":
        lines += ["", "Rejected: the lifecycle ends here (nothing is downloaded)."]
    return lines


def _pdf(pdf: dict | None) -> list[str]:
    if not pdf:
        return ["-"]
    if not pdf.get("readable"):
        return [f"not readable: {pdf.get('problem')}"]
    return [f"{pdf['page_count']} pages, {pdf['size'] / 1e6:.1f} MB, readable"]


def _pages(pages: dict | None) -> list[str]:
    if not pages:
        return ["-"]
    if "sections" not in pages:
        return [f"pages {', '.join(map(str, pages['pages']))} (chosen before sections were: select again)"]
    sections = pages["sections"]
    read = [s for s in sections if s["kept"]]
    lines = [
        f"{len(read)} of {len(sections)} sections, {pages['tokens_kept']:,} of {pages['tokens_total']:,} tokens "
        f"(budget {pages['budget_tokens']:,}), by the {pages['method']}",
        "read: " + "; ".join(s["title"] for s in read),
    ]
    dropped = [s for s in sections if not s["kept"] and s["tokens"]]
    if dropped:
        lines.append("dropped: " + "; ".join(f"{s['title']} ({s['reason']})" for s in dropped))
    return lines


def _code(code: dict | None, blob_store) -> list[str]:
    if not code:
        return ["-"]
    contract = (
        "meets the contract"
        if code.get("contract_ok")
        else "fails the contract: " + "; ".join(code.get("contract_problems") or [])
    )
    lines = [
        f"{code.get('lines')} lines by {code.get('generator')} ({code.get('family', '-')}, "
        f"data: {code.get('dataset')}), {contract}",
        f"open: {blob_store.browser_url(code['ref'], '.py')}",
    ]
    rows = [
        {
            "hyperparameter": h["name"],
            "in paper": h.get("paper_value"),
            "used": h.get("used_value"),
            "where": h.get("section") or h.get("page"),
        }
        for h in code.get("hyperparameters_from_paper", [])
    ]
    return lines + (["", *_indent(format_table(rows))] if rows else [])


def _run(run: dict | None, blob_store) -> list[str]:
    if not run:
        return ["not run yet"]
    final = run.get("final", {})
    loss = final.get("final_loss")
    lines = [
        f"{run['status']} on {run.get('device')} ({run.get('host')}) in {run.get('seconds', 0):.1f} s"
        + (f", final_loss {loss:.4g}" if isinstance(loss, int | float) else "")
        + (f": {run['reason']}" if run.get("reason") else "")
    ]
    if run.get("loss_curve_ref"):
        lines.append(f"loss curve: {blob_store.browser_url(run['loss_curve_ref'], '.png')}")
    numbers = [{"metric": k, "final value": v} for k, v in final.items() if not isinstance(v, dict | list)]
    return lines + (["", *_indent(format_table(numbers))] if numbers else [])


def _profile(profile: dict | None, blob_store) -> list[str]:
    if not profile:
        return ["-"]
    trace = blob_store.browser_url(profile["trace_ref"], ".json")
    rows = [
        {"operator": op["name"][:50], "calls": op["calls"], "self CPU ms": op["self_cpu_ms"]}
        for op in profile.get("top_operators", [])[:8]
    ]
    return [f"trace: {trace}", f"open in Perfetto: {perfetto_url(trace)}", "", *_indent(format_table(rows))]


def _costs(costs: dict) -> list[str]:
    rows = [{"stage": stage, **values} for stage, values in costs.items() if values]
    return _indent(format_table(rows)) if rows else ["-"]


def _materializations(history: dict) -> list[str]:
    rows = [
        {"asset": asset, "times": len(records), "last run": records[0]["run_id"][:8] if records else "-"}
        for asset, records in history.items()
    ]
    return _indent(format_table(rows))
