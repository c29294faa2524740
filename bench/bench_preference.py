"""Side-by-side preference benchmark: posttrain's DPO and reward-model trainers against TRL's
``DPOTrainer`` and ``RewardTrainer`` on this machine, plus a DPO loss parity check.

Run::

    python bench/bench_preference.py                 # 32 pairs, batch 4 (8 steps) for each trainer
    python bench/bench_preference.py --quick         # smoke test: 8 pairs, 2 steps
    python bench/bench_preference.py --kinds dpo --pairs 48

Both sides train the embedded SmolLM2-135M-Instruct with LoRA r=16 (alpha 32, all linear layers)
in float32 on 2 CPU threads, over the same pairs (the first ``--pairs`` of the bundled preference
set), batch 4, max length 512, one epoch, with each library's own defaults otherwise (TRL keeps
its default gradient checkpointing and its per-step reference forward; posttrain runs its
reference pass once before training, with the disk cache turned off so the pass is timed).

Timed: from the first reference forward (posttrain's reference pass, TRL's first step) to the end
of the last optimizer step; model loading and data preparation are excluded on both sides.
pairs/s = pairs trained / that time. Peak RSS is the child process's whole-life peak.

Parity: on one TRL-collated batch, with the same LoRA weights (B matrices set non-zero so the policy
differs from the reference), TRL's ``compute_loss`` and posttrain's sigmoid DPO loss, fed by
posttrain's chunked log-prob path, must agree to 1e-5.
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
TARGETS = {"dpo": {"speed": 3.0, "rss": 0.5}, "rm": {"speed": 2.0, "rss": None}}
PARITY_TOLERANCE = 1e-5
LORA = {"r": 16, "alpha": 32, "dropout": 0.0, "targets": "all-linear"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=32, help="pairs trained (one epoch), both sides")
    parser.add_argument("--quick", action="store_true", help="smoke test: 8 pairs")
    parser.add_argument("--kinds", default="dpo,rm", help="comma-separated: dpo, rm")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-parity", action="store_true", help="skip the DPO loss parity check")
    parser.add_argument("--max-others", type=float, default=0.10)
    parser.add_argument("--idle-wait", type=float, default=900)
    parser.add_argument("--out", default=str(HERE / "results" / "preference.json"))
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.pairs = 8
    return args


def run_child(task: dict, scratch: Path, name: str, threads: int) -> dict:
    return bench_sft.run_child(task, scratch, name, threads, script=__file__)


def write_pairs(count: int, scratch: Path) -> dict:
    """The first ``count`` pairs of the bundled set, in posttrain's and TRL's conversational forms."""
    from importlib.util import find_spec

    source = Path(find_spec("posttrain").submodule_search_locations[0]) / "data" / "bundled" / "preference_chat.jsonl"
    rows = [json.loads(line) for line in source.read_text().splitlines() if line.strip()][:count]
    if len(rows) < count:
        raise SystemExit(f"[bench] only {len(rows)} pairs in {source}")
    ours, trl = scratch / "posttrain.jsonl", scratch / "trl.jsonl"
    ours.write_text("".join(json.dumps({k: r[k] for k in ("prompt", "chosen", "rejected")}) + "\n" for r in rows))
    trl.write_text("".join(json.dumps({"prompt": r["prompt"], "chosen": [{"role": "assistant", "content": r["chosen"]}],
                                       "rejected": [{"role": "assistant", "content": r["rejected"]}]}) + "\n" for r in rows))
    return {"source": str(source), "pairs": count, "posttrain_file": str(ours), "trl_file": str(trl)}


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args.child)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if not kinds or any(k not in TARGETS for k in kinds):
        raise SystemExit(f"--kinds must list dpo and/or rm, got {args.kinds!r}")
    if args.pairs % args.batch_size or args.pairs // args.batch_size < 2:
        raise SystemExit("--pairs must be a multiple of --batch-size, at least two batches")
    scratch = Path(tempfile.mkdtemp(prefix="bench-pref-"))
    print(f"[bench] scratch dir: {scratch}")
    data = write_pairs(args.pairs, scratch)
    common = {"pairs": args.pairs, "batch_size": args.batch_size, "max_steps": args.pairs // args.batch_size,
              "max_length": args.max_length, "threads": args.threads, "seed": 0, "scratch": str(scratch), "lr": 5e-5}
    runs = []
    for kind in kinds:
        for framework in ("posttrain", "trl"):
            busy = wait_for_idle(args.idle_wait, args.max_others)
            task = {**common, "kind": f"{framework}_{kind}", "data": data[f"{framework}_file"]}
            raw = run_child(task, scratch, f"{framework}-{kind}", args.threads)
            runs.append({**summarize(raw, args.pairs), "busy_before": busy})
    parity = None
    if "dpo" in kinds and not args.no_parity:
        parity = run_child({**common, "kind": "parity", "data": data["trl_file"]}, scratch, "parity", args.threads)
    result = {
        "benchmark": "preference", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": {**{k: v for k, v in common.items() if k != "scratch"}, "kinds": kinds, "lora": LORA,
                     "dtype": "float32", "device": "cpu", "epochs": 1, "schedule": "linear, no warmup"},
        "data": {k: v for k, v in data.items() if not k.endswith("_file")},
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "runs": runs, "comparison": compare(runs, kinds), "parity": parity,
    }
    print_report(result)
    write_json_atomic(Path(args.out), result)
    print(f"[bench] wrote {args.out}")
    return 0


def summarize(raw: dict, pairs: int) -> dict:
    ends = raw["step_ends"]
    seconds = ends[-1] - raw["start"]
    # Steps 2..N alone (the steady state, no reference pass and no warm-up step), for reference.
    steady = (len(ends) - 1) * (pairs / len(ends)) / (ends[-1] - ends[0])
    return {"framework": raw["framework"], "kind": raw["kind"], "seconds": seconds, "pairs_per_s": pairs / seconds,
            "steady_pairs_per_s": steady, "reference_seconds": raw.get("reference_seconds"),
            "peak_rss_gb": raw["ru_maxrss_bytes"] / GB, "cpu_busy_others": raw["window"]["others_cpu_share"],
            "losses": raw["losses"], "notes": raw.get("notes", [])}


def compare(runs: list[dict], kinds: list[str]) -> dict:
    out = {}
    for kind in kinds:
        by = {r["framework"]: r for r in runs if r["kind"] == kind}
        speed = by["posttrain"]["pairs_per_s"] / by["trl"]["pairs_per_s"]
        rss = by["posttrain"]["peak_rss_gb"] / by["trl"]["peak_rss_gb"]
        target = TARGETS[kind]
        out[kind] = {"pairs_per_s_ratio": speed, "steady_ratio": by["posttrain"]["steady_pairs_per_s"] / by["trl"]["steady_pairs_per_s"],
                     "peak_rss_ratio": rss, "speed_target": target["speed"], "speed_target_met": speed >= target["speed"],
                     "rss_target": target["rss"], "rss_target_met": None if target["rss"] is None else rss <= target["rss"],
                     "first_loss": {"posttrain": by["posttrain"]["losses"][0], "trl": by["trl"]["losses"][0]}}
    return out


def print_report(result: dict) -> None:
    s = result["settings"]
    print(f"\nPreference benchmark: SmolLM2-135M fp32 LoRA r=16, {s['threads']} threads, {s['pairs']} pairs, "
          f"batch {s['batch_size']}, {s['max_steps']} steps, max_length {s['max_length']}")
    header = f"{'trainer':<5} {'framework':<10} {'pairs/s':>8} {'steady':>8} {'ref pass s':>10} {'peak RSS GB':>11} {'1st loss':>9} {'others CPU':>10}"
    print(header + "\n" + "-" * len(header))
    for r in result["runs"]:
        ref = f"{r['reference_seconds']:.1f}" if r["reference_seconds"] is not None else "in steps"
        print(f"{r['kind']:<5} {r['framework']:<10} {r['pairs_per_s']:>8.3f} {r['steady_pairs_per_s']:>8.3f} {ref:>10} "
              f"{r['peak_rss_gb']:>11.2f} {r['losses'][0]:>9.4f} {100 * r['cpu_busy_others']:>9.0f}%")
    for kind, c in result["comparison"].items():
        rss_note = "" if c["rss_target"] is None else f" (target <= {c['rss_target']}x: {'met' if c['rss_target_met'] else 'NOT met'})"
        print(f"{kind}: ours/TRL pairs/s {c['pairs_per_s_ratio']:.2f}x incl. reference pass (target >= {c['speed_target']:.0f}x: "
              f"{'met' if c['speed_target_met'] else 'NOT met'}; steady-state steps {c['steady_ratio']:.2f}x), "
              f"peak RSS {c['peak_rss_ratio']:.2f}x{rss_note}")
    p = result.get("parity")
    if p:
        print(f"DPO loss parity on one batch of {p['pairs']} pairs: TRL {p['trl_loss']:.8f}, posttrain {p['posttrain_loss']:.8f}, "
              f"|diff| {p['abs_difference']:.2e} (tolerance {PARITY_TOLERANCE:g}: {'met' if p['parity_met'] else 'NOT met'}); "
              f"largest per-sequence log-prob gap to a full-logits forward {p['max_logp_difference']:.2e}")
    print()


# ---- children ------------------------------------------------------------------------------


def child_main(task_path: str) -> int:
    task = json.loads(Path(task_path).read_text())
    import torch

    torch.set_num_threads(task["threads"])
    handlers = {"posttrain_dpo": posttrain_child, "posttrain_rm": posttrain_child,
                "trl_dpo": trl_child, "trl_rm": trl_child, "parity": parity_child}
    result = handlers[task["kind"]](task)
    write_json_atomic(Path(task["result"]), result)
    return 0


def finish(task: dict, framework: str, sampler: Sampler, start: float, step_ends: list[float], losses, **extra) -> dict:
    import resource

    window = sampler.window(start, step_ends[0], step_ends[-1])
    return {"framework": framework, "kind": task["kind"].split("_")[1], "start": start, "step_ends": step_ends,
            "losses": losses, "window": window,
            "ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, **extra}


def posttrain_child(task: dict) -> dict:
    """posttrain's train_dpo / train_rm; the clock starts at the reference pass (DPO) or the first step."""
    from posttrain.algos import dpo
    from posttrain.algos.rm import train_rm
    from posttrain.config import DPOConfig, RMConfig
    from posttrain.training import loop

    measure_matmul_peak(repeats=3)  # the same warm-up of the BLAS threads as the TRL child
    sampler = Sampler()
    stamps: dict[str, float] = {}

    def stamped(name, fn):
        def wrapper(*args, **kwargs):
            stamps.setdefault(name, time.time())
            result = fn(*args, **kwargs)
            stamps.setdefault(name + "_end", time.time())
            return result
        return wrapper

    dpo.reference_logps = stamped("reference", dpo.reference_logps)
    loop.run_steps = stamped("steps", loop.run_steps)
    kind = task["kind"].split("_")[1]
    run_dir = Path(task["scratch"]) / f"run-{task['name']}"
    common = dict(model=MODEL_SPEC, output_dir=str(run_dir), seed=task["seed"], finetune="lora", lora_r=LORA["r"],
                  lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"], lora_targets=LORA["targets"], lr=task["lr"],
                  schedule="linear", warmup_ratio=0.0, batch_size=task["batch_size"], max_length=task["max_length"],
                  data=task["data"], eval_fraction=0.0, tensorboard=False, progress=False, resume=False,
                  num_threads=task["threads"], log_every=1, epochs=1)
    if kind == "dpo":
        dpo.train_dpo(DPOConfig(**common, loss="sigmoid", beta=0.1, reference_cache=False))
    else:
        train_rm(RMConfig(**common))
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if "train/loss" in r]
    if len(train) != task["max_steps"]:
        raise SystemExit(f"expected {task['max_steps']} logged steps, got {len(train)}")
    start = stamps.get("reference", stamps["steps"])
    reference = stamps["reference_end"] - stamps["reference"] if "reference" in stamps else None
    return finish(task, "posttrain", sampler, start, [r["time"] for r in train], [r["train/loss"] for r in train],
                  reference_seconds=reference)


