"""Stage counts and cost totals: the SQLite query and the document scan (other index backends) agree."""

from annapurna_assets.lifecycle.sections import COUNTED_SECTIONS
from annapurna_resources import SqlitePaperIndex
from annapurna_resources.storage.paper_counts import (
    cost_totals,
    cost_totals_from_documents,
    stage_counts,
    stage_counts_from_documents,
)


def test_costs_and_counts_agree_between_the_query_and_the_document_scan(tmp_path):
    index = SqlitePaperIndex(path=str(tmp_path / "index.sqlite"))

    def verdict(decision, usd, tokens_in, tokens_out):
        return {"decision": decision, "cost_usd": usd, "input_tokens": tokens_in, "output_tokens": tokens_out}

    index.register_many([("a", {})])
    index.update(
        "a",
        verdict=verdict("accept", 0.007, 1400, 200),
        code={"contract_ok": True, "cost_usd": 0.21, "input_tokens": 30000, "output_tokens": 8000},
        run={"ok": True, "instance_hours": 0.05, "cost_usd": 0.0672},
    )
    index.update("b", metadata={"title": "B"}, verdict=verdict("reject", 0.006, 1300, 150))
    index.update("c", verdict=verdict("accept", 0.008, 1500, 250), code={"contract_ok": True, "cost_usd": 0.3})
    index.register_many([("d", {})])

    costs = cost_totals(tmp_path / "index.sqlite")
    assert costs == cost_totals_from_documents(index.all_documents().values())
    assert costs["judge"] == {"papers": 3, "input_tokens": 4200, "output_tokens": 600, "cost_usd": 0.021}
    assert costs["code"] == {"papers": 2, "input_tokens": 30000, "output_tokens": 8000, "cost_usd": 0.51}
    assert costs["run"] == {"papers": 1, "instance_hours": 0.05, "cost_usd": 0.0672}
    assert costs["total_usd"] == round(0.021 + 0.51 + 0.0672, 6)
    assert costs["usd_per_100_papers"] == round(100 * costs["total_usd"] / 3, 4)

    counts = stage_counts(tmp_path / "index.sqlite", COUNTED_SECTIONS)
    assert counts == stage_counts_from_documents(index.all_documents().values(), COUNTED_SECTIONS)
    assert counts["discovered"] == 4 and counts["accepted"] == 2 and counts["rejected"] == 1
    assert counts["pending_execution"] == 1 and counts["executed_ok"] == 1


def test_an_absent_index_costs_nothing(tmp_path):
    costs = cost_totals(tmp_path / "missing.sqlite")
    assert costs["total_usd"] == 0.0 and costs["judge"]["papers"] == 0
