"""Side-by-side SFT benchmark: posttrain's trainer against TRL's ``SFTTrainer`` on this machine.

Run::

    python bench/bench_sft.py                      # full: 256 rows, LoRA and full fine-tuning
    python bench/bench_sft.py --quick              # smoke test: 32 rows, 4 steps per run
    python bench/bench_sft.py --rows 256 --modes lora --out bench/results/sft-lora.json

Both sides train the embedded SmolLM2-135M-Instruct (``resolve("smollm2-135m")``) in float32 on
2 CPU threads over the same rows, with the same global batch, learning-rate schedule and number
of optimizer steps, and by default the same rows in every optimizer step (TRL is handed
posttrain's batch order through a sampler, so per-step losses can be compared directly). Each
(framework, mode) run is its own subprocess, so peak resident memory is measured per run.

Only training steps 2..N are timed (model loading, data preparation and the warm-up step are
excluded on both sides), from per-step wall-clock stamps: ``metrics.jsonl`` for posttrain, a
``TrainerCallback.on_step_end`` for TRL. bench/README.md explains the fairness choices and the
MFU formula.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODEL_SPEC = "smollm2-135m"
GB = 1024**3
TARGET_SPEEDUP = 2.0  # ours/TRL loss-tokens/s must be at least this
TARGET_RSS_RATIO = 0.5  # ours/TRL peak RSS must be at most this
# A whole epoch of 256 rows (32 steps) takes about 40 minutes for the four runs on 2 threads;
# 16 steps (128 of the 256 rows) keeps the full benchmark near 20. --max-steps 32 for the epoch.
DEFAULT_STEP_CAP = 16


# ---- parent: orchestration (stdlib only, so its memory never leaks into a child's peak) -------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=256, help="rows of the bundled set to train on (full run: 256)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 32 rows, 4 steps (overrides --rows)")
    parser.add_argument("--modes", default="lora,full", help="comma-separated: lora, full")
    parser.add_argument("--data", default=None, help="chat JSONL to draw rows from (default: the bundled sft_chat.jsonl)")
    parser.add_argument("--out", default=str(HERE / "results" / "sft.json"), help="JSON result file (written atomically)")
    parser.add_argument("--batch-size", type=int, default=8, help="rows per optimizer step, both sides")
    parser.add_argument("--max-steps", type=int, default=None,
                        help=f"optimizer steps (default: one epoch over --rows, at most {DEFAULT_STEP_CAP})")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--trl-order", choices=["same", "random"], default="same",
                        help="same: TRL trains posttrain's batches in posttrain's order; random: TRL's own shuffling")
    parser.add_argument("--trl-micro-batch", type=int, default=None,
                        help="TRL per_device_train_batch_size (default: the whole batch; the rest is gradient accumulation)")
    parser.add_argument("--trl-gradient-checkpointing", choices=["default", "on", "off"], default="default",
                        help="TRL's SFTConfig defaults gradient_checkpointing to True; 'default' keeps that")
    parser.add_argument("--max-others", type=float, default=0.10,
                        help="a run during which other processes used more than this share of the CPUs is redone")
    parser.add_argument("--retries", type=int, default=1, help="how often a disturbed run is redone (the least disturbed is kept)")
    parser.add_argument("--idle-wait", type=float, default=900,
                        help="before each run, wait up to this many seconds for other processes to leave the CPUs")
    parser.add_argument("--posttrain-micro-batch-tokens", type=int, default=None,
                        help="posttrain's micro_batch_tokens (default: its own default, max_length)")
    parser.add_argument("--report", default=None, help="re-print the report of an earlier result JSON and exit")
    parser.add_argument("--frameworks", default="posttrain,trl", help="comma-separated: posttrain, trl (one side only: no ratios)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (run dirs, child logs)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.max_steps = 32, args.max_steps or 4
    return args


def child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1", "PYTHONUNBUFFERED": "1",
    })
    return env


def machine_busy_share(seconds: float = 5.0) -> float:
    """Share of all CPUs busy over ``seconds`` (from /proc/stat; this process is asleep meanwhile)."""

    def read() -> tuple[int, int]:
        with open("/proc/stat") as handle:
            user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in handle.readline().split()[1:9])
        return user + nice + system + irq + softirq + steal, idle + iowait

    busy0, idle0 = read()
    time.sleep(seconds)
    busy1, idle1 = read()
    return (busy1 - busy0) / max(busy1 - busy0 + idle1 - idle0, 1)


def wait_for_idle(max_wait: float, threshold: float) -> float:
    """Wait until other work leaves the CPUs (2 OpenMP threads on 2 shared cores slow down far more
    than the share they lose), or until ``max_wait`` seconds have passed. Returns the last busy share."""
    deadline = time.time() + max_wait
    busy = machine_busy_share()
    while busy > threshold and time.time() < deadline:
        print(f"[bench] other processes keep {100 * busy:.0f}% of the CPUs busy; waiting", flush=True)
        time.sleep(25)
        busy = machine_busy_share()
    return busy


def run_child(task: dict, scratch: Path, name: str, threads: int, script: str = __file__) -> dict:
    """Run one task in a fresh interpreter (``script --child TASK``); output goes to ``<scratch>/<name>.log``."""
    task_path, result_path, log_path = scratch / f"{name}.task.json", scratch / f"{name}.result.json", scratch / f"{name}.log"
    task = {**task, "result": str(result_path), "name": name}
    task_path.write_text(json.dumps(task))
    print(f"[bench] {name}: running (log: {log_path})", flush=True)
    started = time.time()
    with open(log_path, "w") as log:
        code = subprocess.call([sys.executable, str(Path(script).resolve()), "--child", str(task_path)],
                               stdout=log, stderr=subprocess.STDOUT, env=child_env(threads))
    if code != 0 or not result_path.exists():
        tail = "\n".join(log_path.read_text().splitlines()[-30:])
        raise SystemExit(f"[bench] {name} failed (exit {code}); last lines of {log_path}:\n{tail}")
    print(f"[bench] {name}: done in {time.time() - started:.0f} s", flush=True)
    return json.loads(result_path.read_text())


def single_turn_rows(path: Path) -> tuple[list[dict], int]:
    """Rows with exactly one assistant message, which is the last one (the fair-count subset)."""
    rows, total = [], 0
    with open(path) as handle:
        for line in handle:
            if not line.strip():
                continue
            total += 1
            messages = json.loads(line)["messages"]
            roles = [m["role"] for m in messages]
            if roles.count("assistant") == 1 and roles[-1] == "assistant":
                rows.append([{"role": m["role"], "content": m["content"]} for m in messages])
    return rows, total


def write_datasets(args, scratch: Path) -> dict:
    from importlib.util import find_spec

    bundled = Path(args.data) if args.data else (
        Path(find_spec("posttrain").submodule_search_locations[0]) / "data" / "bundled" / "sft_chat.jsonl")
    if not bundled.exists():
        raise SystemExit(f"[bench] training data missing: {bundled}")
    rows, total = single_turn_rows(bundled)
    wanted = args.rows - args.rows % args.batch_size  # whole batches only, so both samplers cut alike
    if wanted < args.rows:
        print(f"[bench] --rows {args.rows} rounded down to {wanted} (a multiple of --batch-size)")
    if len(rows) < wanted:
        raise SystemExit(f"[bench] only {len(rows)} single-assistant-turn rows in {bundled} (of {total}); asked for {wanted}")
    single = len(rows)
    rows = rows[:wanted]
    ours, trl = scratch / "posttrain.jsonl", scratch / "trl.jsonl"
    with open(ours, "w") as out:
        for messages in rows:
            out.write(json.dumps({"messages": messages}) + "\n")
    with open(trl, "w") as out:
        for messages in rows:
            out.write(json.dumps({"prompt": messages[:-1], "completion": messages[-1:]}) + "\n")
    return {"source": str(bundled), "source_rows": total, "single_turn_rows": single, "rows": wanted,
            "posttrain_file": str(ours), "trl_file": str(trl)}


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args.child)
    if args.report:
        result = json.loads(Path(args.report).read_text())
        result["comparison"] = compare(result["runs"], result["settings"]["modes"])
        print_report(result)
        return 0
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in ("lora", "full") for m in modes):
        raise SystemExit(f"--modes must list lora and/or full, got {args.modes!r}")
    frameworks = [f.strip() for f in args.frameworks.split(",")]
    scratch = Path(tempfile.mkdtemp(prefix="bench-sft-"))
    print(f"[bench] scratch dir: {scratch}")
    data = write_datasets(args, scratch)
    steps_per_epoch = data["rows"] // args.batch_size
    max_steps = args.max_steps or min(steps_per_epoch, DEFAULT_STEP_CAP)
    if max_steps < 3:
        raise SystemExit("need at least 3 optimizer steps (step 1 is warm-up, then at least 2 timed)")
    micro = args.trl_micro_batch or args.batch_size
    if args.batch_size % micro:
        raise SystemExit("--batch-size must be a multiple of --trl-micro-batch")
    common = {"rows": data["rows"], "batch_size": args.batch_size, "max_steps": max_steps, "max_length": args.max_length,
              "lr": args.lr, "threads": args.threads, "seed": 0, "scratch": str(scratch)}
    prep = run_child({**common, "kind": "prep", "data": data["posttrain_file"]}, scratch, "prep", args.threads)

    runs = []
    for mode in modes:
        for framework in frameworks:
            task = {**common, "kind": framework, "mode": mode,
                    "data": data["posttrain_file"] if framework == "posttrain" else data["trl_file"],
                    "order": prep["order"], "trl_order": args.trl_order, "trl_micro_batch": micro,
                    "trl_gradient_checkpointing": args.trl_gradient_checkpointing,
                    "posttrain_micro_batch_tokens": args.posttrain_micro_batch_tokens}
            attempts = []
            for attempt in range(args.retries + 1):
                idle_before = wait_for_idle(args.idle_wait, args.max_others)
                raw = run_child(task, scratch, f"{framework}-{mode}-{attempt}", args.threads)
                attempts.append({**summarize_run(raw, prep), "busy_before": idle_before})
                if attempts[-1]["cpu_busy_others"] <= args.max_others:
                    break
                print(f"[bench] {framework}-{mode}: other processes used {100 * attempts[-1]['cpu_busy_others']:.0f}% "
                      f"of the CPUs during timing", flush=True)
            best = min(attempts, key=lambda run: run["cpu_busy_others"])
            best["attempts"] = [{k: a[k] for k in ("loss_tokens_per_s", "peak_rss_gb", "cpu_busy_others")} for a in attempts]
            best["disturbed"] = best["cpu_busy_others"] > args.max_others
            runs.append(best)
    peak_after = run_child({"kind": "peak", "threads": args.threads}, scratch, "peak-after", args.threads)

    # Best rate seen in any process: contention from other work only ever lowers a measurement.
    peaks = [prep["peak_flops"], peak_after["peak_flops"]] + [run["peak_flops"] for run in runs]
    peak = max(peaks)
    for run in runs:
        run["mfu"] = run["model_flops_per_s"] / peak
    result = {
        "benchmark": "sft", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": {**{k: v for k, v in common.items() if k != "scratch"}, "modes": modes,
                     "trl_order": args.trl_order, "trl_micro_batch": micro,
                     "trl_gradient_checkpointing": args.trl_gradient_checkpointing, "quick": args.quick,
                     "posttrain_micro_batch_tokens": args.posttrain_micro_batch_tokens, "frameworks": frameworks,
                     "lora": {"r": 16, "alpha": 32, "dropout": 0.0, "targets": "all-linear"}, "warmup": 0,
                     "schedule": "cosine", "dtype": "float32", "device": "cpu"},
        "machine": {"cpus": os.cpu_count(), "matmul_peak_flops": peak, "matmul_peak_measurements": peaks,
                    "python": sys.version.split()[0],
                    "versions": prep["versions"]},
        "model": prep["model"],
        "data": {**{k: v for k, v in data.items() if not k.endswith("_file")}, **prep["data"]},
        "runs": runs, "comparison": compare(runs, modes),
    }
    print_report(result)
    write_json_atomic(Path(args.out), result)
    print(f"[bench] wrote {args.out}")
    if not args.keep:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    return 0


# ---- parent: numbers -----------------------------------------------------------------------


def model_flops(prep: dict, mode: str, all_tokens: int, loss_tokens: int) -> float:
    """Useful model FLOPs: body 6N (full) or 4N (LoRA) per token, LM head 2VH x 3 (full) or x 2 (LoRA) per loss token."""
    body, head = (6, 3) if mode == "full" else (4, 2)
    model = prep["model"]
    return body * model["non_embedding_params"] * all_tokens + head * 2 * model["vocab"] * model["hidden"] * loss_tokens


def summarize_run(raw: dict, prep: dict) -> dict:
    steps = raw["steps"]  # one dict per optimizer step, in order
    timed = steps[1:]
    seconds = steps[-1]["end"] - steps[0]["end"]
    loss_tokens = sum(s["loss_tokens"] for s in timed)
    all_tokens = sum(s["tokens"] for s in timed)
    padded = sum(s["padded_tokens"] for s in timed)
    flops = model_flops(prep, raw["mode"], all_tokens, loss_tokens)
    window = raw["window"]
    return {
        "framework": raw["framework"], "mode": raw["mode"], "steps": len(steps), "timed_steps": len(timed),
        "timed_seconds": seconds, "loss_tokens_timed": loss_tokens, "tokens_timed": all_tokens,
        "padded_tokens_timed": padded, "loss_tokens_total": sum(s["loss_tokens"] for s in steps),
        "tokens_total": sum(s["tokens"] for s in steps),
        "loss_tokens_per_s": loss_tokens / seconds, "tokens_per_s": all_tokens / seconds,
        "model_flops_per_s": flops / seconds,
        "peak_rss_gb": raw["ru_maxrss_bytes"] / GB, "peak_rss_training_gb": window["peak_rss_bytes"] / GB,
        "rss_after_load_gb": raw["rss_after_load_bytes"] / GB,
        "cpu_busy_own": window["own_cpu_share"], "cpu_busy_others": window["others_cpu_share"],
        "first_step_loss": steps[0]["loss"], "last_step_loss": steps[-1]["loss"],
        "mean_loss": sum(s["loss"] for s in steps) / len(steps),
        "losses": [s["loss"] for s in steps], "step_loss_tokens": [s["loss_tokens"] for s in steps],
        "step_seconds": [b["end"] - a["end"] for a, b in zip(steps, steps[1:])],
        "trainable_params": raw.get("trainable_params"), "setup_seconds": raw["setup_seconds"],
        "peak_flops": raw["peak_flops"],
        "notes": raw.get("notes", []),
    }


def compare(runs: list[dict], modes: list[str]) -> dict:
    out = {}
    for mode in modes:
        by = {r["framework"]: r for r in runs if r["mode"] == mode}
        if "posttrain" not in by or "trl" not in by:
            continue
        ours, trl = by["posttrain"], by["trl"]
        extra = [t - o for o, t in zip(ours["step_loss_tokens"], trl["step_loss_tokens"])]
        ours_n, trl_n = ours["step_loss_tokens"][0], trl["step_loss_tokens"][0]
        first = {"posttrain": ours["first_step_loss"], "trl": trl["first_step_loss"],
                 "relative_difference": abs(ours["first_step_loss"] - trl["first_step_loss"]) / abs(trl["first_step_loss"])}
        if trl_n > ours_n:
            # If TRL's extra tokens (the newline after <|im_end|>) cost ~0 loss, its mean loss rescaled to
            # posttrain's token count equals posttrain's loss; the implied loss of one extra token shows it.
            first["trl_rescaled_to_posttrain_tokens"] = trl["first_step_loss"] * trl_n / ours_n
            first["implied_loss_per_extra_token"] = (trl["first_step_loss"] * trl_n - ours["first_step_loss"] * ours_n) / (trl_n - ours_n)
        speed = ours["loss_tokens_per_s"] / trl["loss_tokens_per_s"]
        rss = ours["peak_rss_gb"] / trl["peak_rss_gb"]
        out[mode] = {
            "loss_tokens_per_s_ratio": speed, "tokens_per_s_ratio": ours["tokens_per_s"] / trl["tokens_per_s"],
            "peak_rss_ratio": rss, "training_peak_rss_ratio": ours["peak_rss_training_gb"] / trl["peak_rss_training_gb"],
            "speed_target_met": speed >= TARGET_SPEEDUP, "rss_target_met": rss <= TARGET_RSS_RATIO,
            "first_step_loss": first,
            "max_step_loss_difference": max(abs(a - b) for a, b in zip(ours["losses"], trl["losses"])),
            # The same, with each TRL step's loss rescaled to posttrain's loss-token count (see above).
            "max_step_loss_difference_rescaled": max(
                abs(t * tn / on - o) for o, t, on, tn in
                zip(ours["losses"], trl["losses"], ours["step_loss_tokens"], trl["step_loss_tokens"])),
            "loss_tokens": {"posttrain": ours["loss_tokens_total"], "trl": trl["loss_tokens_total"]},
            # With matched batches TRL scores exactly one more token per row (see README), so this is constant.
            "trl_extra_loss_tokens_per_step": sorted(set(extra)),
        }
    return out


def print_report(result: dict) -> None:
    s = result["settings"]
    print()
    print(f"SFT benchmark: SmolLM2-135M fp32, {s['threads']} threads, {result['data']['rows']} rows, batch {s['batch_size']}, "
          f"{s['max_steps']} steps (steps 2..{s['max_steps']} timed), max_length {s['max_length']}, TRL order: {s['trl_order']}, "
          f"TRL gradient checkpointing: {s['trl_gradient_checkpointing']}")
    measured = ", ".join(f"{p / 1e9:.0f}" for p in result["machine"]["matmul_peak_measurements"])
    print(f"fp32 matmul peak (2048^2, best of 30, per process): {result['machine']['matmul_peak_flops'] / 1e9:.1f} GFLOP/s "
          f"(measurements: {measured})")
    header = (f"{'framework':<10} {'mode':<5} {'loss-tok/s':>10} {'all-tok/s':>10} {'peak RSS GB':>11} {'train RSS GB':>12} "
              f"{'MFU %':>6} {'loss tok':>9} {'1st loss':>9} {'others CPU':>10}")
    print(header)
    print("-" * len(header))
    for r in result["runs"]:
        print(f"{r['framework']:<10} {r['mode']:<5} {r['loss_tokens_per_s']:>10.1f} {r['tokens_per_s']:>10.1f} "
              f"{r['peak_rss_gb']:>11.2f} {r['peak_rss_training_gb']:>12.2f} {100 * r['mfu']:>6.1f} "
              f"{r['loss_tokens_total']:>9d} {r['first_step_loss']:>9.4f} {100 * r['cpu_busy_others']:>9.0f}%"
              + ("  (disturbed: other work was running)" if r["disturbed"] else ""))
    for r in result["runs"]:
        for note in r["notes"]:
            if not note.startswith(("gradient_checkpointing=", "optim=")):
                print(f"  note ({r['framework']} {r['mode']}): {note}")
    print()
    for mode, c in result["comparison"].items():
        print(f"{mode}: ours/TRL loss-tokens/s {c['loss_tokens_per_s_ratio']:.2f}x (all tokens {c['tokens_per_s_ratio']:.2f}x; "
              f"target >= {TARGET_SPEEDUP:.0f}x: {'met' if c['speed_target_met'] else 'NOT met'}), "
              f"peak RSS {c['peak_rss_ratio']:.2f}x (training window {c['training_peak_rss_ratio']:.2f}x; "
              f"target <= {TARGET_RSS_RATIO}x: {'met' if c['rss_target_met'] else 'NOT met'})")
        f = c["first_step_loss"]
        print(f"  first-step loss: posttrain {f['posttrain']:.4f}, TRL {f['trl']:.4f} (relative difference "
              f"{100 * f['relative_difference']:.2f}%); largest per-step loss gap {c['max_step_loss_difference']:.4f}; "
              f"loss tokens posttrain {c['loss_tokens']['posttrain']}, TRL {c['loss_tokens']['trl']} "
              f"(TRL extra per step: {c['trl_extra_loss_tokens_per_step']})")
        if "implied_loss_per_extra_token" in f:
            print(f"  TRL's first-step loss over posttrain's token count: {f['trl_rescaled_to_posttrain_tokens']:.4f} "
                  f"(implied loss of each extra newline token: {f['implied_loss_per_extra_token']:.4f}); "
                  f"largest per-step gap so rescaled: {c['max_step_loss_difference_rescaled']:.4f}")
    print()


def write_json_atomic(path: Path, value: dict) -> None:
    from posttrain.util import write_text_atomic

    write_text_atomic(path, json.dumps(value, indent=1) + "\n")


# ---- children ------------------------------------------------------------------------------


def child_main(task_path: str) -> int:
    task = json.loads(Path(task_path).read_text())
    import torch

    torch.set_num_threads(task["threads"])
    handlers = {"prep": prep_child, "peak": peak_child, "posttrain": posttrain_child, "trl": trl_child}
    result = handlers[task["kind"]](task)
    write_json_atomic(Path(task["result"]), result)
    return 0


def measure_matmul_peak(size: int = 2048, repeats: int = 30) -> float:
    """Best fp32 matmul rate (FLOP/s) on this process's threads: the MFU denominator."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(2):
        a @ b
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def peak_child(task: dict) -> dict:
    return {"peak_flops": measure_matmul_peak()}