def trl_dataset(path: str):
    from datasets import Dataset

    return Dataset.from_list([json.loads(line) for line in Path(path).read_text().splitlines()])


def trl_trainer(task: dict, callbacks=()):
    """TRL's DPOTrainer or RewardTrainer with its defaults plus the settings the benchmark fixes."""
    import torch
    from peft import LoraConfig
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )
    from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer

    from posttrain.models.loading import resolve

    kind = "dpo" if task["kind"] in ("trl_dpo", "parity") else "rm"
    model_dir = resolve(MODEL_SPEC)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    common = dict(output_dir=str(Path(task["scratch"]) / f"run-{task['name']}"), max_length=task["max_length"],
                  per_device_train_batch_size=task["batch_size"], gradient_accumulation_steps=1, learning_rate=task["lr"],
                  lr_scheduler_type="linear", warmup_steps=0, num_train_epochs=1, weight_decay=0.0, max_grad_norm=1.0,
                  logging_steps=1, save_strategy="no", report_to=[], bf16=False, fp16=False, use_cpu=True,
                  dataloader_num_workers=0, seed=task["seed"], disable_tqdm=True)
    if kind == "dpo":
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        peft = LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                          target_modules=LORA["targets"], task_type="CAUSAL_LM")
        return DPOTrainer(model=model, args=DPOConfig(**common, beta=0.1, loss_type="sigmoid"),
                          train_dataset=trl_dataset(task["data"]), processing_class=tokenizer, peft_config=peft,
                          callbacks=list(callbacks))
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32, num_labels=1)
    peft = LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"], target_modules=LORA["targets"],
                      task_type="SEQ_CLS", modules_to_save=["score"])
    return RewardTrainer(model=model, args=RewardConfig(**common), train_dataset=trl_dataset(task["data"]),
                         processing_class=tokenizer, peft_config=peft, callbacks=list(callbacks))


