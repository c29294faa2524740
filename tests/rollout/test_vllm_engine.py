"""The vLLM engine (``engine: vllm``) against the trainer and the native engine, on a tiny random model.

vLLM's engine takes 30-80 s to start on a CPU, so every test here shares one engine (the module
fixture; ``shared_engine`` hands the trainer and the server that same one). Skipped, with the reason,
where vLLM is not installed (``pip install 'posttrain[vllm]'``).
"""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from helpers import build_tiny_model_dir, serve_in_thread, write_jsonl

pytestmark = pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                                reason="vLLM is not installed: pip install 'posttrain[vllm]'")

HELLO = [{"role": "user", "content": "Hello there!"}]
PROMPTS = [[{"role": "user", "content": f"What is {a} + {b}?"}] for a, b in ((3, 4), (12, 30), (7, 9))]
# Stated tolerance of the engine's sampled log-probs against the trainer's recomputation (float32 both):
# different kernels and summation orders, so not bit-equal; measured mean |delta| is printed.
LOGP_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def vllm_model(tmp_path_factory) -> str:
    """The tiny test model with a head size vLLM's CPU attention supports (32)."""
    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny-vllm"), hidden_size=64, heads=2, kv_heads=1)


@pytest.fixture(scope="module")
def engine(vllm_model):
    from posttrain.models.loading import load_tokenizer
    from posttrain.rollout.vllm_engine import shared_engine

    engine = shared_engine(vllm_model, load_tokenizer(vllm_model))
    yield engine
    engine.close()


def _prompt_ids(tokenizer) -> list[list[int]]:
    from posttrain.data.render import render_prompt

    return [render_prompt(messages, tokenizer) for messages in PROMPTS]


def _trainer_logps(model, prompt_ids: list[int], token_ids: list[int]) -> torch.Tensor:
    """log p(token_ids[i] | prompt, token_ids[:i]) from one full forward of the Hugging Face model. (T,)"""
    ids = torch.tensor([prompt_ids + token_ids])
    with torch.no_grad():
        logits = model(ids).logits[0, len(prompt_ids) - 1 : -1].float()  # (T, V)
    return logits.log_softmax(-1).gather(-1, torch.tensor(token_ids)[:, None]).squeeze(-1)


def test_sampled_logprobs_agree_with_the_trainer(engine, vllm_model):
    from posttrain.models.loading import load_model
    from posttrain.rollout.generate import SamplingParams

    engine.reset_weights()
    model = load_model(vllm_model).eval()
    prompts = _prompt_ids(engine.tokenizer)
    completions = engine.generate(prompts, SamplingParams(max_new_tokens=16, temperature=1.0, n=4, seed=0))
    assert [(c.prompt_index, c.sample_index) for c in completions] == [(p, s) for p in range(3) for s in range(4)]
    assert len({tuple(c.token_ids) for c in completions}) > 1  # seeded sampling, not four copies
    deltas = torch.cat([_trainer_logps(model, prompts[c.prompt_index], c.token_ids) - torch.tensor(c.logprobs)
                        for c in completions]).abs()
    print(f"vLLM vs trainer log-probs: mean |delta| {float(deltas.mean()):.2e}, max {float(deltas.max()):.2e} "
          f"over {len(deltas)} tokens")
    assert float(deltas.max()) < LOGP_TOLERANCE
    again = engine.generate(prompts, SamplingParams(max_new_tokens=16, temperature=1.0, n=4, seed=0))
    assert [c.token_ids for c in again] == [c.token_ids for c in completions]  # the same seed, the same samples


def test_after_a_step_and_a_push_greedy_answers_equal_the_native_engine(engine, vllm_model):
    from posttrain.config import GRPOConfig
    from posttrain.models.loading import load_model
    from posttrain.models.lora import prepare_model
    from posttrain.rollout.engine import LocalEngine
    from posttrain.rollout.generate import SamplingParams

    engine.reset_weights()
    model = prepare_model(load_model(vllm_model), GRPOConfig(model=vllm_model, lr=0.05))
    prompts = _prompt_ids(engine.tokenizer)
    greedy = SamplingParams(max_new_tokens=12, temperature=0.0)
    before = [c.token_ids for c in engine.generate(prompts, greedy)]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.05)
    engine.watch(optimizer)
    ids = torch.tensor([prompts[0] + before[0]])
    model(ids, labels=ids).loss.neg().backward()  # one step away from the current greedy answer
    optimizer.step()
    assert engine.stale
    engine.sync_if_stale(model)  # the LoRA update merged into a copy of the base and pushed
    assert not engine.stale
    native = [c.token_ids for c in LocalEngine(model, engine.tokenizer).generate(prompts, greedy)]
    pushed = [c.token_ids for c in engine.generate(prompts, greedy)]
    assert pushed == native
    assert pushed != before  # the step changed the answers, and the engine follows


def digit_share(prompt: str, completion: str, **_) -> float:
    """The share of digits in the completion (the reward of the native GRPO test)."""
    return sum(ch.isdigit() for ch in completion) / max(1, len(completion))


def _addition_rows(count: int) -> list[dict]:
    return [{"prompt": f"What is {i % 9 + 1} + {i % 7 + 2}?", "answer": str(i % 9 + 1 + i % 7 + 2)} for i in range(count)]