def prep_child(task: dict) -> dict:
    """Matmul peak, model shape, and posttrain's batch order (which TRL is given in --trl-order same)."""
    import importlib.metadata as md

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from posttrain.data.batching import plan_epoch
    from posttrain.data.formats import load_examples
    from posttrain.data.render import render
    from posttrain.models.loading import load_tokenizer, resolve

    peak = measure_matmul_peak()
    model_dir = resolve(MODEL_SPEC)
    config = AutoConfig.from_pretrained(model_dir)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    embedding_ids = {id(model.get_input_embeddings().weight), id(model.get_output_embeddings().weight)}
    total = sum(p.numel() for p in model.parameters())
    non_embedding = sum(p.numel() for p in model.parameters() if id(p) not in embedding_ids)

    tokenizer = load_tokenizer(MODEL_SPEC)
    conversations = load_examples(task["data"], "sft").examples
    rendered = [render(c, tokenizer, task["max_length"]) for c in conversations]
    if any(sum(r.loss_mask[1:]) == 0 for r in rendered):
        raise SystemExit("a row has no loss tokens after truncation; posttrain would drop it and the orders would differ")
    lengths = [len(r) for r in rendered]
    steps_per_epoch = math.ceil(len(rendered) / task["batch_size"])
    epochs = math.ceil(task["max_steps"] / steps_per_epoch)
    # Mirrors posttrain.algos.sft.train_sft: file order (no eval split), then plan_epoch per epoch.
    order = [batch for epoch in range(epochs) for batch in plan_epoch(lengths, task["batch_size"], task["seed"], epoch)]
    versions = {name: md.version(name) for name in ("torch", "transformers", "trl", "peft", "accelerate", "datasets")}
    return {
        "peak_flops": peak, "order": order[: task["max_steps"]], "versions": versions,
        "model": {"dir": model_dir, "total_params": total, "non_embedding_params": non_embedding,
                  "vocab": config.vocab_size, "hidden": config.hidden_size, "layers": config.num_hidden_layers,
                  "tied_embeddings": bool(getattr(config, "tie_word_embeddings", False))},
        "data": {"tokens_per_row_mean": sum(lengths) / len(lengths), "tokens_per_row_max": max(lengths),
                 "tokens_per_row_min": min(lengths), "truncated_rows": sum(r.truncated for r in rendered),
                 "loss_tokens_per_row_mean": sum(sum(r.loss_mask[1:]) for r in rendered) / len(rendered)},
    }


