"""Start-up cost of the ``workbench`` command and of a sandbox worker. Prints JSON.

  help_s               `workbench --help`, wall time of a fresh process (median)
  version_s            `workbench --version` (median)
  validate_s           `workbench validate examples/hello_agent.json` (median)
  help_cpu_s, validate_cpu_s  the same processes' CPU time (user + system, median): what the
                       command costs whatever else the machine is doing (wall time on a busy
                       machine includes waiting for a core)
  budget_s, within_budget  the target of `--help` and `validate` (0.3 s wall) and whether both
                       medians meet it
  sandbox_worker_import_s  `import workbench.sandbox.worker` inside a fresh interpreter (median):
                       what the sandbox pool's fork server pays before its first job

Each figure is the median of --runs fresh processes (default 10). Python's bytecode cache is used
(in a temporary folder, as an installed package would have it), unless --no-bytecode: then every
module of the repository is compiled again in every process.

Usage: python tests/benchmarks/bench_cli.py [--runs N] [--no-bytecode]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "hello_agent.json"
BUDGET_S = 0.3
"""Wall time allowed to `workbench --help` and `workbench validate` (issue 11)."""
IMPORT_WORKER = (
    "import time; t = time.perf_counter(); import workbench.sandbox.worker; print(time.perf_counter() - t)"
)


def workbench_command() -> list[str]:
    """The console script next to this interpreter, else ``python -m launch.cli``."""
    script = Path(sys.executable).with_name("workbench")
    return [str(script)] if script.exists() else [sys.executable, "-m", "launch.cli"]


def timed(argv: list[str], runs: int, env: dict[str, str]) -> tuple[float, float] | None:
    """Median (wall, CPU) seconds of ``argv`` over ``runs`` fresh processes; None (and why, on stderr)
    when the command fails, e.g. ``--version`` on a version that lacks it."""
    walls, cpus = [], []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        assert proc.stderr is not None
        with proc.stderr:
            err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own resource usage
        walls.append(time.perf_counter() - started)
        cpus.append(usage.ru_utime + usage.ru_stime)
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            print(f"{' '.join(argv)} exited {code}: {err.strip()}", file=sys.stderr)
            return None
    return round(statistics.median(walls), 4), round(statistics.median(cpus), 4)


def wall(argv: list[str], runs: int, env: dict[str, str]) -> float | None:
    """Median wall time of ``argv`` over ``runs`` fresh processes (None when it fails)."""
    figures = timed(argv, runs, env)
    return None if figures is None else figures[0]


def import_time(runs: int, env: dict[str, str]) -> float:
    """Median time to import ``workbench.sandbox.worker`` in a fresh interpreter."""
    samples = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", IMPORT_WORKER],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        samples.append(float(done.stdout.strip()))
    return round(statistics.median(samples), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-bytecode", action="store_true", help="compile every module every time")
    options = parser.parse_args()
    runs = options.runs
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as cache:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if options.no_bytecode:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = cache
        figures = measure(runs, env)
    figures["bytecode"] = not options.no_bytecode
    print(json.dumps(figures, indent=2))


def measure(runs: int, env: dict[str, str]) -> dict[str, object]:
    """Every figure, after one warm-up run of each command (file system cache, bytecode)."""
    cli = workbench_command()
    example = [*cli, "validate", str(EXAMPLE)]
    for argv in ([*cli, "--help"], example):
        wall(argv, 1, env)
    import_time(1, env)
    help_figures = timed([*cli, "--help"], runs, env)
    validate_figures = timed(example, runs, env)
    help_s, help_cpu_s = help_figures or (None, None)
    validate_s, validate_cpu_s = validate_figures or (None, None)
    medians = [help_s, validate_s]
    return {
        "runs": runs,
        "help_s": help_s,
        "version_s": wall([*cli, "--version"], runs, env),
        "validate_s": validate_s,
        "help_cpu_s": help_cpu_s,
        "validate_cpu_s": validate_cpu_s,
        "budget_s": BUDGET_S,
        "within_budget": all(m is not None and m < BUDGET_S for m in medians),
        "sandbox_worker_import_s": import_time(runs, env),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    main()
