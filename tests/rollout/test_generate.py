"""Tests for the batched KV-cache sampling loop, on a tiny random Llama built here.

The reference for every check is the model run without a cache, one unpadded prompt at a time:
if padding, positions or the cache were wrong, the batched loop would drift from it.
"""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from posttrain.errors import UserError
from posttrain.rollout.generate import (
    SamplingParams,
    filter_logits,
    generate_chat,
    generate_ids,
    sample_next,
)
from posttrain.rollout.kv_cache import cpu_decode_linears

PAD = 0
# Prompts of different lengths, so a batch needs left padding.
PROMPTS = [[5, 9, 13], [7, 3, 22, 41, 8, 17, 30], [11], [60, 2, 33, 4, 19]]
# A fake tokenizer decode: one character per id, so stop strings are easy to place.
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,"


def fake_decode(ids: list[int]) -> str:
    return "".join(ALPHABET[i] for i in ids)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
    )
    return LlamaForCausalLM(config).eval()


def run(model, prompts, eos=frozenset(), decode=fake_decode, batch_size=16, **params):
    return generate_ids(
        model,
        prompts,
        SamplingParams(**params),
        eos_token_ids=set(eos),
        pad_token_id=PAD,
        decode=decode,
        batch_size=batch_size,
    )


@torch.no_grad()
def naive_greedy(model, prompt, max_new_tokens):
    """Greedy decoding without a cache: the full sequence is recomputed at every step."""
    ids = list(prompt)
    for _ in range(max_new_tokens):
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1]  # (V,)
        ids.append(int(logits.argmax()))
    return ids[len(prompt) :]


@torch.no_grad()
def full_forward_logprobs(model, prompt, token_ids):
    """log_softmax of one unpadded, uncached forward, at the positions that predicted token_ids."""
    ids = torch.tensor([prompt + token_ids])
    logps = model(input_ids=ids).logits[0].float().log_softmax(-1)  # (T, V)
    predicting = logps[len(prompt) - 1 : -1]  # (N, V): position t predicts token t + 1
    return predicting.gather(-1, torch.tensor(token_ids)[:, None]).squeeze(-1)


def test_greedy_batched_matches_alone_and_no_cache(model):
    batched = run(model, PROMPTS, max_new_tokens=12, temperature=0)
    assert [c.prompt_index for c in batched] == [0, 1, 2, 3]
    for index, prompt in enumerate(PROMPTS):
        alone = run(model, [prompt], max_new_tokens=12, temperature=0)[0]
        assert batched[index].token_ids == alone.token_ids
        assert batched[index].token_ids == naive_greedy(model, prompt, 12)
        # A random tiny model's argmax is robust to small errors; its log-probs are not.
        assert torch.allclose(torch.tensor(batched[index].logprobs), torch.tensor(alone.logprobs), atol=1e-5)


def test_continuous_batching_refills_freed_rows_and_matches_the_uncached_model(model):
    """More jobs than rows: rows that stop (eos) leave, waiting prompts are prefilled into their slots,
    caches of different widths are merged, and every sequence still equals the model run alone."""
    prompts = [[(7 * i + 3 * j) % 60 + 1 for j in range(2 + i % 6)] for i in range(11)]
    reference = [naive_greedy(model, prompt, 14) for prompt in prompts]
    eos = {reference[0][2], reference[5][4]}  # some rows stop early, at different steps
    completions = run(model, prompts, eos=eos, max_new_tokens=14, temperature=0, n=2, batch_size=4)
    assert [(c.prompt_index, c.sample_index) for c in completions] == [(p, s) for p in range(11) for s in range(2)]
    for c in completions:
        expected = reference[c.prompt_index]
        stop = next((i + 1 for i, token in enumerate(expected) if token in eos), len(expected))
        assert c.token_ids == expected[:stop]
        assert c.finish_reason == ("stop" if stop < len(expected) or expected[-1] in eos else "length")
        assert torch.allclose(torch.tensor(c.logprobs), full_forward_logprobs(model, prompts[c.prompt_index], c.token_ids),
                              atol=1e-4)
    assert any(len(c.token_ids) < 14 for c in completions)