class Sampler:
    """Background sampler of this process's RSS and CPU time and the machine's busy CPU time."""

    def __init__(self, interval: float = 0.05):
        import threading

        import psutil

        self.process, self.psutil, self.interval = psutil.Process(), psutil, interval
        self.samples: list[tuple[float, int, float, float]] = []  # (time, rss, own cpu s, machine busy cpu s)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        own = self.process.cpu_times()
        machine = self.psutil.cpu_times()
        busy = sum(getattr(machine, field, 0.0) for field in ("user", "nice", "system", "irq", "softirq", "steal"))
        self.samples.append((time.time(), self.process.memory_info().rss, own.user + own.system, busy))

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            self._sample()

    def window(self, train_start: float, start: float, end: float) -> dict:
        """Peak RSS over all training steps and CPU shares over the timed steps (wall-clock times)."""
        self.stop.set()
        self.thread.join()
        self._sample()
        inside = [s for s in self.samples if train_start <= s[0] <= end] or self.samples[-1:]
        first = min(self.samples, key=lambda s: abs(s[0] - start))
        last = min(self.samples, key=lambda s: abs(s[0] - end))
        span = max(last[0] - first[0], 1e-9) * (os.cpu_count() or 1)
        own, busy = last[2] - first[2], last[3] - first[3]
        return {"peak_rss_bytes": max(s[1] for s in inside), "own_cpu_share": own / span,
                "others_cpu_share": max(busy - own, 0.0) / span}


