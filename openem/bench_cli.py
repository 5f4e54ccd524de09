"""`openem bench` and `openem eval`: benchmarks and evaluations, each printing one JSON
object."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

bench_app = typer.Typer(help="Benchmarks; each prints one JSON object.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluations on labelled data; each prints one JSON object.",
                       no_args_is_help=True)
DEFAULT_FACES_DIR = Path("../shared/faces")
console = Console(stderr=True)


@bench_app.command("rules")
def bench_rules(
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    seconds: Annotated[float, typer.Option(help="Time budget of each half, seconds.")] = 10.0,
    database_url: Annotated[
        str | None, typer.Option(help="PostgreSQL/PostGIS URL for the ST_Covers comparison.")
    ] = None,
    rate: Annotated[float, typer.Option(help="Offered ingest load, positions/s.")] = 3300.0,
    latency_database_url: Annotated[
        str | None,
        typer.Option(help="A disposable database for the latency run (default: temp SQLite); "
                     "refused if it holds real subjects."),
    ] = None,
) -> None:
    """Zone evaluation rate (vs PostGIS ST_Covers) and alert latency on the stream under load."""
    import json

    from openem.alerts.latency import run_alert_latency
    from openem.bench_common import NotABenchDatabase
    from openem.rules.bench import run_rules_bench

    report = run_rules_bench(database_url=database_url, seconds=seconds)
    try:
        latency = run_alert_latency(seconds=seconds, rate=rate,
                                    database_url=latency_database_url)
    except NotABenchDatabase as refused:
        raise typer.BadParameter(str(refused), param_hint="--latency-database-url") from None
    report["figures"].update(latency)
    p99 = latency["alert_latency_p99_s"]
    report["targets"]["alert_latency_p99_s"] = {
        "target": 2.0,
        "op": "<=",
        "met": p99 is not None and p99 <= 2.0,
    }
    typer.echo(json.dumps(report, indent=None if json_output else 2))


@bench_app.command("ingest")
def bench_ingest(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    seconds: Annotated[float, typer.Option(help="Seconds per phase.")] = 10.0,
    database_url: Annotated[
        str | None,
        typer.Option(help="One database to measure: it gets fictional subjects, orders and "
                     "devices, and is refused if it holds real subjects."),
    ] = None,
) -> None:
    """Ingest throughput and latency against the real server (SQLite and PostgreSQL)."""
    from openem.bench_common import NotABenchDatabase
    from openem.ingest.bench import default_database_urls, run_ingest_bench

    try:
        result = run_ingest_bench(database_urls=default_database_urls(database_url),
                                  seconds=seconds)
    except NotABenchDatabase as refused:
        raise typer.BadParameter(str(refused), param_hint="--database-url") from None
    _print_bench(result, json_output)


@bench_app.command("ingest-paired")
def bench_ingest_paired(
    start: Annotated[Path, typer.Option(help="The checkout to compare against (a git "
                                        "worktree of the earlier commit).")],
    end: Annotated[Path | None, typer.Option(help="The checkout compared (default: this "
                                             "one).")] = None,
    mode: Annotated[str, typer.Option(help="The phase: single or batch.")] = "single",
    postgresql: Annotated[bool, typer.Option(help="On PostgreSQL (127.0.0.1) instead of "
                                             "SQLite.")] = False,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds; each loads both.")] = 12,
    seconds: Annotated[float, typer.Option(help="Seconds per server per round.")] = 6.0,
) -> None:
    """One ingest phase of two checkouts, their servers loaded in turn round by round: the
    medians of the per-round ratios, which the host's drift mostly cancels out of."""
    from openem.ingest.bench_paired import MODES, DifferentSchemas, run_paired, this_checkout

    if mode not in MODES:
        raise typer.BadParameter(f"one of {', '.join(MODES)}", param_hint="--mode")
    try:
        result = run_paired(start=start, end=end or this_checkout(), postgresql=postgresql,
                            mode=mode, rounds=rounds, seconds=seconds)
    except DifferentSchemas as refused:
        raise typer.BadParameter(str(refused), param_hint="--start") from None
    _print_bench(result, json_output=True)


