"""Running generated code on the trn1 launcher: per-paper results and profiles, one batch per run.

A batch of papers runs in ONE Dagster run of `trn1_batch_job` (the paper keys are in its run config),
which reports each paper's `trn_run_result` and `trn_profile` materializations and check results
itself: backfill policies would only group adjacent partitions, and Pipes materializations carry no
partition. Materializing the assets for a single paper from the UI runs a batch of one.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg
from pydantic import Field

from annapurna_assets.execution.loss_curve import loss_curve_png
from annapurna_assets.lifecycle.runs import EXECUTION_JOB, EXECUTION_KIND, EXECUTION_OP, KIND_TAG, TRN1_POOL
from annapurna_assets.lifecycle.stage import CheckOutcome, StageOutcome, stage_events
from annapurna_assets.lifecycle.stages import EXECUTION_ASSETS, PAPER_CHAIN
from annapurna_assets.papers.assets import paper_document
from annapurna_assets.papers.partitions import accepted_papers_partitions
from annapurna_resources import BlobStore, Notifier, PaperIndex, Trn1Launcher
from annapurna_resources.launcher.trn1_launcher import ScriptResult
from annapurna_resources.storage.blob_server import perfetto_url
from annapurna_resources.storage.paper_document import PaperDocument, ProfileSection, RunSection

RUN_RESULT, PROFILE = (dg.AssetKey(asset) for asset in EXECUTION_ASSETS)
RUN_CHECK = "run_succeeded"


@dataclass
class PaperExecution:
    paper_key: str
    run_metadata: dict
    profile_metadata: dict | None
    check_passed: bool
    check_description: str


def run_succeeded(result: ScriptResult) -> tuple[bool, str]:
    loss = result.final.get("final_loss")
    if not result.ok:
        return False, f"{result.status}: {result.reason}"
    if not isinstance(loss, int | float) or not math.isfinite(loss):
        return False, f"final_loss is not finite: {loss!r}"
    return True, f"ok, final_loss {loss:.4g}"


def execute_papers(
    context,
    paper_keys: list[str],
    launcher: Trn1Launcher,
    paper_index: PaperIndex,
    blob_store: BlobStore,
    notifier: Notifier,
    smoke: bool = False,
) -> list[PaperExecution]:
    """Run the papers' generated code as one batch, store traces, update the index; one record per paper."""
    docs = {key: paper_document(paper_index, key, "code") for key in paper_keys}
    scripts = {key: blob_store.get(doc["code"]["ref"]).decode() for key, doc in docs.items()}
    for key in paper_keys:
        notifier.paper_event(context.log, key, f"batch of {len(paper_keys)} starts on {launcher.device_description}")
    results = launcher.run_batch(context, scripts, smoke=smoke)
    instance_hours = sum(r.instance_hours for r in results)
    if instance_hours:
        usd = sum(r.usd for r in results)
        context.log.info(f"batch of {len(results)}: {instance_hours:.4f} instance-hours, ${usd:.4f} (split by paper)")
    executions = []
    for result in results:
        execution = _record(result, docs[result.paper_key], paper_index, blob_store, launcher, context.run_id)
        executions.append(execution)
        notifier.paper_event(context.log, result.paper_key, _run_ended_message(execution))
    return executions


def _run_ended_message(execution: "PaperExecution") -> str:
    metadata = execution.run_metadata
    figures = [
        f"{name} {metadata[name]:.4g}" for name in ("final_loss", "steps_per_sec", "wall_seconds") if name in metadata
    ]
    message = f"run ended: {execution.check_description}" + (f" ({', '.join(figures)})" if figures else "")
    if execution.profile_metadata:
        message += f"; trace: {execution.profile_metadata['trace'].value}"
    return message