def finish(task: dict, framework: str, steps: list[dict], sampler: Sampler, train_start: float, rss_after_load: int,
           setup: float, **extra) -> dict:
    import resource

    window = sampler.window(train_start, steps[0]["end"], steps[-1]["end"])
    return {"framework": framework, "mode": task["mode"], "steps": steps, "window": window,
            "ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "rss_after_load_bytes": rss_after_load, "setup_seconds": setup, **extra}


def posttrain_child(task: dict) -> dict:
    """posttrain's train_sft; per-step times and loss tokens come from its own metrics.jsonl."""
    import posttrain.algos.sft as sft
    from posttrain.config import SFTConfig

    peak = measure_matmul_peak()  # before anything is loaded, so it adds nothing to the peak RSS
    sampler, started = Sampler(), time.time()
    # Count real and padded tokens per step without touching the loop: micro_batches_for is
    # called once per optimizer step (evaluation is off: eval_fraction=0).
    seen: list[dict] = []
    original = sft.micro_batches_for

    def counting_micro_batches_for(rows, indices, config, pad_id):
        if not seen:
            seen.append({"first_call": time.time(), "rss": sampler.process.memory_info().rss})
        micro_batches = original(rows, indices, config, pad_id)
        seen.append({"tokens": sum(mb.num_tokens for mb in micro_batches),
                     "padded_tokens": sum(mb.input_ids.numel() for mb in micro_batches),
                     "loss_tokens": sum(mb.num_loss_tokens for mb in micro_batches), "rows": sorted(indices)})
        return micro_batches

    sft.micro_batches_for = counting_micro_batches_for
    run_dir = Path(task["scratch"]) / f"run-{task['name']}"  # fresh per attempt: posttrain refuses a used dir
    config = SFTConfig(
        model=MODEL_SPEC, output_dir=str(run_dir), seed=task["seed"], finetune=task["mode"],
        lora_r=16, lora_alpha=32, lora_dropout=0.0, lora_targets="all-linear",
        lr=task["lr"], schedule="cosine", warmup_ratio=0.0, min_lr_ratio=0.0, max_grad_norm=1.0, weight_decay=0.0,
        batch_size=task["batch_size"], max_steps=task["max_steps"], max_length=task["max_length"],
        data=task["data"], eval_fraction=0.0, save_format="adapter", tensorboard=False, progress=False,
        resume=False, num_threads=task["threads"], log_every=1,
        **({"micro_batch_tokens": task["posttrain_micro_batch_tokens"]} if task.get("posttrain_micro_batch_tokens") else {}),
    )
    summary = sft.train_sft(config)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if "train/loss" in r]
    counted = seen[1:]
    if len(train) != task["max_steps"] or len(counted) != len(train):
        raise SystemExit(f"expected {task['max_steps']} logged steps, got {len(train)} (counted {len(counted)})")
    notes = []
    for index, (record, count) in enumerate(zip(train, counted)):
        if record["train/loss_tokens"] != count["loss_tokens"]:
            notes.append(f"step {index + 1}: metrics.jsonl says {record['train/loss_tokens']} loss tokens, batches hold {count['loss_tokens']}")
        if count["rows"] != sorted(task["order"][index]):
            notes.append(f"step {index + 1}: trained rows differ from the planned order")
    steps = [{"end": r["time"], "loss": r["train/loss"], "loss_tokens": r["train/loss_tokens"],
              "tokens": c["tokens"], "padded_tokens": c["padded_tokens"]} for r, c in zip(train, counted)]
    return finish(task, "posttrain", steps, sampler, seen[0]["first_call"], seen[0]["rss"], seen[0]["first_call"] - started,
                  trainable_params=summary["trainable_params"], notes=notes, peak_flops=peak)