@bench_app.command("dashboard")
def bench_dashboard(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="PostgreSQL URL (recreated!); default OPENEM_BENCH_POSTGRES_URL or "
            "a fresh openem_bench_web on 127.0.0.1."
        ),
    ] = None,
    subjects: Annotated[int, typer.Option(help="Subjects in the caseload.")] = 10_000,
    heavy: Annotated[int, typer.Option(help="Subjects with the long history.")] = 200,
    days: Annotated[float, typer.Option(help="Days of a fix a minute for those.")] = 30.0,
    rest_hours: Annotated[float, typer.Option(help="Hours of fixes for the rest.")] = 24.0,
    runs: Annotated[int, typer.Option(help="Timed requests per page.")] = 40,
) -> None:
    """Server time p50/p95 of the caseload, a subject page with its 24 h trail, the alert queue."""
    from openem.web.bench import run_dashboard_bench

    result = run_dashboard_bench(
        database_url=database_url,
        subjects=subjects,
        heavy=heavy,
        days=days,
        rest_hours=rest_hours,
        runs=runs,
    )
    _print_bench(result, json_output)


@bench_app.command("startup")
def bench_startup(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    runs: Annotated[int, typer.Option(help="Warm starts to time.")] = 5,
) -> None:
    """Seconds from `openem serve` on SQLite to a healthy /healthz (median of warm starts)."""
    from openem.startup_bench import run_startup_bench

    _print_bench(run_startup_bench(runs=runs), json_output)


@bench_app.command("checkins")
def bench_checkins(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    seconds: Annotated[float, typer.Option(help="Seconds of closed-loop check-ins.")] = 30.0,
    faces: Annotated[
        Path, typer.Option(help="Face set laid out like ../shared/faces.")
    ] = DEFAULT_FACES_DIR,
    workers: Annotated[int, typer.Option(help="Face worker processes.")] = 2,
    people: Annotated[int, typer.Option(help="People whose bursts are simulated.")] = 24,
) -> None:
    """Check-ins per second, p50/p95 latency, pipeline overhead over bare dlib, replay APCER."""
    from openem.biometrics.bench import run_checkins_bench

    if not faces.is_dir():
        raise typer.BadParameter(f"no face set at {faces}", param_hint="--faces")
    result = run_checkins_bench(faces, seconds=seconds, workers=workers, people=people)
    _print_bench(result, json_output)


@eval_app.command("faces")
def eval_faces(
    directory: Annotated[Path, typer.Argument(help="Face set: images, pairs.csv, attributes.csv.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    calibrate: Annotated[
        bool, typer.Option("--calibrate", help="Write the calibrated threshold to --config.")
    ] = False,
    fmr: Annotated[
        float, typer.Option(help="Target false-match rate per prompt (3 impostor attempts).")
    ] = 1e-3,
    limit_pairs: Annotated[
        int | None, typer.Option(help="Evaluate a seeded sample of this many pairs.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    plots: Annotated[Path | None, typer.Option(help="Write DET curves (PNG) here.")] = None,
    workers: Annotated[int, typer.Option(help="Face worker processes.")] = 2,
    cache: Annotated[
        Path | None,
        typer.Option(help="Descriptor cache directory (keyed by content; results unchanged)."),
    ] = None,
    config: Annotated[
        Path, typer.Option(help="Environment file that --calibrate updates.")
    ] = Path("openem.env"),
) -> None:
    """Pair- and prompt-level accuracy, per-group figures, the peer library on the same pairs.

    With --calibrate, OPENEM_FACE_THRESHOLD (the threshold meeting --fmr on all folds) is
    written to --config; load that file into the service's environment."""
    from openem.fairness.evaluate import evaluate_faces

    if not directory.is_dir():
        raise typer.BadParameter(f"no face set at {directory}", param_hint="DIRECTORY")
    result = evaluate_faces(directory, limit_pairs=limit_pairs, seed=seed, calibrate_fmr=fmr,
                            plots_dir=plots, workers=workers, cache_dir=cache)
    if calibrate:
        threshold = float(result["figures"]["threshold"])
        write_env_setting(config, "OPENEM_FACE_THRESHOLD", f"{threshold:.6f}")
        console.print(f"OPENEM_FACE_THRESHOLD={threshold:.6f} written to {config}")
    _print_bench(result, json_output)


def write_env_setting(path: Path, name: str, value: str) -> None:
    """Set ``NAME=value`` in an environment file, keeping its other lines."""
    lines = path.read_text().splitlines() if path.exists() else []
    kept = [line for line in lines if not line.startswith(f"{name}=")]
    path.write_text("\n".join([*kept, f"{name}={value}"]) + "\n")


def _print_bench(result: dict[str, object], json_output: bool) -> None:
    import json

    if not json_output:
        console.print_json(data=result)
        return
    typer.echo(json.dumps(result))
