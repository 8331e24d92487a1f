"""The `annapurna` command: demo, status, show, search, doctor, ui, pages, judge-eval, run-scripts."""

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

from annapurna_assets.settings import DEMO_CORPUS, PROJECT_ROOT, configure_pools, ensure_dagster_home
from annapurna_resources.storage.home import annapurna_home


def _quiet_dagster() -> None:
    import dagster as dg

    for category in (dg.PreviewWarning, dg.BetaWarning):
        warnings.filterwarnings("ignore", category=category)


def _instance():
    """The Dagster instance under ANNAPURNA_HOME, without loading the definitions (fast commands use this)."""
    ensure_dagster_home()
    import dagster as dg

    _quiet_dagster()
    instance = dg.DagsterInstance.get()
    gc.freeze()  # Dagster's large module graph lives until exit: not scanning it there saves ~0.4 s per command
    return instance


def _paper_index():
    from annapurna_assets.deployment import build_resource

    return build_resource("paper_index")


def _blob_store():
    from annapurna_assets.deployment import build_resource

    return build_resource("blob_store")


def _instance_and_defs(settings: dict | None = None):
    instance = _instance()
    configure_pools(instance)
    from annapurna_assets.definitions import build_definitions
    from annapurna_assets.deployment import build_resources
    from annapurna_assets.judge.assets import adopt_earlier_verdicts

    defs = build_definitions(build_resources(settings))
    adopt_earlier_verdicts(instance, defs.resources["paper_index"])
    return instance, defs


def cmd_demo(args) -> int:
    papers_dir = Path(args.papers or DEMO_CORPUS).resolve()
    if not papers_dir.is_dir():
        print(f"no such folder: {papers_dir}", file=sys.stderr)
        return 2
    from annapurna_assets.deployment import load_settings

    settings = load_settings()
    settings["paper_folder"] = {**(settings.get("paper_folder") or {}), "folder": str(papers_dir)}
    instance, defs = _instance_and_defs(settings)
    from annapurna_assets.cli.demo import format_table, run_demo, summary_rows
    from annapurna_assets.lifecycle.progress import stage_counts

    print(f"Annapurna demo on {papers_dir} (state in {annapurna_home()})", file=sys.stderr)
    outcome = run_demo(defs, instance)
    index = defs.resources["paper_index"]
    keys = outcome["folder_papers"]
    print()
    print(format_table(summary_rows(index, keys)))
    print()
    counts = stage_counts(instance, index)
    print("stages: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    print(f"wall time: {outcome['seconds']} s")
    print(
        "Look at it in the UI: `annapurna ui`, then open http://127.0.0.1:3000/assets/verdict?view=partitions and "
        f"type a title word; `annapurna show {keys[0] if keys else 'PAPER_KEY'}` for one paper in the terminal."
    )
    return 0


def cmd_status(args) -> int:
    from annapurna_assets.deployment import kind_of, load_settings
    from annapurna_assets.lifecycle.sections import COUNTED_SECTIONS
    from annapurna_resources.storage import paper_counts

    index_file = annapurna_home() / "index.sqlite"
    if (
        kind_of("paper_index", load_settings()) == "sqlite"
    ):  # counted in one query on the file, without Dagster's instance
        counts, costs = paper_counts.status_counts(index_file, COUNTED_SECTIONS)
    else:
        docs = list(_paper_index().all_documents().values())
        counts = paper_counts.stage_counts_from_documents(docs, COUNTED_SECTIONS)
        costs = paper_counts.cost_totals_from_documents(docs)
    if args.dagster:
        from annapurna_assets.lifecycle.progress import stage_counts

        counts = stage_counts(_instance(), _paper_index())
    if args.json:
        print(json.dumps({**counts, "costs": costs}))
        return 0
    width = max(map(len, counts))
    for stage, count in counts.items():
        print(f"{stage.ljust(width)}  {count}")
    print()
    print(f"{'cost':<6} {'papers':>7} {'tokens in':>10} {'tokens out':>10} {'instance h':>10} {'USD':>10}")
    for stage in paper_counts.COST_STAGES:
        row = costs[stage]
        print(
            f"{stage:<6} {row['papers']:>7} {row.get('input_tokens', 0):>10} {row.get('output_tokens', 0):>10} "
            f"{row.get('instance_hours', 0.0):>10.3f} {row['cost_usd']:>10.4f}"
        )
    print(f"total ${costs['total_usd']:.4f}, ${costs['usd_per_100_papers']:.4f} per 100 judged papers")
    return 0


def cmd_show(args) -> int:
    instance = _instance()
    import dagster as dg

    from annapurna_assets.lifecycle.stages import PAPER_CHAIN
    from annapurna_resources.storage.paper_counts import COST_STAGES

    doc = _paper_index().get(args.paper_key)
    if doc is None:
        print(f"no paper {args.paper_key!r} (see `annapurna status` or `annapurna search`)", file=sys.stderr)
        return 1
    blob_store = _blob_store()
    history = {}
    for asset in PAPER_CHAIN:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[args.paper_key]), limit=20
        ).records
        history[asset] = [{"run_id": r.run_id, "timestamp": r.timestamp, "storage_id": r.storage_id} for r in records]
    shown = {
        "paper_key": args.paper_key,
        "metadata": doc.get("metadata", doc.get("source", {}).get("paper")),
        "versions": doc.get("source", {}).get("versions", []),
        "pdf": doc.get("pdf"),
        "verdict": doc.get("verdict"),
        "pages": doc.get("pages"),
        "code": {**doc["code"], "path": blob_store.location(doc["code"]["ref"])} if "code" in doc else None,
        "run": {k: v for k, v in doc["run"].items() if k != "metrics"} if "run" in doc else None,
        "profile": (
            {**doc["profile"], "trace_path": blob_store.location(doc["profile"]["trace_ref"])}
            if "profile" in doc
            else None
        ),
        "costs": {
            stage: {k: v for k, v in doc[section].items() if k in fields}
            for stage, (section, fields) in COST_STAGES.items()
            if isinstance(doc.get(section), dict)
        },
        "materializations": history,
    }
    if args.json:
        print(json.dumps(shown, indent=2, default=str))
        return 0
    from annapurna_assets.cli.paper_report import paper_report

    print(paper_report(shown, blob_store))
    return 0


