"""Rejection sampling (``posttrain rejection-sample``): the best of n sampled answers, as SFT data.

Run: ``posttrain rejection-sample --data prompts.jsonl --reward math_correct --n 8``, then train on
the result with ``posttrain sft --data runs/rejection/sft.jsonl``; a second round samples from the
SFT'd model: ``--model runs/sft/final --round 2 --output runs/rejection/round2.jsonl``.

1. **Prompts.** Rows ``{"prompt", ...}``; the other fields reach the reward (``answer`` for
   ``math_correct``).
2. **Sample** ``n`` answers per prompt with the KV-cache engine, a chunk of ``batch_size // n``
   prompts at a time. Chunk ``c`` is seeded from ``(seed, round, c)``, so a run is reproducible
   and each round draws fresh samples. ``engine: vllm`` samples with vLLM instead
   (:mod:`posttrain.rollout.vllm_engine`; its random numbers differ, so its samples differ too).
3. **Score** every answer with ``reward`` (builtin names, ``module:function``, weighted) plus
   ``reward_model`` when given. A reward that raises is printed with its prompt and scores 0; if
   every sample of a chunk fails, the run stops.
4. **Select** per prompt: blank answers never count, nor do answers cut off at ``max_new_tokens``
   (unless ``keep_truncated``) or repeats of the same text (``dedupe``). The rest are ranked by
   score, then the shorter answer, then the earlier sample; the top ``keep`` whose score reaches
   ``threshold`` are kept.
5. **Write** the kept answers to ``output`` as SFT rows ``{"messages": prompt + [assistant],
   "score", "prompt_index", "sample_index", "round"}``, every scored sample to
   ``<output stem>.samples.jsonl`` and the statistics to ``<output stem>.stats.json``.
"""

from __future__ import annotations

import json
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from posttrain.algos.rl import PromptRow
from posttrain.config import RejectionConfig
from posttrain.data.formats import load_examples
from posttrain.data.render import end_of_turn_ids, render_prompt
from posttrain.errors import UserError
from posttrain.models.loading import load_model, load_tokenizer
from posttrain.rewards import (
    CombinedReward,
    WeightedReward,
    combine,
    reward_model_scorer,
    score_rollouts,
)
from posttrain.rollout.generate import SamplingParams, generate_ids
from posttrain.rollout.kv_cache import cpu_decode_linears
from posttrain.rollout.vllm_engine import engine_for_spec, require_vllm, vllm_dtype
from posttrain.training import precision
from posttrain.training.device import local_rank, prefer_flash_attention, resolve_device
from posttrain.util import write_text_atomic

