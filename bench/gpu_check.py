"""GPU check: posttrain's trainers in bf16 on one CUDA GPU, in under 10 minutes.

Run on a machine with one CUDA GPU and posttrain installed::

    python bench/gpu_check.py                                  # embedded SmolLM2-135M, results to bench/results/gpu_check.json
    python bench/gpu_check.py --model path/to/model.gguf       # the same weights from a .gguf file or HF directory
    python bench/gpu_check.py --smoke --model DIR              # a few steps of each on any device (used by the tests)
    python bench/gpu_check.py --large-only --model DIR         # only the 1.7B-class runs (DIR lends its tokenizer)

What it runs, each through the project's own trainers (``train_sft``, ``train_dpo``, ``train_grpo``)
with ``dtype: bfloat16`` (see posttrain.training.precision):

1. SFT, LoRA and full fine-tuning, on the bundled capability demonstrations;
2. DPO (LoRA) on the bundled judgement preference pairs;
3. GRPO (LoRA) on two-digit addition with the verifiable reward, native engine; with the vLLM
   engine too when ``vllm`` is importable;
4. LoRA SFT steps on a randomly initialised model of a 1.7B-class Llama configuration
   (SmolLM2-1.7B's shape: 24 layers, hidden 2048, MLP 8192, 32 heads, vocab 49152; nothing downloaded).

For each it prints and saves tokens/s (median over the timed steps, the first two left out as
warm-up), peak GPU memory (``torch.cuda.max_memory_allocated``), and model-FLOPs utilisation
against the device's bf16 peak, both the datasheet's dense figure where the device is known and
one measured here (bf16 8192^3 matmuls). Model FLOPs per token: ``6N`` (full) or ``4N`` (LoRA: the
frozen weights need no weight gradient) plus causal attention, ``3 * layers * hidden * T`` forward
and backward, with N the parameters that multiply (layers and the output head) and T the run's
``max_length`` (an upper bound on the row length: attention is under 5% of the total here). The
rate is the trainer's own ``loss_tokens_per_s``: every token carries loss in the SFT runs here; in
DPO and GRPO only the answers do (their prompts are computed but not counted), and GRPO's step time
includes generating the rollouts, so their utilisation is a lower bound. It asserts that every loss is finite and falls (SFT, DPO) and that GRPO raises
the held-out reward, and exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
# Dense bf16 tensor-core peaks from the vendors' datasheets (SXM parts), TFLOP/s.
DATASHEET_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "RTX 4090": 165.0}
LARGE_SHAPE = dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=24, num_attention_heads=32,
                   num_key_value_heads=32, vocab_size=49152, max_position_embeddings=8192, tie_word_embeddings=True,
                   rms_norm_eps=1e-5, rope_theta=130000.0)


def log(message: str) -> None:
    print(message, flush=True)


def measured_peak_tflops(device: torch.device) -> float | None:
    """bf16 matmul rate of this device: mean of 10 timed 8192^3 products after 3 warm-ups."""
    if device.type != "cuda":
        return None
    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(10):
        a @ b
    torch.cuda.synchronize()
    return 10 * 2 * 8192**3 / (time.perf_counter() - start) / 1e12


def datasheet_peak(device: torch.device) -> tuple[str, float | None]:
    if device.type != "cuda":
        return "cpu", None
    name = torch.cuda.get_device_name(device)
    for key, value in DATASHEET_BF16_TFLOPS.items():
        if key in name:
            return name, value
    return name, None


def model_shape(model_dir: str) -> dict:
    config = json.loads(Path(model_dir, "config.json").read_text())
    layers, hidden, inter = config["num_hidden_layers"], config["hidden_size"], config["intermediate_size"]
    heads, kv_heads, vocab = config["num_attention_heads"], config.get("num_key_value_heads"), config["vocab_size"]
    head_dim = hidden // heads
    kv = (kv_heads or heads) * head_dim
    per_layer = hidden * hidden * 2 + hidden * kv * 2 + 3 * hidden * inter  # q, o; k, v; gate, up, down
    return {"layers": layers, "hidden": hidden, "matmul_params": layers * per_layer + vocab * hidden}


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def timed_rate(rows: list[dict], key: str) -> float | None:
    values = [row[key] for row in rows if key in row][2:]  # steps 1-2: warm-up (allocator, kernels' autotuning)
    return statistics.median(values) if values else None


def falls(series: list[float]) -> bool:
    k = max(1, len(series) // 4)
    return all(math.isfinite(x) for x in series) and sum(series[-k:]) / k < sum(series[:k]) / k


class Check:
    def __init__(self, device: torch.device, peaks: dict):
        self.device, self.peaks, self.results, self.failures = device, peaks, {}, []

    def run(self, name: str, train, config, shape: dict, flops_factor: int, rate_key: str, check) -> None:
        log(f"\n== {name}")
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
        started = time.perf_counter()
        try:
            summary = train(config)
        except Exception as error:  # a failed stage is reported, and the others still run
            self.failures.append(f"{name}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
            self.results[name] = {"error": self.failures[-1]}
            log(f"FAILED {self.failures[-1]}")
            return
        wall = time.perf_counter() - started
        rows = records(Path(config.output_dir))
        losses = [row["train/loss"] for row in rows if "train/loss" in row]
        result = {"wall_s": round(wall, 1), "steps": len(losses), "first_loss": losses[0] if losses else None,
                  "last_loss": losses[-1] if losses else None}
        if self.device.type == "cuda":
            result["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated(self.device) / 1e9, 2)
        tokens_per_s = timed_rate(rows, rate_key)
        if tokens_per_s is not None:
            result["tokens_per_s"] = round(tokens_per_s, 1)
            # Model FLOPs per token: flops_factor * N plus causal attention (forward and backward).
            per_token = flops_factor * shape["matmul_params"] + 3 * shape["layers"] * shape["hidden"] * config.max_length
            achieved = tokens_per_s * per_token / 1e12
            result["model_tflops"] = round(achieved, 2)
            for label, peak in self.peaks.items():
                if peak:
                    result[f"mfu_vs_{label}"] = round(achieved / peak, 4)
        message = check(rows, summary, result)
        if message:
            self.failures.append(f"{name}: {message}")
        result["check"] = message or "ok"
        self.results[name] = result
        log(json.dumps(result))


def build_large_model(tokenizer_source: str, target: Path, device: torch.device) -> str:
    """A randomly initialised 1.7B-class Llama in bf16 with the embedded model's tokenizer, saved to ``target``."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_source)
    config = LlamaConfig(**LARGE_SHAPE, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    del model
    return str(target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="Model spec (embedded name, .gguf file, HF directory).")
    parser.add_argument("--out", default=str(HERE / "results" / "gpu_check.json"))
    parser.add_argument("--smoke", action="store_true", help="A few steps of each, any device, no 1.7B model.")
    parser.add_argument("--skip-large", action="store_true", help="Leave out the 1.7B-class model.")
    parser.add_argument("--large-only", action="store_true",
                        help="Only the 1.7B-class runs (--model then only lends its tokenizer).")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--engines", default="native,vllm",
                        help="GRPO rollout engines to run (vllm only where it is installed).")
    parser.add_argument("--dtype", default="bfloat16", help="Training precision (float32 keeps a CPU smoke run fast).")
    args = parser.parse_args()

    from posttrain.algos.dpo import train_dpo
    from posttrain.algos.grpo import train_grpo
    from posttrain.algos.sft import train_sft
    from posttrain.config import DPOConfig, GRPOConfig, SFTConfig, load_config
    from posttrain.models.loading import resolve
    from posttrain.training.device import resolve_device

    device = resolve_device(args.device, None)
    if device.type != "cuda" and not args.smoke:
        print("gpu_check: no CUDA device (torch.cuda.is_available() is False); --smoke runs it anywhere", file=sys.stderr)
        return 2
    name, sheet = datasheet_peak(device)
    measured = measured_peak_tflops(device)
    peaks = {"datasheet": sheet, "measured": measured}
    log(f"device {name}; torch {torch.__version__}; bf16 peak: datasheet {sheet} TFLOP/s, measured "
        f"{measured and round(measured, 1)} TFLOP/s")
    model_dir = resolve(args.model)
    shape = model_shape(model_dir)
    smoke = args.smoke
    steps = dict(sft=3 if smoke else 30, dpo=3 if smoke else 20, grpo=2 if smoke else 16, large=3 if smoke else 12)
    dtype = args.dtype
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    common = dict(progress=False, tensorboard=False, dtype=dtype, device=args.device, seed=0, save_format="adapter",
                  limit=64 if smoke else None)
    check = Check(device, peaks)

    def sft_config(mode: str, model: str, out: str, max_steps: int, **extra):
        values = dict(model=model, data="bundled:capability_sft", output_dir=str(work / out), finetune=mode,
                      max_steps=max_steps, batch_size=16, max_length=512, micro_batch_tokens=8192,
                      lr=2e-4 if mode == "lora" else 2e-5, warmup_ratio=0.0, eval_fraction=0.02,
                      assistant_only_loss=False, **common)
        values.update(extra)
        if mode == "full":
            values["save_format"] = "merged"
        return load_config(SFTConfig, None, values)

    def loss_falls(rows, summary, result):
        losses = [row["train/loss"] for row in rows if "train/loss" in row]
        if not all(math.isfinite(x) for x in losses):
            return f"non-finite loss: {losses}"
        return None if smoke or falls(losses) else f"loss did not fall: {losses[:3]} ... {losses[-3:]}"

    if not args.large_only:
        for mode in ("lora", "full"):
            config = sft_config(mode, model_dir, f"sft-{mode}", steps["sft"])
            check.run(f"sft_{mode}", train_sft, config, shape, 4 if mode == "lora" else 6, "train/loss_tokens_per_s", loss_falls)
        saved = work / "sft-full" / "final" / "config.json"
        if saved.exists():
            check.results["sft_full"]["saved_dtype"] = json.loads(saved.read_text()).get("dtype")

        dpo = load_config(DPOConfig, None, dict(
            model=model_dir, data="bundled:judgement_preference", output_dir=str(work / "dpo"), finetune="lora",
            max_steps=steps["dpo"], batch_size=16, max_length=512, micro_batch_tokens=8192, lr=1e-4, warmup_ratio=0.0,
            eval_fraction=0.02, reference_cache=False, **common))
        check.run("dpo_lora", train_dpo, dpo, shape, 4, "train/loss_tokens_per_s", loss_falls)

        def reward_rises(rows, summary, result):
            before = next((row["eval/reward_mean"] for row in rows if row.get("step") == 0 and "eval/reward_mean" in row), None)
            after = summary.get("eval/reward_mean")
            result["eval_reward_before"], result["eval_reward_after"] = before, after
            completions = [row["train/completions_per_s"] for row in rows if "train/completions_per_s" in row]
            result["completions_per_s"] = round(statistics.median(completions[1:] or completions), 1) if completions else None
            if not all(math.isfinite(row["train/loss"]) for row in rows if "train/loss" in row):
                return "non-finite loss"
            if smoke or (before is not None and after is not None and after > before):
                return None
            return f"held-out reward did not rise: {before} -> {after}"

        has_engine_option = "engine" in GRPOConfig.model_fields
        asked = [name.strip() for name in args.engines.split(",") if name.strip()]
        have_vllm = has_engine_option and importlib.util.find_spec("vllm") is not None
        engines = [name for name in asked if name == "native" or (name == "vllm" and have_vllm)]
        if "vllm" in asked and not have_vllm:
            check.results["grpo_lora_vllm"] = {"skipped": "vllm is not installed here (pip install 'posttrain[vllm]')"}
        for engine in engines:
            values = dict(model=model_dir, data="bundled:addition", eval_data="bundled:addition_eval",
                          output_dir=str(work / f"grpo-{engine}"), reward="math_correct", finetune="lora", lr=3e-4,
                          schedule="constant", batch_size=16, num_generations=8, max_new_tokens=40, temperature=0.7,
                          max_length=192, micro_batch_tokens=8192, rollout_batch_size=128, max_steps=steps["grpo"],
                          eval_prompts=8 if smoke else 100, **common)
            if engine != "native":
                values["engine"] = engine
            check.run(f"grpo_lora_{engine}", train_grpo, load_config(GRPOConfig, None, values), shape, 4,
                      "train/loss_tokens_per_s", reward_rises)

    if args.large_only or not (smoke or args.skip_large):
        large_dir = build_large_model(model_dir, work / "llama-1.7b-random", device)
        for mode in ("lora", "full"):
            config = sft_config(mode, large_dir, f"sft-large-{mode}", steps["large"], max_length=1024,
                                micro_batch_tokens=16384, lr=1e-3 if mode == "lora" else 1e-4, save_format="adapter")
            check.run(f"sft_{mode}_1.7b_random", train_sft, config, model_shape(large_dir), 4 if mode == "lora" else 6,
                      "train/loss_tokens_per_s", loss_falls)

    report = {"device": name, "torch": torch.__version__, "peak_tflops": peaks, "model": args.model,
              "smoke": smoke, "results": check.results, "failures": check.failures}
    if not smoke or args.out != parser.get_default("out"):
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1))
        log(f"\nwrote {args.out}")
    log("\n" + ("all checks passed" if not check.failures else "FAILED:\n  " + "\n  ".join(check.failures)))
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