def test_reserved_cache_equals_the_dynamic_cache_through_growth_and_row_selection(model):
    from transformers import DynamicCache

    from posttrain.rollout.kv_cache import ReservedLayer, new_cache

    torch.manual_seed(1)
    ids = torch.randint(1, 64, (3, 20))
    outputs = []
    for cache in (DynamicCache(), new_cache(model, reserve=3)):  # reserve 3: grows several times in 12 steps
        logits = [model(input_ids=ids[:, :6], past_key_values=cache, use_cache=True).logits[:, -1]]
        for step in range(6, 18):
            if step == 10:
                cache.batch_select_indices(torch.tensor([2, 0]))  # rows leave, as finished sequences do
            rows = [0, 1, 2] if step < 10 else [2, 0]
            logits.append(model(input_ids=ids[rows, step : step + 1], past_key_values=cache, use_cache=True).logits[:, -1])
        outputs.append(logits)
        if not isinstance(cache.layers[0], ReservedLayer):
            continue
        assert cache.layers[0].keys.shape[-2] == 18 and cache.get_seq_length() == 18
    for expected, got in zip(*outputs):
        assert torch.allclose(expected, got, atol=1e-5)


def test_logprobs_match_full_forward(model):
    completions = run(model, PROMPTS, max_new_tokens=10, temperature=1.0, seed=3, n=2)
    for c in completions:
        expected = full_forward_logprobs(model, PROMPTS[c.prompt_index], c.token_ids)
        assert torch.allclose(torch.tensor(c.logprobs), expected, atol=1e-4)


def test_logprobs_ignore_temperature_and_filters(model):
    """Log-probs are the raw model's, whatever the sampling distribution was."""
    completions = run(model, PROMPTS, max_new_tokens=6, temperature=0.5, top_k=5, top_p=0.8, seed=1)
    for c in completions:
        expected = full_forward_logprobs(model, PROMPTS[c.prompt_index], c.token_ids)
        assert torch.allclose(torch.tensor(c.logprobs), expected, atol=1e-4)


def test_seed_is_deterministic_and_n_samples(model):
    first = run(model, PROMPTS, max_new_tokens=8, seed=7, n=3, batch_size=5)
    again = run(model, PROMPTS, max_new_tokens=8, seed=7, n=3, batch_size=5)
    other = run(model, PROMPTS, max_new_tokens=8, seed=8, n=3, batch_size=5)
    assert [c.token_ids for c in first] == [c.token_ids for c in again]
    assert [c.token_ids for c in first] != [c.token_ids for c in other]
    # Ordered by (prompt_index, sample_index) although batches were sorted by prompt length.
    assert [(c.prompt_index, c.sample_index) for c in first] == [(p, s) for p in range(4) for s in range(3)]


def test_max_new_tokens_gives_length(model):
    for c in run(model, PROMPTS, max_new_tokens=5, seed=0):
        assert len(c.token_ids) == len(c.logprobs) == 5
        assert c.finish_reason == "length"
        assert c.text == fake_decode(c.token_ids)


def test_eos_stops_row_and_is_kept_in_ids_not_text(model):
    reference = run(model, PROMPTS, max_new_tokens=10, temperature=0)
    eos = reference[1].token_ids[3]
    cut = reference[1].token_ids.index(eos) + 1  # the first time eos is sampled
    completions = run(model, PROMPTS, eos={eos}, max_new_tokens=10, temperature=0)
    assert completions[1].token_ids == reference[1].token_ids[:cut]
    assert completions[1].finish_reason == "stop"
    assert completions[1].text == fake_decode(reference[1].token_ids[: cut - 1])
    # Rows never sampling eos are unaffected by another row finishing early.
    for ref, c in zip(reference, completions):
        if eos not in ref.token_ids:
            assert c.token_ids == ref.token_ids and c.finish_reason == "length"


def test_stop_string_cuts_text(model):
    reference = run(model, PROMPTS, max_new_tokens=12, temperature=0)[3]
    stop = reference.text[4:6]  # spans generated tokens 4 and 5
    start = reference.text.index(stop)
    completion = run(model, [PROMPTS[3]], max_new_tokens=12, temperature=0, stop=["zzzzzz", stop])[0]
    assert completion.finish_reason == "stop"
    assert completion.text == reference.text[:start]
    # Generation ends with the token that completed the stop string.
    assert completion.token_ids == reference.token_ids[: start + len(stop)]
    # include_stop keeps the stop string itself (a closing code fence, say) and nothing after it.
    kept = run(model, [PROMPTS[3]], max_new_tokens=12, temperature=0, stop=["zzzzzz", stop], include_stop=True)[0]
    assert kept.text == reference.text[: start + len(stop)] and kept.token_ids == completion.token_ids