def cmd_config(args) -> int:
    """The deployment as configured: profile, settings file, each resource's kind; `--table`: every setting."""
    from annapurna_assets.deployment import (
        KINDS,
        build_resources,
        defaults_table,
        kind_of,
        load_settings,
        profile_of,
        settings_path,
    )

    if args.table:
        print(defaults_table())
        return 0
    settings = load_settings()
    build_resources(settings)  # every setting checked, so a misspelt one is named here
    path = settings_path()
    print(f"profile  {profile_of(settings)}")
    print(f"settings {path}" + ("" if path.is_file() else " (none: every setting at its default)"))
    for resource in KINDS:
        print(f"  {resource:<15} {kind_of(resource, settings)}")
    return 0


def cmd_doctor(args) -> int:
    """Exit 1 when anything needs action."""
    from annapurna_assets.cli.doctor import diagnose
    from annapurna_assets.deployment import build_resources

    findings = diagnose(_instance(), build_resources())
    for finding in findings:
        print(finding.line())
    problems = sum(not f.ok for f in findings)
    print(f"\n{problems} problem(s)" if problems else "\nall well")
    return 1 if problems else 0


def cmd_search(args) -> int:
    ensure_dagster_home()
    hits = _paper_index().search(args.query, limit=args.limit)
    if args.json:
        print(json.dumps([h.__dict__ for h in hits], indent=2))
    elif not hits:
        print("no matches")
    for hit in hits if not args.json else []:
        print(f"{hit.key}  {hit.title[:70]}\n    {hit.snippet}")
    return 0


