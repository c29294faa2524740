"""LocalEngine: the RolloutEngine interface over generate_ids, on the tiny random Llama."""

import pytest

from posttrain.data.render import render_prompt
from posttrain.models.loading import load_model, load_tokenizer
from posttrain.rollout.engine import LocalEngine, RolloutEngine
from posttrain.rollout.generate import SamplingParams, generate_chat


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_model):
    return load_model(tiny_model), load_tokenizer(tiny_model)


def test_local_engine_is_generate_chat_on_ids(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    engine = LocalEngine(model, tokenizer, batch_size=2)
    assert isinstance(engine, RolloutEngine)
    im_end, pad = tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    assert im_end in engine.eos_token_ids and engine.pad_token_id == pad
    conversations = [[{"role": "user", "content": "What is 12 + 30?"}], [{"role": "user", "content": "Hello"}]]
    params = SamplingParams(max_new_tokens=6, temperature=1.0, n=2, seed=3)
    completions = engine.generate([render_prompt(c, tokenizer) for c in conversations], params)
    expected = generate_chat(model, tokenizer, conversations, params, batch_size=2)
    assert [(c.prompt_index, c.sample_index) for c in completions] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [c.token_ids for c in completions] == [c.token_ids for c in expected]
    assert [c.text for c in completions] == [c.text for c in expected]
    assert all(len(c.token_ids) == len(c.logprobs) <= 6 for c in completions)


def test_sync_weights_points_the_engine_at_the_trained_module(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    engine = LocalEngine(model, tokenizer)
    wrapped = object()
    engine.sync_weights(wrapped)
    assert engine.model is wrapped
