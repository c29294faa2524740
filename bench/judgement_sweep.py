"""Recipe sweep for the quickstart's judgement: SFT (and DPO) variants, each evaluated on the safety,
red-team and everyday suites, to choose the quickstart's training schedule on evidence.

    python bench/judgement_sweep.py --model PATH.gguf --out bench/results/judgement_sweep.json
    python bench/judgement_sweep.py --model TINY_DIR --tiny      # a few steps of each (the tests' check)

Meant for a GPU (each variant's training and evaluation take about a minute there instead of ten on
2 CPU cores), in float32 so that its figures stand for the CPU quickstart's. Each variant is trained
from the base model (or from another variant's SFT model, for DPO), evaluated greedily, and its
result is written as soon as it is done, so a run cut short keeps what it finished. The training
settings each variant changes are recorded next to its figures; the quickstart's 20 minutes on 2 CPU
cores are checked by running the quickstart itself (an SFT step there costs about 5 s, a DPO step
about 13 s). Results: ``bench/results/judgement/``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

SUITES = ["safety", "red-team", "everyday", "seeds", "math", "instruction-following"]
KEYS = ["safety.refusal", "safety.over_refusal", "red-team.attack_success", "red-team.wrapped_over_refusal",
        "everyday.refused", "everyday.asks_details", "seeds.as_described", "math.accuracy",
        "instruction-following.accuracy"]
MIX = "bundled:capability_sft + bundled:judgement_sft"
SFT_BASE = dict(data=MIX, eval_data="bundled:capability_sft_eval + bundled:judgement_sft_eval", lr=1e-3,
                batch_size=8, max_steps=64, max_length=320, warmup_ratio=0.05, finetune="lora", lora_r=16,
                lora_alpha=32)
DPO_BASE = dict(data="bundled:judgement_preference", eval_data="bundled:judgement_preference_eval", limit=200,
                lr=1e-4, beta=0.1, batch_size=8, max_length=320, finetune="lora", lora_r=16, lora_alpha=32)

# name -> (SFT overrides or the name of a variant whose SFT model to start from, DPO overrides or None)
VARIANTS: list[tuple[str, dict | str, dict | None]] = [
    ("A: today's SFT", {}, None),
    ("A+dpo200: today's recipe", "A: today's SFT", {}),
    ("B: SFT 2x steps", {"max_steps": 128}, None),
    ("D: full FT lr 2e-5, 2x steps", {"finetune": "full", "lr": 2e-5, "max_steps": 128}, None),
    ("G: SFT 4x steps", {"max_steps": 256}, None),
    ("B+dpo534", "B: SFT 2x steps", {"limit": None}),
    ("H: LoRA lr 2e-3, 2x steps", {"lr": 2e-3, "max_steps": 128}, None),
    ("C: full FT lr 2e-5", {"finetune": "full", "lr": 2e-5}, None),
    ("E: LoRA r64, 2x steps", {"lora_r": 64, "lora_alpha": 128, "max_steps": 128}, None),
    ("A+dpo534 lr 3e-5", "A: today's SFT", {"limit": None, "lr": 3e-5}),
]


def train(kind: str, settings: dict, device: str) -> tuple[str, float]:
    from posttrain.config import DPOConfig, SFTConfig, load_config

    if kind == "sft":
        from posttrain.algos.sft import train_sft as run
        cls = SFTConfig
    else:
        from posttrain.algos.dpo import train_dpo as run
        cls = DPOConfig
    config = load_config(cls, None, dict(settings, progress=False, tensorboard=False, device=device,
                                         dtype="float32", save_format="merged"))
    started = time.perf_counter()
    run(config)
    return str(Path(config.output_dir) / "final"), time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", default="bench/results/judgement_sweep.json")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--tiny", action="store_true", help="2 steps per stage and 4 items per suite")
    parser.add_argument("--only", nargs="*", help="variant name prefixes to run (default: all)")
    args = parser.parse_args(argv)

    from posttrain.eval.run import evaluate
    from posttrain.util import write_text_atomic

    work = Path(tempfile.mkdtemp(prefix="sweep-"))
    out = Path(args.out)
    results: dict[str, dict] = json.loads(out.read_text()) if out.is_file() else {}
    sft_models: dict[str, str] = {}
    for name, sft, dpo in VARIANTS:
        if args.only and not any(name.startswith(prefix) for prefix in args.only):
            continue
        tag = name.split(":")[0]
        record: dict = {"stages": []}
        started = time.perf_counter()
        if isinstance(sft, str):
            model = sft_models.get(sft)
            if model is None:
                print(f"skip {name}: {sft} was not run", flush=True)
                continue
            record["from"] = sft
        else:
            settings = dict(SFT_BASE, **sft, model=args.model, output_dir=str(work / tag / "sft"))
            if args.tiny:
                settings.update(max_steps=2, batch_size=2, limit=16, eval_data=None)
            model, seconds = train("sft", settings, args.device)
            sft_models[name] = model
            record["stages"].append({"sft": {k: v for k, v in settings.items() if k not in ("model", "output_dir")},
                                     "seconds": round(seconds, 1)})
        if dpo is not None:
            settings = dict(DPO_BASE, **dpo, model=model, output_dir=str(work / tag / "dpo"))
            if args.tiny:
                settings.update(max_steps=2, batch_size=2, limit=16, eval_data=None)
            model, seconds = train("dpo", settings, args.device)
            record["stages"].append({"dpo": {k: v for k, v in settings.items() if k not in ("model", "output_dir")},
                                     "seconds": round(seconds, 1)})
        result = evaluate(model, SUITES, limit=4 if args.tiny else None, batch_size=64, progress=False,
                          device=args.device, dtype="float32")
        record["metrics"] = {key: {"value": round(m["value"], 3), "ci": [round(c, 3) for c in m["ci"]]}
                             for key, m in result["metrics"].items() if key in KEYS or key.startswith("safety.")}
        record["seconds"] = round(time.perf_counter() - started, 1)
        results[name] = record
        write_text_atomic(out, json.dumps(results, indent=1))
        short = "  ".join(f"{key.split('.', 1)[1][:14]}={record['metrics'][key]['value']:.2f}"
                          for key in KEYS if key in record["metrics"])
        print(f"{name} ({record['seconds']:.0f}s): {short}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