QUANTILES = {"min": 0.0, "p10": 0.1, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p90": 0.9, "max": 1.0}
SHOWN_FAILURES = 5  # reward failures printed in full; the rest are only counted


@dataclass
class Candidate:
    """One sampled answer to one prompt, scored."""

    prompt_index: int
    sample_index: int
    text: str
    score: float
    truncated: bool  # cut off at max_new_tokens
    reward_failed: bool = False  # a reward raised: the score (0) means nothing


def build_reward(config: RejectionConfig, device: torch.device | str = "cpu"):
    """The weighted reward functions plus the reward model (loaded now, on ``device``, so a bad path
    fails before sampling)."""
    if not config.reward and not config.reward_model:
        raise UserError("no reward: set `reward` (a builtin name or module:function) "
                        "and/or `reward_model` (a reward model directory)")
    parts = combine(config.reward).parts if config.reward else []
    if config.reward_model:
        scorer = reward_model_scorer(config.reward_model, batch_size=config.batch_size)
        scorer.reward_model.to(device)  # loads it
        parts.append(WeightedReward("reward_model", scorer))
    return CombinedReward(parts)


def load_prompts(config: RejectionConfig, tokenizer) -> tuple[list[PromptRow], int]:
    """The prompt rows, rendered, and how many bad rows were skipped."""
    if not config.data:
        raise UserError("no prompts: set `data` in the config or pass --data FILE")
    loaded = load_examples(config.data, "prompts", skip_bad_rows=config.skip_bad_rows, limit=config.limit)
    rows = [PromptRow(example.prompt_messages, render_prompt(example.prompt_messages, tokenizer), example.fields)
            for example in loaded.examples]
    return rows, len(loaded.skipped)


def sample_and_score(model, tokenizer, rows: list[PromptRow], reward, config: RejectionConfig, engine=None
                     ) -> tuple[list[Candidate], int]:
    """All ``n`` scored samples of every prompt, in (prompt, sample) order, and how many of them a reward failed on.
    ``engine`` (a ``RolloutEngine``, e.g. vLLM's) samples instead of ``model`` when given."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eos_ids = end_of_turn_ids(tokenizer, model)

    def decode(ids: list[int]) -> str:
        return tokenizer.decode(ids, skip_special_tokens=True)

    params = SamplingParams(max_new_tokens=config.max_new_tokens, temperature=config.temperature, top_p=config.top_p,
                            top_k=config.top_k, n=config.n, stop=config.stop,
                            include_stop=config.include_stop)
    # Each call decodes batch_size rows at a time and refills the rows of finished answers, so it gets
    # four batches' worth of prompts: the rows stay full while the progress bar still moves.
    prompts_per_chunk = max(1, 4 * config.batch_size // config.n)
    candidates: list[Candidate] = []
    failures = 0
    # Every chunk decodes with the same weights: lay them out for the CPU kernels once for all.
    with tqdm(total=len(rows), desc=f"rejection sampling (round {config.round})", unit="prompt",
              disable=not config.progress, dynamic_ncols=True) as bar, \
            (cpu_decode_linears(model) if engine is None else nullcontext()):
        for chunk, start in enumerate(range(0, len(rows), prompts_per_chunk)):
            batch = rows[start : start + prompts_per_chunk]
            seed = ((config.seed * 1_000_003 + config.round) * 1_000_003 + chunk) % 2**63
            if engine is not None:
                completions = engine.generate([row.prompt_ids for row in batch], replace(params, seed=seed))
            else:
                completions = generate_ids(model, [row.prompt_ids for row in batch], replace(params, seed=seed),
                                           eos_token_ids=eos_ids, pad_token_id=pad_id, decode=decode,
                                           batch_size=config.batch_size)
            asked = [batch[c.prompt_index] for c in completions]
            scores, _, chunk_failures = score_rollouts(
                reward, [row.text for row in asked], [c.text for c in completions], [row.fields for row in asked])
            for failure in chunk_failures[: max(0, SHOWN_FAILURES - failures)]:
                tqdm.write(f"reward failed: {failure['error']} (prompt: {failure['prompt'][:120]!r})")
            failed = {failure["index"] for failure in chunk_failures}
            failures += len(failed)
            candidates += [Candidate(start + c.prompt_index, c.sample_index, c.text, score, c.finish_reason == "length",
                                     index in failed)
                           for index, (c, score) in enumerate(zip(completions, scores))]
            bar.update(len(batch))
    return candidates, failures


def rank(candidates: list[Candidate], dedupe: bool) -> list[Candidate]:
    """Best first: higher score, then shorter answer, then earlier sample; with ``dedupe`` each text once."""
    ordered = sorted(candidates, key=lambda c: (-c.score, len(c.text), c.sample_index))
    if not dedupe:
        return ordered
    unique, seen = [], set()
    for candidate in ordered:  # the best copy of each text comes first, so it is the one kept
        if candidate.text not in seen:
            seen.add(candidate.text)
            unique.append(candidate)
    return unique


def select(candidates: list[Candidate], config: RejectionConfig) -> tuple[list[Candidate], list[float], dict[str, int]]:
    """The kept answers (by prompt, best first), each prompt's best usable score, and what was dropped why."""
    by_prompt: dict[int, list[Candidate]] = {}
    for candidate in candidates:
        by_prompt.setdefault(candidate.prompt_index, []).append(candidate)
    kept, best_scores = [], []
    counts = dict.fromkeys(("blank_answers", "truncated_answers_dropped", "duplicate_answers",
                            "prompts_without_usable_answer", "prompts_below_threshold"), 0)
    for prompt_index in sorted(by_prompt):
        group = by_prompt[prompt_index]
        # A blank answer is no SFT example; a cut-off one would teach stopping mid-sentence.
        scored = [c for c in group if not c.reward_failed]
        blank = sum(not c.text.strip() for c in scored)
        usable = [c for c in scored if c.text.strip() and (config.keep_truncated or not c.truncated)]
        ranked = rank(usable, config.dedupe)
        counts["blank_answers"] += blank
        counts["truncated_answers_dropped"] += len(scored) - blank - len(usable)
        counts["duplicate_answers"] += len(usable) - len(ranked)
        if not ranked:
            counts["prompts_without_usable_answer"] += 1
            continue
        best_scores.append(ranked[0].score)
        chosen = [c for c in ranked[: config.keep] if config.threshold is None or c.score >= config.threshold]
        counts["prompts_below_threshold"] += not chosen
        kept += chosen
    return kept, best_scores, counts


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summary_text(stats: dict) -> str:
    """The one paragraph printed at the end of a run."""
    def number(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4g}"

    quantiles = stats["score_quantiles"]
    sentences = [(f"Round {stats['round']}: kept {stats['kept']} answers for {stats['prompts_kept']} of "
                  f"{stats['prompts']} prompts from {stats['samples']} samples ({stats['samples_per_s']:.2f}/s).")]
    if stats["threshold"] is not None:
        sentences.append(f"{stats['prompts_below_threshold']} prompts had no answer scoring >= {stats['threshold']:g}.")
    sentences.append(f"Mean score of the best answers {number(stats['mean_best_score'])}, of all samples "
                     f"{number(stats['mean_score'])} (median {number(quantiles['p50'])}, "
                     f"p90 {number(quantiles['p90'])}, max {number(quantiles['max'])}).")
    dropped = [f"{stats[key]} {label}" for key, label in (
        ("blank_answers", "blank answers"), ("truncated_answers_dropped", "answers cut off at max_new_tokens"),
        ("duplicate_answers", "duplicates"), ("prompts_without_usable_answer", "prompts without a usable answer"),
        ("reward_failures", "reward failures"), ("skipped_bad_rows", "bad rows skipped")) if stats[key]]
    if dropped:
        sentences.append(f"Not used: {', '.join(dropped)}.")
    sentences.append(f"Wrote {stats['output']}; stats in {stats['stats_file']}.")
    return " ".join(sentences)


def rejection_sample(config: RejectionConfig) -> dict:
    """Sample, score, select and write; returns the statistics (also written beside ``output``)."""
    started = time.perf_counter()
    output = Path(config.output)
    if output.is_dir():
        raise UserError(f"output {config.output} is a directory; give the path of the .jsonl file to write")
    if config.engine == "vllm":
        require_vllm()  # before any slow loading
    stats_path, samples_path = output.with_suffix(".stats.json"), output.with_suffix(".samples.jsonl")
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    device = resolve_device(config.device, local_rank())
    prefer_flash_attention(device)
    reward = build_reward(config, device)
    tokenizer = load_tokenizer(config.model)
    rows, skipped = load_prompts(config, tokenizer)
    if config.engine == "vllm":  # vLLM loads its own copy of the weights
        engine = engine_for_spec(config.model, tokenizer, dtype=vllm_dtype(config.dtype))
        candidates, failures = sample_and_score(None, tokenizer, rows, reward, config, engine)
    else:
        model = load_model(config.model, precision.resolve_dtype(config.dtype, device, training=False)).to(device)
        candidates, failures = sample_and_score(model, tokenizer, rows, reward, config)
    kept, best_scores, counts = select(candidates, config)

    sft_rows = [{"messages": rows[c.prompt_index].messages + [{"role": "assistant", "content": c.text}],
                 "score": c.score, "prompt_index": c.prompt_index, "sample_index": c.sample_index,
                 "round": config.round} for c in kept]
    write_text_atomic(output, "".join(json.dumps(row) + "\n" for row in sft_rows))
    chosen = {(c.prompt_index, c.sample_index) for c in kept}
    write_text_atomic(samples_path, "".join(json.dumps({
        "prompt_index": c.prompt_index, "sample_index": c.sample_index, "prompt": rows[c.prompt_index].text,
        "completion": c.text, "score": c.score, "truncated": c.truncated, "reward_failed": c.reward_failed,
        "kept": (c.prompt_index, c.sample_index) in chosen,
    }) + "\n" for c in candidates))

    # The score distribution leaves out samples a reward failed on (score_rollouts stops when all fail).
    scores = torch.tensor([c.score for c in candidates if not c.reward_failed], dtype=torch.float64)
    quantiles = torch.quantile(scores, torch.tensor(list(QUANTILES.values()), dtype=torch.float64)).tolist()
    seconds = time.perf_counter() - started
    stats = {
        "round": config.round, "model": config.model, "data": config.data, "output": str(output),
        "stats_file": str(stats_path), "samples_file": str(samples_path), "threshold": config.threshold,
        "prompts": len(rows), "skipped_bad_rows": skipped, "samples": len(candidates), "kept": len(kept),
        "prompts_kept": len({c.prompt_index for c in kept}), **counts, "reward_failures": failures,
        "mean_best_score": _mean(best_scores), "mean_kept_score": _mean([c.score for c in kept]),
        "mean_score": float(scores.mean()), "score_quantiles": dict(zip(QUANTILES, quantiles)),
        "seconds": seconds, "samples_per_s": len(candidates) / seconds, "config": config.model_dump(mode="json"),
    }
    write_text_atomic(stats_path, json.dumps(stats, indent=1) + "\n")
    print(summary_text(stats))
    return stats