def test_stop_strings_need_decode(model):
    with pytest.raises(UserError, match="decode"):
        run(model, PROMPTS, decode=None, stop=["a"])


def test_top_k_one_equals_greedy(model):
    greedy = run(model, PROMPTS, max_new_tokens=8, temperature=0)
    top1 = run(model, PROMPTS, max_new_tokens=8, temperature=1.3, top_k=1, seed=5)
    assert [c.token_ids for c in top1] == [c.token_ids for c in greedy]


def test_filter_logits_top_p_keeps_nucleus():
    """probs (0.5, 0.3, 0.15, 0.05): top_p=0.7 keeps 0.5 and 0.3 (0.5 < 0.7, 0.8 >= 0.7);
    top_p=0.1 still keeps the best token."""
    logits = torch.tensor([[0.15, 0.5, 0.05, 0.3]]).log()
    kept = filter_logits(logits, top_k=0, top_p=0.7).isfinite()
    assert kept.tolist() == [[False, True, False, True]]
    assert filter_logits(logits, top_k=0, top_p=0.1).isfinite().tolist() == [[False, True, False, False]]


def test_training_mode_restored(model):
    model.train()
    run(model, PROMPTS[:1], max_new_tokens=2)
    assert model.training
    model.eval()


class FakeChatTokenizer:
    """A minimal chat tokenizer: each message renders to its characters' ids plus a turn token."""

    eos_token_id = 1
    pad_token_id = PAD

    def __init__(self, return_dict: bool):
        self.return_dict = return_dict

    def get_vocab(self):
        return {ch: i for i, ch in enumerate(ALPHABET)} | {"<|im_end|>": 2}

    def apply_chat_template(self, messages, tools=None, add_generation_prompt=False, tokenize=True):
        ids = [ALPHABET.index(ch) for m in messages for ch in m["content"]] + [3]
        return {"input_ids": ids, "attention_mask": [1] * len(ids)} if self.return_dict else ids

    def decode(self, ids, skip_special_tokens=False):
        return fake_decode(ids)


@pytest.mark.parametrize("return_dict", [True, False])
def test_generate_chat_renders_and_stops_at_end_of_turn(model, return_dict):
    tokenizer = FakeChatTokenizer(return_dict)
    conversations = [[{"role": "user", "content": "hello"}], [{"role": "user", "content": "hi"}]]
    completions = generate_chat(model, tokenizer, conversations, SamplingParams(max_new_tokens=6, temperature=0))
    prompts = [[7, 4, 11, 11, 14, 3], [7, 8, 3]]
    expected = run(model, prompts, eos={1, 2}, max_new_tokens=6, temperature=0)
    assert [c.token_ids for c in completions] == [c.token_ids for c in expected]
    assert [c.text for c in completions] == [c.text for c in expected]


def test_sampling_follows_the_probabilities_and_never_picks_a_zero():
    """Inverse-CDF sampling: 100k draws from (0, .2, 0, .5, .3) land within 1% of each probability."""
    logits = torch.log(torch.tensor([[0.0, 0.2, 0.0, 0.5, 0.3]])).repeat(100_000, 1)
    generator = torch.Generator().manual_seed(0)
    picks = sample_next(logits, SamplingParams(temperature=1.0), generator)
    shares = torch.bincount(picks, minlength=5).double() / len(picks)
    assert shares[0] == 0 and shares[2] == 0
    torch.testing.assert_close(shares, torch.tensor([0.0, 0.2, 0.0, 0.5, 0.3], dtype=torch.double), atol=0.01, rtol=0)
    again = sample_next(logits, SamplingParams(temperature=1.0), torch.Generator().manual_seed(0))
    assert torch.equal(again, picks)  # seeded: the same draws


def test_cpu_decode_linears_compute_the_same_and_restore_the_modules(model):
    ids = torch.randint(1, 50, (3, 7))
    with torch.no_grad():
        expected = model(ids).logits
        with cpu_decode_linears(model):
            linears = [m for m in model.modules() if type(m) is torch.nn.Linear]
            assert linears and all("forward" in m.__dict__ for m in linears)
            with cpu_decode_linears(model):  # nested: the inner one leaves the outer one's patch alone
                pass
            assert all("forward" in m.__dict__ for m in linears)
            got = model(ids).logits
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert not any("forward" in m.__dict__ for m in model.modules())  # plain modules again