def _grpo(vllm_model, tmp_path, engine_name: str) -> list[dict]:
    from posttrain.algos.grpo import train_grpo
    from posttrain.config import GRPOConfig, load_config

    run = tmp_path / engine_name
    config = load_config(GRPOConfig, None, dict(
        model=vllm_model, data=write_jsonl(tmp_path / "prompts.jsonl", _addition_rows(32)), output_dir=str(run),
        batch_size=4, num_generations=4, max_new_tokens=12, max_length=64, lr=5e-2, progress=False, tensorboard=False,
        eval_fraction=0.25, eval_prompts=4, reward="test_vllm_engine:digit_share", temperature=1.0, rollout_batch_size=16,
        max_steps=12, engine=engine_name))
    train_grpo(config)
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def test_grpo_with_the_vllm_engine_raises_the_reward_as_the_native_one_does(engine, vllm_model, tmp_path):
    """The native GRPO test's task and size (tests/algos/test_grpo.py: addition prompts, a reward for digits), a
    few more steps for this wider model. Both engines sample the same distribution but draw different random
    numbers, so their curves differ step by step. Over seeds 0-3 (12 steps) all 8 runs rose, 7 by more than the
    0.2 asked here (vLLM at seed 3: +0.18); the test runs seed 0."""
    for engine_name in ("native", "vllm"):
        train = [r for r in _grpo(vllm_model, tmp_path, engine_name) if "train/reward_mean" in r]
        first = sum(r["train/reward_mean"] for r in train[:2]) / 2
        last = sum(r["train/reward_mean"] for r in train[-2:]) / 2
        print(f"{engine_name}: reward {first:.3f} -> {last:.3f}; mismatch "
              f"{[round(r['train/mismatch/abs_logp_diff'], 6) for r in train if 'train/mismatch/abs_logp_diff' in r]}")
        assert len(train) == 12 and last > first + 0.2, engine_name
        logged = [r for r in train if "train/mismatch/abs_logp_diff" in r]
        assert logged and all(r["train/mismatch/abs_logp_diff"] < LOGP_TOLERANCE and r["train/mismatch/kl_k3"] >= 0
                              for r in logged)
        if engine_name == "vllm":  # the engine followed the trainer's weights at every step
            assert all("train/mismatch/tis_weight_mean" in r for r in logged)


def test_serve_with_the_vllm_engine_passes_the_openai_client_tests(engine, vllm_model, tmp_path):
    """The official client against ``serve --engine vllm``: what tests/serve checks on the native server."""
    import httpx
    import openai

    from posttrain.feedback.records import latest_by_id, read_records
    from posttrain.models.loading import load_model
    from posttrain.rollout.generate import SamplingParams, generate_chat
    from posttrain.serve.app import ServeConfig

    feedback = tmp_path / "served.jsonl"
    config = ServeConfig(model=vllm_model, served_model_name="tiny", engine="vllm", feedback_file=str(feedback))
    with serve_in_thread(config, start_timeout=60) as (base_url, _):
        client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0, timeout=60)
        assert [model.id for model in client.models.list().data] == ["tiny"]
        # Plain and streamed, seeded: the same answer; usage counts the prompt once.
        settings = {"model": "tiny", "messages": HELLO, "max_tokens": 12, "temperature": 0.8, "seed": 3,
                    "extra_body": {"ignore_eos": True}}
        reply = client.chat.completions.create(**settings)
        assert reply.choices[0].finish_reason == "length" and reply.usage.completion_tokens == 12
        chunks = list(client.chat.completions.create(**settings, stream=True, stream_options={"include_usage": True}))
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert streamed == reply.choices[0].message.content
        assert chunks[-1].usage.completion_tokens == 12 and chunks[-1].usage.prompt_tokens == reply.usage.prompt_tokens
        # n choices, each its own sample.
        three = client.chat.completions.create(**{**settings, "n": 3, "temperature": 1.0, "seed": 11})
        assert [c.index for c in three.choices] == [0, 1, 2] and three.usage.completion_tokens == 36
        assert len({c.message.content for c in three.choices}) == 3
        # Greedy: the native engine's answer for the same weights.
        greedy = client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=20, temperature=0,
                                                extra_body={"ignore_eos": True}).choices[0].message.content
        native = generate_chat(load_model(vllm_model), engine.tokenizer, [HELLO],
                               SamplingParams(max_new_tokens=20, temperature=0.0))
        assert greedy == engine.decode(native[0].token_ids)
        # A stop string cuts the answer before it, plain and streamed.
        start = next(i for i in range(3, len(greedy) - 2) if greedy[i:i + 2].isalnum() and greedy.find(greedy[i:i + 2]) == i)
        stop = greedy[start:start + 2]
        stopped = client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=20, temperature=0,
                                                 stop=[stop], extra_body={"ignore_eos": True}).choices[0]
        assert (stopped.message.content, stopped.finish_reason) == (greedy[:start], "stop")
        # Feedback capture, as on the native server.
        choice = client.post("/feedback", body={"id": three.id, "preferred": 2}, cast_to=httpx.Response).json()
        assert choice == {"id": three.id, "object": "feedback", "thumbs": None, "preferred": 2}
        latest = {record.id: record for record in latest_by_id(read_records(str(feedback)))}
        assert [a.text for a in latest[three.id].answers] == [c.message.content for c in three.choices]
        assert latest[three.id].preferred == 2
        # Bad input: an OpenAI error body, never a 500.
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="other", messages=HELLO)
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=5000)

