"""Benchmark: how fast the commands that only talk start, against a bare interpreter.

Targets (issue 27, on the 2-core project machine): each of these takes at most 5 times the
wall time of ``python -c pass`` (the floor: the same interpreter and site-packages):

* ``session-importer --help``, as ``python -m importer`` and as the installed
  ``session-importer`` script (the entry point's wrapper);
* ``run --help`` (its help lists vendors by what their plugins do: every plugin is built);
* a wrong flag (argparse's error, exit 2);
* ``status JOURNAL`` on a journal holding 3 runs (made by real imports: 3 ``run`` of 3 rows
  each into a ``session-importer sandbox`` process, as a user's journal is);
* ``vendors`` (every vendor's columns, pace and scopes: every plugin is built).

The commands run interleaved, one after the other, round after round (so that a burst of
load from others on the machine hits them all alike), and each figure is the minimum of
its rounds: the start-up cost itself, without the machine's noise. Each command's exit
code is checked (0, or 2 for the wrong flag), and a first round, not counted, warms the
caches. The package runs from its compiled bytecode, as pip installs it (even where the
environment sets PYTHONDONTWRITEBYTECODE). The ratio's figure is printed beside the
milliseconds; which heavy modules a command loads is a test's (tests/test_startup.py).

Usage: python benchmarks/startup.py [--quick] [--rounds N]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Targets, clean_env, parser, run_cli, sandbox, sheet
from run_all import machine

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
#: At most this many times ``python -c pass``.
RATIO = 5.0


def journal_with_runs(folder: Path, runs: int = 3) -> Path:
    """A journal of ``runs`` real imports (3 rows each) into a sandbox process."""
    state = folder / "state"
    with sandbox() as box:
        for n in range(runs):
            done = run_cli(box, "360learning-v2", sheet(folder / f"s{n}.csv", "360learning-v2",
                                                        3, start=10 * n), state=state)  # fmt: skip
            if done.code != 0 or done.created != 3:
                raise SystemExit(f"the import to build the journal failed: {done.stderr}")
    (found,) = (state / "journals").glob("*.sqlite")
    return found


def wall(command: list[str], env: dict[str, str], expected: int) -> float:
    """One run's wall seconds (stdout and stderr to /dev/null); its exit code checked."""
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          env=env, cwd=ROOT, check=False)  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != expected:
        raise SystemExit(f"{' '.join(command)}: exit {done.returncode}, not {expected}")
    return seconds


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--rounds", type=int, help="rounds (default 7, --quick 4)")
    args = options.parse_args()
    rounds = args.rounds or (4 if args.quick else 7)
    print(f"machine: {machine()}", flush=True)
    # As installed (pip compiles the bytecode): an environment that sets
    # PYTHONDONTWRITEBYTECODE would have every command compile the package from source.
    env = {k: v for k, v in clean_env().items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(ROOT / "importer")], env=env, check=True)
    module = [PYTHON, "-m", "importer"]
    script = Path(PYTHON).parent / "session-importer"
    with tempfile.TemporaryDirectory(prefix="importer-startup-") as tmp:
        journal = journal_with_runs(Path(tmp))
        commands: dict[str, tuple[list[str], int]] = {
            "python -c pass": ([PYTHON, "-c", "pass"], 0),
            "--help": ([*module, "--help"], 0),
            "run --help": ([*module, "run", "--help"], 0),
            "wrong flag": ([*module, "validate", "x.csv", "--no-such-flag"], 2),
            "status (3 runs)": ([*module, "status", str(journal)], 0),
            "vendors": ([*module, "vendors"], 0),
        }
        if script.is_file():  # the installed entry point's wrapper (pip's console script)
            commands["session-importer --help"] = ([str(script), "--help"], 0)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for round_ in range(rounds + 1):  # the first round warms the caches: not counted
            for name, (command, expected) in commands.items():
                seconds = wall(command, env, expected)
                if round_:
                    times[name].append(seconds)
    floor = min(times["python -c pass"])
    print(f"each figure: the minimum of {rounds} interleaved rounds", flush=True)
    print(f"python -c pass: {floor * 1000:.0f} ms (the floor)", flush=True)
    targets = Targets()
    for name, found in times.items():
        if name == "python -c pass":
            continue
        best = min(found)
        ratio = best / floor
        targets.check(
            f"start-up: {name}",
            f"{ratio:.1f}x python -c pass ({best * 1000:.0f} ms vs {floor * 1000:.0f} ms)",
            f"<= {RATIO:.0f}x",
            ratio <= RATIO,
        )
    targets.finish()


if __name__ == "__main__":
    main()
