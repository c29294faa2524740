"""Side-by-side cost of the code sandbox: bubblewrap + seccomp + call checks against the previous
sandbox (a plain child process confining itself, assert tests), on the ``code`` suite's reference
solutions.

Run::

    python bench/bench_sandbox.py                 # 5 interleaved rounds of the 80 items, 2 workers
    python bench/bench_sandbox.py --rounds 2 --out bench/results/sandbox.json

The previous sandbox is read from git (``--peer-rev``, the last commit before kernel isolation) into a
temporary package, so both run in this one process, round after round in alternation (A B A B ...),
each round a ``run_many`` over every item with ``--workers`` processes. Reported: runs per second of
each and their ratio, per round and the median. Both must score every reference fully.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEER_REV = "d34a252"  # main before the kernel-isolated sandbox


def load_peer(rev: str, into: Path):
    """The previous ``posttrain.sandbox.executor`` as a module of its own, and the code items of that revision."""
    package = into / "peer_sandbox"
    package.mkdir()
    for name in ("executor.py", "harness.py"):
        source = subprocess.run(["git", "show", f"{rev}:src/posttrain/sandbox/{name}"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout
        (package / name).write_text(source)
    spec = importlib.util.spec_from_file_location("peer_sandbox_executor", package / "executor.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    items = subprocess.run(["git", "show", f"{rev}:src/posttrain/eval/data/code.jsonl"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout
    return module, [json.loads(line) for line in items.splitlines()]


def timed(run_many, jobs, workers: int) -> tuple[float, float]:
    start = time.perf_counter()
    results = run_many(jobs, workers=workers)
    seconds = time.perf_counter() - start
    full = sum(result.all_passed for result in results) / len(results)
    return len(jobs) / seconds, full


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--peer-rev", default=PEER_REV)
    parser.add_argument("--out", default=str(HERE / "results" / "sandbox.json"))
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "src"))
    from posttrain.eval.suite import make_suite
    from posttrain.sandbox import run_many

    items = make_suite("code").items()
    ours = [(item["solution"], item["tests"]) for item in items]
    with tempfile.TemporaryDirectory() as tmp:
        peer_module, peer_items = load_peer(args.peer_rev, Path(tmp))
        peer = [(item["solution"], item["tests"]) for item in peer_items]
        rounds = []
        for index in range(args.rounds):
            peer_rate, peer_full = timed(peer_module.run_many, peer, args.workers)
            our_rate, our_full = timed(run_many, ours, args.workers)
            rounds.append({"peer_runs_per_s": round(peer_rate, 2), "posttrain_runs_per_s": round(our_rate, 2),
                           "ratio": round(our_rate / peer_rate, 3), "peer_full_score": peer_full,
                           "posttrain_full_score": our_full})
            print(f"round {index + 1}: previous {peer_rate:.1f} runs/s, kernel-isolated {our_rate:.1f} runs/s, "
                  f"ratio {our_rate / peer_rate:.2f} (references fully passing: {peer_full:.2f} / {our_full:.2f})")
    summary = {"items": len(items), "workers": args.workers, "peer_rev": args.peer_rev, "rounds": rounds,
               "median_ratio": statistics.median(r["ratio"] for r in rounds),
               "median_peer_runs_per_s": statistics.median(r["peer_runs_per_s"] for r in rounds),
               "median_posttrain_runs_per_s": statistics.median(r["posttrain_runs_per_s"] for r in rounds)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(f"median: previous {summary['median_peer_runs_per_s']} runs/s, kernel-isolated "
          f"{summary['median_posttrain_runs_per_s']} runs/s, ratio {summary['median_ratio']}")


if __name__ == "__main__":
    main()