def _record(result: ScriptResult, doc: PaperDocument, paper_index, blob_store, launcher, run_id) -> PaperExecution:
    passed, description = run_succeeded(result)
    final = result.final
    device = final.get("device", "unknown")
    run_section = RunSection(
        status=result.status,
        ok=passed,
        reason=result.reason,
        exit_code=result.exit_code,
        seconds=result.seconds,
        device=device,
        host=launcher.device_description,
        final=final,
        metrics=result.metrics,
        stdout_tail=result.stdout_tail,
        stderr_tail=result.stderr_tail,
        code_ref=doc["code"]["ref"],
        run_id=run_id,
    )
    loss_curve = loss_curve_png(result.metrics, f"{result.paper_key}: loss")
    if loss_curve:
        run_section["loss_curve_ref"] = blob_store.put(loss_curve)
    if result.instance_hours:
        run_section["instance_hours"] = result.instance_hours
        run_section["cost_usd"] = result.usd
    profile_section = None
    profile_metadata = None
    if result.trace:
        trace_ref = blob_store.put(result.trace)
        summary = result.profile_summary
        top = summary.get("top_operators", [])
        split = summary.get("time_split", {})
        profile_section = ProfileSection(
            trace_ref=trace_ref,
            top_operators=top,
            profiled_optimizer_steps=summary.get("profiled_optimizer_steps", 0),
            time_split=split,
        )
        rows = "\n".join(
            f"| {op['name'][:60]} | {op['calls']} | {op['self_cpu_ms']:.2f} | {op['cpu_total_ms']:.2f} | "
            f"{op['self_device_ms']:.2f} |"
            for op in top[:15]
        )
        trace_url = blob_store.browser_url(trace_ref, ".json")
        profile_metadata = {
            "open_in_perfetto": dg.MetadataValue.url(perfetto_url(trace_url)),
            "trace": dg.MetadataValue.url(trace_url),
            "trace_blob": trace_ref,
            "profiled_optimizer_steps": str(summary.get("profiled_optimizer_steps", 0)),
            "top_operators": dg.MetadataValue.md(
                "| operator | calls | self CPU ms | total CPU ms | self device ms |\n|---|---|---|---|---|\n" + rows
            ),
            "code_blob": doc["code"]["ref"],
        }
        profile_metadata.update(_time_split_metadata(split))
    paper_index.update(result.paper_key, run=run_section, **({"profile": profile_section} if profile_section else {}))

    # Only numbers comparable across papers are numeric metadata (Dagster plots those as one series across
    # partitions); a paper's own figures (its loss, its steps per second) go into tables.
    run_metadata = {
        "status": result.status,
        "exit_code": str(result.exit_code),
        "wall_seconds": result.seconds,
        "device": device,
        "host": launcher.device_description,
        "reason": result.reason or "none",
        "final_metrics": dg.MetadataValue.md(_final_metrics_table(final)),
        "metrics_lines": str(len(result.metrics)),
        "code": dg.MetadataValue.url(blob_store.browser_url(doc["code"]["ref"], ".py")),
        "code_blob": doc["code"]["ref"],
        "stdout_tail": dg.MetadataValue.md(f"```\n{result.stdout_tail[-1500:]}\n```"),
        "stderr_tail": dg.MetadataValue.md(f"```\n{result.stderr_tail[-1500:]}\n```"),
    }
    if loss_curve:
        curve_url = blob_store.browser_url(run_section["loss_curve_ref"], ".png")
        run_metadata["loss_curve"] = dg.MetadataValue.md(f"![loss curve of {result.paper_key}]({curve_url})")
        run_metadata["loss_curve_png"] = dg.MetadataValue.url(curve_url)
    if result.instance_hours:
        run_metadata["instance_hours"] = round(result.instance_hours, 6)
        run_metadata["cost_usd"] = round(result.usd, 6)
    if result.sandbox:
        run_metadata["sandbox"] = result.sandbox
    return PaperExecution(result.paper_key, run_metadata, profile_metadata, passed, description)


def _final_metrics_table(final: dict) -> str:
    rows = [
        f"| {name} | {value:.6g} |" if isinstance(value, float) else f"| {name} | {value} |"
        for name, value in final.items()
        if not isinstance(value, dict | list)
    ]
    return "| metric | final value |\n|---|---|\n" + "\n".join(rows) if rows else "_no METRICS line_"