def trl_child(task: dict) -> dict:
    """TRL's SFTTrainer on prompt/completion rows with its defaults, plus the settings the benchmark fixes."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from posttrain.models.loading import resolve

    peak = measure_matmul_peak()
    sampler, started = Sampler(), time.time()
    model_dir = resolve(MODEL_SPEC)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    rows = [json.loads(line) for line in Path(task["data"]).read_text().splitlines()]
    dataset = Dataset.from_list(rows)
    micro = task["trl_micro_batch"]
    extra = {} if task["trl_gradient_checkpointing"] == "default" else {
        "gradient_checkpointing": task["trl_gradient_checkpointing"] == "on"}
    args = SFTConfig(
        output_dir=str(Path(task["scratch"]) / f"run-{task['name']}"), max_length=task["max_length"],
        per_device_train_batch_size=micro, gradient_accumulation_steps=task["batch_size"] // micro,
        learning_rate=task["lr"], lr_scheduler_type="cosine", warmup_steps=0, max_steps=task["max_steps"],
        weight_decay=0.0, max_grad_norm=1.0, logging_steps=1, save_strategy="no", report_to=[],
        bf16=False, fp16=False, use_cpu=True, dataloader_num_workers=0, packing=False,
        completion_only_loss=True, seed=task["seed"], disable_tqdm=True, **extra,
    )
    peft_config = None
    if task["mode"] == "lora":
        peft_config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")

    order = [index for batch in task["order"] for index in batch]

    class Trainer(SFTTrainer):
        def _get_train_sampler(self, train_dataset=None):
            if task["trl_order"] == "same":
                return order  # a list is a valid sampler: posttrain's batches, one after another
            return super()._get_train_sampler(train_dataset)

    steps: list[dict] = []
    losses: dict[int, float] = {}
    train_start: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if not steps:
                train_start.append(time.time())

        def on_step_end(self, args, state, control, **kwargs):
            steps.append({"end": time.time()})

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                losses[state.global_step] = float(logs["loss"])

    trainer = Trainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                      peft_config=peft_config, callbacks=[Clock()])
    if len(trainer.train_dataset) != len(rows):
        raise SystemExit(f"TRL kept {len(trainer.train_dataset)} of {len(rows)} rows; the row indices no longer match")
    batches: list[dict] = []
    collate = trainer.data_collator

    def counting_collator(examples):
        batch = collate(examples)
        labels = batch["labels"]
        batches.append({"tokens": int(batch["attention_mask"].sum()), "padded_tokens": batch["input_ids"].numel(),
                        "loss_tokens": int((labels[:, 1:] != -100).sum())})  # the positions its loss scores
        return batch

    trainer.data_collator = counting_collator
    rss_after_load = sampler.process.memory_info().rss
    setup = time.time() - started
    trainer.train()
    if len(steps) != task["max_steps"]:
        raise SystemExit(f"expected {task['max_steps']} steps, TRL ran {len(steps)}")
    accumulation = task["batch_size"] // micro
    for index, step in enumerate(steps):
        group = batches[index * accumulation : (index + 1) * accumulation]
        for key in ("tokens", "padded_tokens", "loss_tokens"):
            step[key] = sum(b[key] for b in group)
        step["loss"] = losses[index + 1]
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    notes = [f"gradient_checkpointing={trainer.args.gradient_checkpointing}", f"optim={trainer.args.optim}"]
    return finish(task, "trl", steps, sampler, train_start[0], rss_after_load, setup, trainable_params=trainable, notes=notes,
                  peak_flops=peak)


if __name__ == "__main__":
    sys.exit(main())
