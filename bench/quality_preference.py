"""Quality check of preference learning on the embedded model (the bar of the preference issue).

Trains, on the bundled preference set, a reward model and a DPO policy (both LoRA on the
embedded SmolLM2-135M-Instruct), then reports on the held-out pairs:
- the reward model's pairwise accuracy (target >= 80%);
- DPO's implicit-reward accuracy (target >= 80%);
- how greedy answers to the held-out prompts move: median answer length in words and mean
  reward-model score, base model against DPO model, plus how many answers end cleanly.

Run: python bench/quality_preference.py [--out bench/results/preference_quality.json]
About 20-30 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from posttrain.algos.dpo import train_dpo
from posttrain.algos.rm import train_rm
from posttrain.config import DPOConfig, RMConfig, load_config
from posttrain.data.formats import load_examples
from posttrain.models.loading import load_model, load_tokenizer
from posttrain.models.reward import RewardModel
from posttrain.rollout.generate import SamplingParams, generate_chat
from posttrain.util import quiet_libraries, write_text_atomic

COMMON = dict(model="smollm2-135m", data="bundled:preference_chat", eval_data="bundled:preference_chat_eval",
              finetune="lora", batch_size=8, max_length=512, progress=True, tensorboard=False, warmup_ratio=0.05)


def answers(model_spec: str, prompts: list[list[dict]]) -> list:
    model, tokenizer = load_model(model_spec), load_tokenizer(model_spec)
    return generate_chat(model, tokenizer, prompts, SamplingParams(max_new_tokens=160, temperature=0), batch_size=16)


def describe(name: str, completions, reward_model: RewardModel, prompts) -> dict:
    conversations = [prompt + [{"role": "assistant", "content": c.text}] for prompt, c in zip(prompts, completions)]
    scores = reward_model.score(conversations)
    return {
        "model": name,
        "median_words": statistics.median(len(c.text.split()) for c in completions),
        "mean_rm_score": statistics.fmean(scores),
        "ended_cleanly": sum(c.finish_reason == "stop" for c in completions) / len(completions),
        "examples": [{"prompt": p[-1]["content"], "answer": c.text} for p, c in list(zip(prompts, completions))[:5]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="bench/results/preference_quality.json")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    quiet_libraries()
    work = Path(tempfile.mkdtemp(prefix="pref-quality-"))
    started = time.time()

    rm_summary = train_rm(load_config(RMConfig, None, {**COMMON, "output_dir": str(work / "rm"), "lr": 1e-4,
                                                        "epochs": args.epochs}))
    dpo_summary = train_dpo(load_config(DPOConfig, None, {**COMMON, "output_dir": str(work / "dpo"), "lr": 1e-4,
                                                          "beta": 0.1, "epochs": args.epochs}))
    prompts = [example.prompt_messages for example in load_examples("bundled:preference_chat_eval", "preference").examples]
    reward_model = RewardModel.load(str(work / "rm" / "final"))
    base = describe("base", answers("smollm2-135m", prompts), reward_model, prompts)
    tuned = describe("dpo", answers(str(work / "dpo" / "final"), prompts), reward_model, prompts)

    result = {
        "rm_heldout_accuracy": rm_summary.get("eval/accuracy"),
        "dpo_heldout_reward_accuracy": dpo_summary.get("eval/rewards/accuracy"),
        "dpo_heldout_margin": dpo_summary.get("eval/rewards/margin"),
        "generation": [base, tuned],
        "minutes": round((time.time() - started) / 60, 1),
        "settings": {**COMMON, "epochs": args.epochs, "rm_lr": 1e-4, "dpo_lr": 1e-4, "beta": 0.1},
    }
    print(f"reward model held-out pairwise accuracy: {result['rm_heldout_accuracy']:.3f} (target >= 0.80)")
    print(f"DPO held-out implicit-reward accuracy:   {result['dpo_heldout_reward_accuracy']:.3f} (target >= 0.80)")
    for row in (base, tuned):
        print(f"{row['model']:>5}: median answer {row['median_words']} words, mean RM score {row['mean_rm_score']:.3f}, "
              f"ended cleanly {row['ended_cleanly']:.0%}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