def _time_split_metadata(split: dict) -> dict:
    """Compute, data loading and idle time of the profiled steps, as a table."""
    parts = [name for name in ("compute_ms", "data_loading_ms", "idle_ms", "device_busy_ms") if name in split]
    wall = split.get("wall_ms") or 0.0
    if not parts or not wall:
        return {}
    rows = "\n".join(
        f"| {name.removesuffix('_ms').replace('_', ' ')} | {split[name]:.1f} | {split[name] / wall:.0%} |"
        for name in parts
    )
    return {
        "time_split": dg.MetadataValue.md(
            f"Profiled steps: {wall:.1f} ms wall\n\n| part | ms | share |\n|---|---|---|\n{rows}"
        ),
    }


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            RUN_RESULT,
            deps=["generated_code"],
            partitions_def=accepted_papers_partitions,
            group_name="execute",
            kinds={"pytorch"},
            description="Status, exit code, wall time, device, final METRICS and the loss curve of the run.",
        ),
        dg.AssetSpec(
            PROFILE,
            deps=["generated_code"],
            partitions_def=accepted_papers_partitions,
            group_name="execute",
            skippable=True,
            kinds={"pytorch"},
            description="torch.profiler trace (Perfetto/Chrome JSON, opens in Perfetto) and the top operators.",
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            RUN_CHECK,
            asset=RUN_RESULT,
            partitions_def=accepted_papers_partitions,
            description="Exited 0 with a finite final loss.",
        )
    ],
    partitions_def=accepted_papers_partitions,
    pool=TRN1_POOL,
)
def trn_run(
    context: dg.AssetExecutionContext,
    launcher: Trn1Launcher,
    paper_index: PaperIndex,
    blob_store: BlobStore,
    notifier: Notifier,
):
    """One paper's generated code, run as a batch of one (the sensor batches ten through trn1_batch_job)."""
    executions = execute_papers(context, [context.partition_key], launcher, paper_index, blob_store, notifier)
    yield from execution_events(context, executions, in_asset=True)


class Trn1BatchConfig(dg.Config):
    paper_keys: list[str] = Field(description="The accepted papers whose generated code runs as this one batch.")
    smoke: bool = Field(default=False, description="Run each script in smoke mode (ANNAPURNA_SMOKE=1: seconds, tiny).")


@dg.op(name=EXECUTION_OP, pool=TRN1_POOL, out={})
def run_trn1_batch(
    context: dg.OpExecutionContext,
    config: Trn1BatchConfig,
    launcher: Trn1Launcher,
    paper_index: PaperIndex,
    blob_store: BlobStore,
    notifier: Notifier,
) -> Iterator:
    """Runs the configured papers as one batch and reports each paper's materializations and check."""
    executions = execute_papers(context, config.paper_keys, launcher, paper_index, blob_store, notifier, config.smoke)
    yield from execution_events(context, executions, in_asset=False)


def execution_events(context, executions: list[PaperExecution], in_asset: bool) -> Iterator:
    """Each paper's run result with its check, then the profiles (a run that crashed early has none)."""
    run_results = {
        e.paper_key: StageOutcome(
            e.run_metadata, [CheckOutcome(RUN_CHECK, e.check_passed, e.check_description, blocking=False)]
        )
        for e in executions
    }
    yield from stage_events(context, PAPER_CHAIN, RUN_RESULT, run_results, in_asset)
    profiles = {e.paper_key: StageOutcome(e.profile_metadata) for e in executions if e.profile_metadata}
    yield from stage_events(context, PAPER_CHAIN, PROFILE, profiles, in_asset)


@dg.job(
    name=EXECUTION_JOB,
    tags={KIND_TAG: EXECUTION_KIND, "dagster/max_retries": "0"},
    executor_def=dg.in_process_executor,
)
def trn1_batch_job():
    """One batch of accepted papers' generated code on the trn1 launcher: launched by trn1_batch_sensor with the paper
    keys in its run config; reports each paper's trn_run_result, trn_profile and run_succeeded."""
    run_trn1_batch()