def trl_child(task: dict) -> dict:
    from transformers import TrainerCallback

    measure_matmul_peak(repeats=3)
    sampler = Sampler()
    step_ends: list[float] = []
    losses: dict[int, float] = {}
    start: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if not start:
                start.append(time.time())

        def on_step_end(self, args, state, control, **kwargs):
            step_ends.append(time.time())

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                losses[state.global_step] = float(logs["loss"])

    trainer = trl_trainer(task, [Clock()])
    trainer.train()
    if len(step_ends) != task["max_steps"]:
        raise SystemExit(f"expected {task['max_steps']} steps, TRL ran {len(step_ends)}")
    notes = [f"gradient_checkpointing={trainer.args.gradient_checkpointing}",
             f"precompute_ref_log_probs={getattr(trainer.args, 'precompute_ref_log_probs', None)}"]
    return finish(task, "trl", sampler, start[0], step_ends, [losses[i + 1] for i in range(len(step_ends))], notes=notes)


def parity_child(task: dict) -> dict:
    """TRL's DPO loss and posttrain's on one TRL-collated batch with identical weights."""
    import torch

    from posttrain.losses.preference import PairedLogps, get_loss
    from posttrain.models.logprobs import sequence_token_logps

    trainer = trl_trainer(task)
    model = trainer.model
    torch.manual_seed(0)
    with torch.no_grad():  # LoRA B starts at zero (policy == reference); move it so the loss is not log 2
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.02)
    model.eval()
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    with torch.no_grad():
        trl_loss = float(trainer.compute_loss(model, batch))

        input_ids, attention_mask, completion_mask = batch["input_ids"], batch["attention_mask"], batch["completion_mask"]
        # TRL flushes rows left (right padding), which is the layout posttrain's forward expects.
        lengths = attention_mask.sum(dim=1)
        assert bool((attention_mask == (torch.arange(input_ids.shape[1])[None, :] < lengths[:, None])).all())
        targets = torch.cat([input_ids[:, 1:], torch.zeros_like(input_ids[:, :1])], dim=1)  # (S, T)
        target_mask = torch.cat([completion_mask[:, 1:], torch.zeros_like(completion_mask[:, :1])], dim=1).bool()

        def summed(disable_adapters: bool) -> torch.Tensor:
            from contextlib import nullcontext

            with model.disable_adapter() if disable_adapters else nullcontext():
                token_logps, positions = sequence_token_logps(model, input_ids, targets, target_mask)
            rows = positions // input_ids.shape[1]
            return torch.zeros(input_ids.shape[0], dtype=token_logps.dtype).index_add(0, rows, token_logps)

        policy, reference = summed(False), summed(True)
        chosen, rejected = policy.chunk(2)
        ref_chosen, ref_rejected = reference.chunk(2)
        counts = target_mask.sum(dim=1)
        ours = get_loss("sigmoid").fn(PairedLogps(chosen, rejected, *counts.chunk(2), ref_chosen, ref_rejected), beta=0.1)
        # Per-sequence log-probs from a plain full-logits forward, for the gap report.
        logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits.float()  # (S, T, V)
        plain = logits.log_softmax(-1).gather(-1, targets[..., None]).squeeze(-1)  # (S, T)
        plain_logps = (plain * target_mask).sum(dim=1)
    difference = abs(float(ours.loss) - trl_loss)
    return {"pairs": input_ids.shape[0] // 2, "trl_loss": trl_loss, "posttrain_loss": float(ours.loss),
            "abs_difference": difference, "parity_met": difference <= PARITY_TOLERANCE,
            "max_logp_difference": float((plain_logps - policy).abs().max()), "tolerance": PARITY_TOLERANCE}


if __name__ == "__main__":
    sys.exit(main())