def cmd_ui(args) -> int:
    home = ensure_dagster_home()
    instance = _instance()
    limits = configure_pools(instance)
    from annapurna_assets.judge.assets import adopt_earlier_verdicts

    adopt_earlier_verdicts(instance, _paper_index())
    print(f"concurrency pools: {', '.join(f'{pool}={limit}' for pool, limit in limits.items())}", file=sys.stderr)
    print(f"Dagster UI on http://{args.host}:{args.port} (DAGSTER_HOME={home})", file=sys.stderr)
    _serve_blobs_for_browser()
    dagster = Path(sys.executable).with_name("dagster")  # the one beside this interpreter, venv active or not
    command = [str(dagster), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", args.host, "-p", str(args.port)]
    return subprocess.call(command, cwd=PROJECT_ROOT, env={**os.environ, "DAGSTER_HOME": str(home)})


def _serve_blobs_for_browser() -> None:
    """Code, loss curves and traces that the UI's metadata links to (S3 blobs have presigned links instead)."""
    from urllib.parse import urlsplit

    from annapurna_resources.storage.blob_server import serve_blobs

    blob_store = _blob_store()
    base_url = getattr(blob_store, "browser_base_url", "")
    if not base_url:
        return
    address = urlsplit(base_url)
    try:
        serve_blobs(blob_store, address.hostname or "127.0.0.1", address.port or 80)
    except OSError as error:
        print(
            f"blobs are not served on {base_url} ({error}): code, loss curve and trace links will not open",
            file=sys.stderr,
        )
        return
    print(f"blobs (code, loss curves, traces) served read-only on {base_url}/blobs/", file=sys.stderr)


def _topic_argument(text: str):
    from annapurna_assets.judge.evaluation import parse_topic

    try:
        return parse_topic(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _judge_factory(kind: str, embedder, prompt_file: str | None = None):
    """profile text -> judge of that kind; the Claude judge is the deployment's `judge` settings with kind claude,
    the profile as its research interests and `prompt_file` as its prompt template when given."""
    from annapurna_resources.llm.judge import OfflineJudge

    if kind == "offline":
        if prompt_file:
            raise SystemExit("judge-eval: --prompt/--compare-prompt apply to the claude judge (offline has no prompt)")
        return lambda profile: OfflineJudge(embedder=embedder, research_interests=profile)

    def claude_judge(profile: str):
        import dagster as dg

        from annapurna_assets.deployment import build_resource, load_settings

        settings = load_settings()
        try:
            template = {"prompt_template": Path(prompt_file).expanduser().read_text()} if prompt_file else {}
            judge_settings = {**(settings.get("judge") or {}), "kind": "claude", "research_interests": profile}
            judge = build_resource("judge", {**settings, "judge": {**judge_settings, **template}})
            return judge.process_config_and_initialize()  # resolves its EnvVars (the API key) outside a run
        except dg.DagsterInvalidConfigError as error:
            reason = str(error).split("Stack Trace")[0].strip()  # Dagster appends the whole stack to its message
            raise SystemExit(f"judge-eval: cannot set up the Claude judge: {reason}") from error
        except (OSError, ValueError) as error:  # an unreadable prompt file or a template with unknown placeholders
            raise SystemExit(f"judge-eval: cannot set up the Claude judge: {error}") from error

    return claude_judge


def _non_negative(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of decisions (0 or more)")
    return int(text)


def _profile_argument(text: str):
    from annapurna_assets.judge.evaluation import parse_profile

    try:
        return parse_profile(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def cmd_judge_eval(args) -> int:
    from annapurna_assets.judge.evaluation import evaluate, format_table, paper_text, sample_indices, with_profiles
    from annapurna_resources.llm.embeddings import MiniLMEmbedder
    from annapurna_resources.sources.listing_files import ListingFileUnavailable, read_listing_file

    started = time.perf_counter()
    papers = []
    for listing in args.listing:
        path = Path(listing)
        if not path.is_file():
            print(f"no such listing file: {path}", file=sys.stderr)
            return 2
        try:
            papers.extend(read_listing_file(path, venue=path.parent.name, year=None))
        except ListingFileUnavailable as error:
            print(error, file=sys.stderr)
            return 2
    chosen = sample_indices(len(papers), args.sample, args.seed)
    papers = [papers[i] for i in chosen]
    try:
        topics = with_profiles(args.topic, args.profile or [])
    except ValueError as error:
        print(f"judge-eval: {error}", file=sys.stderr)
        return 2
    embedder = MiniLMEmbedder()
    make_judge = _judge_factory(args.judge, embedder, args.prompt)
    compare_judge = args.compare_judge or (args.judge if args.compare_prompt else None)
    compare_make_judge = _judge_factory(compare_judge, embedder, args.compare_prompt) if compare_judge else None
    for factory in (make_judge, compare_make_judge):
        if factory is not None:
            factory(topics[0].profile())  # fail now, not after embedding every paper
    paper_vectors = embedder.embed([paper_text(paper) for paper in papers])
    results = evaluate(
        papers,
        topics,
        make_judge,
        compare_make_judge=compare_make_judge,
        paper_vectors=paper_vectors,
        feedback=args.feedback,
    )
    comparing = compare_make_judge is not None
    if args.json:
        for result in results:
            print(json.dumps(result.to_dict(comparing)))
        return 0
    judges = _judge_label(args.judge, args.prompt)
    if comparing:
        judges += f" vs {_judge_label(compare_judge, args.compare_prompt)}"
    print(f"judge {judges} on {len(papers)} papers from {len(args.listing)} listing file(s)")
    print(format_table(results, comparing))
    print(f"wall time: {time.perf_counter() - started:.1f} s")
    return 0


def cmd_pages(args) -> int:
    _quiet_dagster()
    from annapurna_assets.codegen.assets import classify_and_select, page_ranges, read_sections
    from annapurna_assets.deployment import build_resource
    from annapurna_assets.papers.pdf_text import inspect_pdf
    from annapurna_assets.papers.structure import read_structure

    path = Path(args.pdf)
    if not path.is_file():
        print(f"no such file: {path}", file=sys.stderr)
        return 2
    data = path.read_bytes()
    inspection = inspect_pdf(data)
    if not inspection.readable:
        print(f"{path}: {inspection.problem}", file=sys.stderr)
        return 2
    settings = build_resource("lifecycle")
    if args.budget:
        settings = settings.model_copy(update={"read_budget_tokens": args.budget})
    paper = read_structure(data)
    selection, classifier = classify_and_select(paper, settings)
    if args.json:
        print(
            json.dumps(
                {
                    "pages": selection.pages,
                    "kept": {str(page): fraction for page, fraction in selection.kept_by_page().items()},
                    "sections": read_sections(selection),
                    "tokens_kept": selection.tokens_kept,
                    "tokens_total": selection.tokens_total,
                }
            )
        )
        return 0
    print(
        f"{path.name}: {len(selection.kept)} of {len(selection.choices)} sections, {selection.tokens_kept:,} of "
        f"{selection.tokens_total:,} tokens ({selection.token_fraction:.0%}; budget {selection.budget_tokens:,}), "
        f"headings from the {paper.outline}"
    )
    for choice in selection.choices:
        score = "    " if choice.score is None else f"{choice.score:.2f}"
        mark = "read   " if choice.kept else "dropped"
        why = f"  ({choice.reason})" if choice.reason else ""
        indent = "  " * max(0, choice.section.level - 1)
        pages = page_ranges(choice.section.pages)
        print(f"  {mark} {score} {choice.tokens:6,d} tok  p. {pages:9s} {indent}{choice.section.heading}{why}")
    print(f"model: {classifier.info.get('trained', 'bundled')}")
    return 0


def run_scripts(scripts: dict[str, str], mode: str | None = None, timeout_s: float = 120.0, **launcher_fields) -> list:
    """Run `scripts` (name -> source) as one batch through the pipeline's launcher (configured as the pipeline's,
    from the deployment settings, with `mode` and `timeout_s`) and runner, in a one-op job."""
    _quiet_dagster()
    from annapurna_assets.deployment import build_resource
    from annapurna_resources.launcher.trn1_launcher import run_batch_in_job

    launcher = build_resource("launcher")
    limits = launcher.limits.model_copy(update={"timeout_s": timeout_s})
    overrides = {"limits": limits, **launcher_fields, **({"mode": mode} if mode else {})}
    launcher = launcher.model_copy(update=overrides)
    return run_batch_in_job(launcher, scripts, log_level="ERROR")


def cmd_run_scripts(args) -> int:
    folder = Path(args.dir)
    paths = sorted(folder.glob("*.py")) if folder.is_dir() else []
    if not paths:
        print(f"no *.py scripts in {folder}", file=sys.stderr)
        return 2
    results = run_scripts({p.stem: p.read_text() for p in paths}, args.mode, args.timeout)
    rows = [
        {
            "script": f"{r.paper_key}.py",
            "status": r.status,
            "exit_code": r.exit_code,
            "seconds": r.seconds,
            "reason": r.reason,
            "metrics": r.metrics,
            "sandbox": r.sandbox,
        }
        for r in results
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row, result in zip(rows, results):
            print(
                f"{row['script']}: {row['status']} in {row['seconds']:.1f} s (exit {row['exit_code']}) {row['reason']}"
            )
            last_error = result.stderr_tail.strip().splitlines()[-1:] if not result.ok else []
            if last_error:
                print(f"    {last_error[0][:200]}")
        if rows:
            print(f"sandbox: {rows[0]['sandbox']}")
    return 0 if all(r.ok for r in results) else 1


def _judge_label(kind: str, prompt_file: str | None) -> str:
    return f"{kind} (prompt {Path(prompt_file).name})" if prompt_file else kind


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="annapurna", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the whole lifecycle headless on the demo corpus (or DIR)")
    demo.add_argument("--papers", metavar="DIR", help="folder of PDFs (default: the bundled demo corpus)")
    demo.set_defaults(func=cmd_demo)

    status = commands.add_parser("status", help="papers per stage")
    status.add_argument("--json", action="store_true")
    status.add_argument(
        "--dagster", action="store_true", help="count from Dagster's materialization records instead of the index"
    )
    status.set_defaults(func=cmd_status)

    show = commands.add_parser("show", help="everything about one paper")
    show.add_argument("paper_key")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show)

    search = commands.add_parser("search", help="full-text search over the paper index")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=10)
    search.add_argument("--json", action="store_true")
    search.set_defaults(func=cmd_search)

    doctor = commands.add_parser(
        "doctor", help="check the installation: instance, stuck runs, waiting papers, left-over batches, backends"
    )
    doctor.set_defaults(func=cmd_doctor)

    config = commands.add_parser(
        "config", help="the deployment profile, the settings file and each resource's kind (--table: every setting)"
    )
    config.add_argument("--table", action="store_true", help="every setting with its default, as a Markdown table")
    config.set_defaults(func=cmd_config)

    ui = commands.add_parser("ui", help="start the Dagster UI (dagster dev) on this project")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)

    pages = commands.add_parser(
        "pages", help="the sections of a PDF the code generator would read, with their scores (and the pages kept)"
    )
    pages.add_argument("pdf", metavar="PDF")
    pages.add_argument("--budget", type=int, metavar="TOKENS", help="reading budget (default: the pipeline's)")
    pages.add_argument("--json", action="store_true")
    pages.set_defaults(func=cmd_pages)

    judge_eval = commands.add_parser(
        "judge-eval", help="rank a labelled listing with a judge: ROC AUC and precision@k per topic"
    )
    judge_eval.add_argument("--listing", action="append", required=True, metavar="FILE", help="listing CSV/TSV")
    judge_eval.add_argument(
        "--topic",
        action="append",
        required=True,
        type=_topic_argument,
        metavar="NAME=KW1;KW2",
        help="a paper is relevant when one of its author keywords is one of KW1;KW2 (case-insensitive)",
    )
    judge_eval.add_argument(
        "--profile",
        action="append",
        type=_profile_argument,
        metavar="NAME=TEXT",
        help="what the judge is told for topic NAME: the team's interests in words (default: NAME and its keywords)",
    )
    judge_eval.add_argument(
        "--feedback",
        type=_non_negative,
        default=0,
        metavar="K",
        help="also score with K team decisions per topic drawn from the listing (half accepts, seed 0), each paper "
        "by a model that never saw its own decision",
    )
    judge_eval.add_argument("--judge", choices=["offline", "claude"], default="offline")
    judge_eval.add_argument("--compare-judge", choices=["offline", "claude"], help="a second judge side by side")
    judge_eval.add_argument("--prompt", metavar="FILE", help="the claude judge's prompt template (default: built-in)")
    judge_eval.add_argument(
        "--compare-prompt", metavar="FILE", help="a second prompt side by side (the same judge unless --compare-judge)"
    )
    judge_eval.add_argument("--sample", type=int, metavar="N", help="evaluate N papers drawn at random (seed 0)")
    judge_eval.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    judge_eval.add_argument("--json", action="store_true", help="one JSON object per topic, one per line")
    judge_eval.set_defaults(func=cmd_judge_eval)

    run = commands.add_parser("run-scripts", help="run every *.py in DIR as one batch in the execution sandbox")
    run.add_argument("dir", metavar="DIR")
    run.add_argument(
        "--mode",
        choices=["local", "ssh", "ssm"],
        help="execution host: this machine, the launcher's ssh.host, or its ec2.instance_id over SSM "
        "(default: the launcher's kind in the deployment settings)",
    )
    run.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS", help="wall-clock limit per script")
    run.add_argument("--json", action="store_true")
    run.set_defaults(func=cmd_run_scripts)

    args = parser.parse_args(argv)
    from annapurna_assets.deployment import SettingsError

    try:
        return args.func(args)
    except SettingsError as error:  # a wrong settings file: say which setting, not a traceback
        print(f"annapurna: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
