import math

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from posttrain.data.batching import (
    common_prefix_length,
    pack_documents,
    pack_groups,
    packed_length,
    split_packs,
)
from posttrain.data.render import Rendered
from posttrain.models import logprobs
from posttrain.models.logprobs import (
    body_inputs,
    chunked_token_logps,
    packed_hidden,
    packed_token_logps,
    sequence_token_logps,
)


def test_chunked_logps_hand_values():
    """hidden (1,0) and (0,2); weight rows (1,0), (0,1), (0,0) -> logits (1,0,0) and (0,2,0).
    logp(target 0 | first) = 1 - log(e + 2) = 1 - 1.5514 = -0.5514
    logp(target 1 | second) = 2 - log(e^2 + 2) = 2 - 2.2395 = -0.2395"""
    hidden = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    weight = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    logps = chunked_token_logps(hidden, weight, torch.tensor([0, 1]), chunk_size=1)
    expected = [1 - math.log(math.e + 2), 2 - math.log(math.e**2 + 2)]
    assert logps.tolist() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("chunk_size", [1, 5, 64])
@pytest.mark.parametrize("uniform_hint, upstream_kind", [(False, "random"), (True, "uniform"), (True, "random")])
def test_chunked_logps_match_full_logits_and_gradients(chunk_size, uniform_hint, upstream_kind):
    """Also with the uniform-gradient hint: honoured (SFT's token mean) and broken (the backward
    finds unequal gradients and recomputes), the gradients are those of full logits."""
    torch.manual_seed(0)
    hidden = torch.randn(23, 8, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(40, 8, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 40, (23,))
    targets[3] = targets[7]  # a repeated target: its one-hot rows add up
    # arbitrary per-token gradient, as DPO produces, or one value for all, as a token mean does
    upstream = torch.randn(23, dtype=torch.float64) if upstream_kind == "random" else torch.full((23,), -1 / 23.0, dtype=torch.float64)

    chunked = chunked_token_logps(hidden, weight, targets, chunk_size, uniform_grad=uniform_hint)
    (chunked * upstream).sum().backward()
    grads = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None
    full = torch.log_softmax(hidden @ weight.t(), dim=-1).gather(1, targets[:, None]).squeeze(1)
    (full * upstream).sum().backward()

    torch.testing.assert_close(chunked, full)
    torch.testing.assert_close(grads[0], hidden.grad)
    torch.testing.assert_close(grads[1], weight.grad)


def test_logits_scratch_is_reused_and_never_leaks_into_results():
    """On CPU each chunk's logits go into one kept buffer per output weight, grown to the largest
    chunk: a later, larger call must neither change an earlier result nor differ from full logits."""
    torch.manual_seed(0)
    weight = torch.randn(40, 8, requires_grad=True)
    results = []
    for rows in (5, 300, 3):  # grows past one step of SCRATCH_ROWS, then shrinks
        hidden = torch.randn(rows, 8, requires_grad=True)
        targets = torch.randint(0, 40, (rows,))
        logps = chunked_token_logps(hidden, weight, targets, chunk_size=512)
        logps.sum().backward()
        results.append((hidden, targets, logps.detach().clone(), logps))
    scratch = logprobs._logits_scratch[id(weight)][1]
    assert scratch.shape == (512, 40)  # 300 rows rounded up to whole steps of 256, within chunk_size
    for hidden, targets, before, logps in results:
        torch.testing.assert_close(logps.detach(), before)
        full = torch.log_softmax(hidden.detach() @ weight.detach().t(), dim=-1).gather(1, targets[:, None]).squeeze(1)
        torch.testing.assert_close(before, full)


def test_tied_weight_gradient_buffer_is_kept_across_steps():
    """zero_grad(set_to_none=True) drops the tied weight's gradient every step; the next step's
    first micro-batch gets the same memory back, zeroed, instead of a fresh (V, H) buffer."""
    model = _tied_llama()
    batches = [(torch.randint(0, 50, (2, 9)), torch.ones(2, 9, dtype=torch.bool))]
    first = _sft_grads(model, batches, uniform=True)
    kept = model.lm_head.weight.grad  # held here, so a fresh buffer could not land at its address
    second = _sft_grads(model, batches, uniform=True)
    assert model.lm_head.weight.grad is kept
    torch.testing.assert_close(second["model.embed_tokens.weight"], first["model.embed_tokens.weight"])  # zeroed, not added to


def test_frozen_head_gets_no_gradient():
    hidden = torch.randn(4, 3, requires_grad=True)
    weight = torch.randn(6, 3)  # frozen, as under LoRA
    chunked_token_logps(hidden, weight, torch.tensor([0, 1, 2, 3])).sum().backward()
    assert hidden.grad is not None and weight.grad is None


def test_right_padded_batch_equals_rows_alone():
    """Right padding with no attention mask: causal attention keeps pads out of real tokens."""
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    ))
    rows = [torch.randint(1, 50, (9,)), torch.randint(1, 50, (4,))]
    batch = torch.zeros(2, 9, dtype=torch.long)
    mask = torch.zeros(2, 9, dtype=torch.bool)
    for i, row in enumerate(rows):
        batch[i, : len(row)] = row
        mask[i, : len(row) - 1] = True
    targets = torch.roll(batch, -1, dims=1)
    batched, _ = sequence_token_logps(model, batch, targets, mask)
    alone = []
    for row in rows:
        logps, _ = sequence_token_logps(model, row[None], torch.roll(row, -1)[None], torch.arange(len(row))[None] < len(row) - 1)
        alone.append(logps)
    torch.testing.assert_close(batched, torch.cat(alone), atol=1e-5, rtol=1e-5)
    reference = torch.log_softmax(model(rows[1][None]).logits[0, :-1], -1).gather(1, rows[1][1:, None]).squeeze(1)
    torch.testing.assert_close(alone[1], reference, atol=1e-5, rtol=1e-5)


def _tiny_llama():
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    ))


def _rendered(ids, prompt_length):
    return Rendered(list(ids), [0] * prompt_length + [1] * (len(ids) - prompt_length))


def test_pack_groups_layout_by_hand():
    """Prompt [1 2] shared by answers [3 4] and [5]: one row 1 2 3 4 5, positions 0 1 2 3 2."""
    chosen, rejected = _rendered([1, 2, 3, 4], 2), _rendered([1, 2, 5], 2)
    alone = _rendered([7, 8, 9], 1)
    batch = pack_groups([[chosen, rejected], [alone]], pad_token_id=0)
    assert batch.input_ids.tolist() == [[1, 2, 3, 4, 5], [7, 8, 9, 0, 0]]
    assert batch.position_ids.tolist()[0] == [0, 1, 2, 3, 2]
    mask = batch.attention_mask[0, 0].int().tolist()
    assert mask == [[1, 0, 0, 0, 0],
                    [1, 1, 0, 0, 0],
                    [1, 1, 1, 0, 0],
                    [1, 1, 1, 1, 0],
                    [1, 1, 0, 0, 1]]  # the rejected answer sees the prompt, not the chosen one
    # chosen: positions 1 (-> 3) and 2 (-> 4); rejected: position 1 (-> 5); alone: 5 (-> 8), 6 (-> 9)
    assert batch.loss_positions.tolist() == [1, 2, 1, 5, 6]
    assert batch.loss_targets.tolist() == [3, 4, 5, 8, 9]
    assert batch.loss_owner.tolist() == [0, 0, 1, 2, 2]
    assert batch.last_positions.tolist() == [3, 4, 7]
    assert batch.num_tokens == 8
    assert packed_length([chosen, rejected]) == 5 and common_prefix_length([chosen, rejected]) == 2
    plain = pack_groups([[alone], [chosen]], pad_token_id=0)
    assert plain.attention_mask is None and plain.position_ids is None  # nothing shared: a plain causal batch


def test_pack_documents_layout_by_hand():
    """Rows [1 2 3] (loss on 3) and [4 5] (loss on 5) back to back: 1 2 3 4 5, positions 0 1 2 0 1."""
    batch = pack_documents([_rendered([1, 2, 3], 2), _rendered([4, 5], 1)])
    assert batch.input_ids.tolist() == [[1, 2, 3, 4, 5]]
    assert batch.position_ids.tolist() == [[0, 1, 2, 0, 1]]
    assert batch.attention_mask[0, 0].int().tolist() == [[1, 0, 0, 0, 0],
                                                        [1, 1, 0, 0, 0],
                                                        [1, 1, 1, 0, 0],
                                                        [0, 0, 0, 1, 0],
                                                        [0, 0, 0, 1, 1]]
    assert batch.loss_positions.tolist() == [1, 3] and batch.loss_targets.tolist() == [3, 5]
    assert batch.loss_owner.tolist() == [0, 1] and batch.last_positions.tolist() == [2, 4]
    assert batch.layout == [(0, [(0, 3), (3, 5)])] and batch.num_tokens == 5 and batch.num_loss_tokens == 2


def test_split_packs_first_fit_longest_first():
    lengths = {10: 300, 11: 200, 12: 250, 13: 100, 14: 50}
    # 300 -> pack A (212 left); 250 -> B (262); 200 -> A (12); 100 -> B (162); 50 -> B (112)
    assert split_packs([10, 11, 12, 13, 14], lengths, 512) == [[10, 11], [12, 13, 14]]
    assert split_packs([13], lengths, 100) == [[13]]


@pytest.mark.parametrize("path", ["segments", "blocks", "mask"])
def test_packed_documents_equal_rows_alone(path, monkeypatch):
    """Full fine-tuning of a tied model on packed rows, as SFT runs it (uniform_grad): the same
    log-probs and gradients as each row alone, segment by segment (short segments in one call or
    in query blocks) or under the block-diagonal mask when the attention cannot be switched."""
    import contextlib

    import posttrain.models.segment_attention as seg

    calls = []
    original = seg.segment_attention_forward
    monkeypatch.setattr(seg, "segment_attention_forward", lambda *a, **k: calls.append(1) or original(*a, **k))
    if path == "blocks":
        monkeypatch.setattr(seg, "QUERY_BLOCK", 3)
        monkeypatch.setattr(seg, "MIN_BLOCKED", 6)
    if path == "mask":
        monkeypatch.setattr(seg, "segment_attention", lambda body: contextlib.nullcontext(False))
    seg._registered = False
    model = _tied_llama()
    rows = [_rendered(torch.randint(1, 50, (n,)).tolist(), p) for n, p in ((9, 3), (4, 1), (13, 5))]
    batch = pack_documents(rows)
    total = batch.num_loss_tokens
    model.zero_grad(set_to_none=True)
    packed = packed_token_logps(model, batch, chunk_size=4, uniform_grad=True)
    (-packed.sum() / total).backward()
    packed_grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    alone = []
    for row in rows:  # the stock model on each row alone: full logits, its own attention
        ids = torch.tensor(row.input_ids)
        logps = torch.log_softmax(model(ids[None]).logits[0, :-1], -1).gather(1, ids[1:, None]).squeeze(1)
        logps = logps[torch.tensor(row.loss_mask[1:], dtype=torch.bool)]
        (-logps.sum() / total).backward()
        alone.append(logps.detach())
    torch.testing.assert_close(packed.detach(), torch.cat(alone), atol=1e-5, rtol=1e-5)
    for name, param in model.named_parameters():
        torch.testing.assert_close(packed_grads[name], param.grad, atol=1e-5, rtol=1e-4, msg=name)
    assert len(calls) == (0 if path == "mask" else 2)  # one per layer when switched
    seg._registered = False


def test_packed_logps_and_rewards_equal_sequences_alone():
    """A shared prompt run once gives every answer the log-probs (and last hidden state) it has alone."""
    model = _tiny_llama()
    prompt = torch.randint(1, 50, (6,)).tolist()
    groups = [[_rendered(prompt + torch.randint(1, 50, (n,)).tolist(), 6) for n in (5, 9, 2)],
              [_rendered(torch.randint(1, 50, (7,)).tolist(), 3)]]
    batch = pack_groups(groups, pad_token_id=0)
    packed = packed_token_logps(model, batch)
    sequences = [seq for group in groups for seq in group]
    alone = []
    for seq in sequences:
        ids = torch.tensor(seq.input_ids)[None]
        target_mask = torch.tensor(seq.loss_mask[1:] + [0], dtype=torch.bool)[None]
        alone.append(sequence_token_logps(model, ids, torch.roll(ids, -1, dims=1), target_mask)[0])
    torch.testing.assert_close(packed, torch.cat(alone), atol=1e-5, rtol=1e-5)
    assert batch.loss_owner.tolist() == [i for i, logps in enumerate(alone) for _ in range(len(logps))]
    hidden = packed_hidden(model.model, batch).index_select(0, batch.last_positions)
    for seq, row in zip(sequences, hidden):
        last = model.model(input_ids=torch.tensor(seq.input_ids)[None]).last_hidden_state[0, -1]
        torch.testing.assert_close(row, last, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("segments", [True, False])
def test_packed_gradients_equal_sequences_alone(segments, monkeypatch):
    """Both attention paths for packed rows (segment by segment, or the full row under its mask)
    give the same log-probs and parameter gradients as running each sequence alone, including a
    group whose sequences share nothing and a group of one."""
    import posttrain.models.segment_attention as seg

    calls = []
    original = seg.segment_attention_forward
    monkeypatch.setattr(seg, "segment_attention_forward", lambda *a, **k: calls.append(1) or original(*a, **k))
    monkeypatch.setattr(seg, "MIN_WIDTH", 0)  # the rows here are short
    if not segments:
        import contextlib

        monkeypatch.setattr(seg, "segment_attention", lambda body: contextlib.nullcontext(False))
    seg._registered = False
    model = _tiny_llama()
    prompt = torch.randint(1, 50, (5,)).tolist()
    groups = [[_rendered(prompt + torch.randint(1, 50, (n,)).tolist(), 5) for n in (4, 7)],
              [_rendered([3] + torch.randint(1, 50, (6,)).tolist(), 1), _rendered([4] + torch.randint(1, 50, (3,)).tolist(), 1)],
              [_rendered(torch.randint(1, 50, (8,)).tolist(), 2)]]
    batch = pack_groups(groups, pad_token_id=0)
    weights = torch.randn(batch.loss_targets.shape[0])
    (packed_token_logps(model, batch) * weights).sum().backward()
    packed_grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    alone = []
    for seq in (seq for group in groups for seq in group):
        ids = torch.tensor(seq.input_ids)[None]
        target_mask = torch.tensor(seq.loss_mask[1:] + [0], dtype=torch.bool)[None]
        alone.append(sequence_token_logps(model, ids, torch.roll(ids, -1, dims=1), target_mask)[0])
    (torch.cat(alone) * weights).sum().backward()
    for name, param in model.named_parameters():
        torch.testing.assert_close(packed_grads[name], param.grad, atol=1e-5, rtol=1e-4, msg=name)
    assert bool(calls) == segments
    seg._registered = False


def _tied_llama(pad_token_id=None):
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=True, pad_token_id=pad_token_id,
    ))


def _sft_grads(model, batches, uniform):
    """Every parameter's gradient after one backward per (ids, mask) micro-batch, as SFT's step runs."""
    model.zero_grad(set_to_none=True)
    for ids, mask in batches:
        logps, _ = sequence_token_logps(model, ids, torch.roll(ids, -1, dims=1), mask, chunk_size=5, uniform_grad=uniform)
        (-logps.sum() / 40).backward()
    return {name: param.grad.clone() for name, param in model.named_parameters()}


@pytest.mark.parametrize("pad_token_id", [None, 3])
def test_tied_full_fine_tuning_gradients_equal_the_stock_path(pad_token_id, monkeypatch):
    """The tied embedding adds its rows into weight.grad itself, and the output layer's summed
    gradient comes from a reused buffer: over two micro-batches (the second with the padding
    token among its inputs) every gradient equals the stock embedding's with recomputed logits."""
    model = _tied_llama(pad_token_id)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    torch.manual_seed(1)
    first = torch.randint(0, 50, (2, 9))
    second = torch.randint(0, 50, (3, 6))
    second[1, 2] = 3  # the padding id (when set): nn.Embedding gives its row no gradient
    batches = [(first, torch.rand(2, 9) < 0.7), (second, torch.rand(3, 6) < 0.7)]

    fast = _sft_grads(model, batches, uniform=True)
    assert "inputs_embeds" in body_inputs(model.model, first, model.lm_head.weight)
    fast_again = _sft_grads(model, batches, uniform=True)  # the buffer now comes back from the last step
    monkeypatch.setattr("posttrain.models.logprobs.body_inputs", lambda body, ids, weight: {"input_ids": ids})
    stock = _sft_grads(model, batches, uniform=False)

    assert fast.keys() == stock.keys()
    for name in stock:
        torch.testing.assert_close(fast[name], stock[name], atol=1e-6, rtol=1e-5, msg=name)
        torch.testing.assert_close(fast_again[name], stock[name], atol=1e-6, rtol=1e-5, msg=name)
    if pad_token_id is not None:  # the padding row learns only from the output layer, as in the stock path
        assert stock["model.embed_tokens.weight"][3].abs().sum() > 0


def test_two_forward_passes_before_one_backward_do_not_share_the_buffer():
    """Two token-mean losses summed before one backward: each forward pass needs its own buffer."""
    torch.manual_seed(0)
    hidden = torch.randn(2, 7, 8, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(30, 8, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 30, (2, 7))
    total = sum(chunked_token_logps(hidden[i], weight, targets[i], 3, uniform_grad=True).mean() for i in range(2))
    total.backward()
    fast = weight.grad.clone()
    weight.grad = None
    full = torch.log_softmax(hidden @ weight.t(), dim=-1).gather(2, targets[..., None]).squeeze(2)
    full.mean(1).sum().backward()
    torch.testing.assert_close(fast, weight.grad)


def test_untied_lora_and_no_grad_keep_the_stock_embedding():
    model = _tied_llama()
    ids = torch.randint(0, 50, (1, 4))
    with torch.no_grad():
        assert "input_ids" in body_inputs(model.model, ids, model.lm_head.weight)
    model.lm_head.weight.requires_grad_(False)  # frozen, as under LoRA
    assert "input_ids" in body_inputs(model.model, ids, model.lm_head.weight)
    untied = _tiny_llama()
    untied.lm_head.weight = torch.nn.Parameter(untied.lm_head.weight.detach().clone())
    assert "input_ids" in body_inputs(untied.model, ids, untied.lm_head.weight)


def test_causal_blocks_match_one_attention_call(monkeypatch):
    """Right-padded rows attended in query blocks (3 here; the last one shorter) give the same
    log-probs and gradients as one causal attention call, and the blocked path did run."""
    import posttrain.models.segment_attention as seg

    calls = []
    original = seg.causal_blocks_attention_forward
    monkeypatch.setattr(seg, "causal_blocks_attention_forward", lambda *a, **k: calls.append(1) or original(*a, **k))
    monkeypatch.setattr(seg, "QUERY_BLOCK", 3)
    monkeypatch.setattr(seg, "MIN_BLOCKED", 6)
    seg._registered = False
    model = _tiny_llama()
    ids = torch.randint(1, 50, (2, 11))
    mask = torch.ones(2, 11, dtype=torch.bool)
    mask[1, 7:] = False  # the second row is right-padded
    mask[:, -1] = False
    weights = torch.randn(int(mask.sum()))

    def run():
        model.zero_grad()
        logps, _ = sequence_token_logps(model, ids, torch.roll(ids, -1, dims=1), mask)
        (logps * weights).sum().backward()
        return logps.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}

    blocked = run()
    assert len(calls) == 2  # one per layer
    monkeypatch.setattr(seg, "MIN_BLOCKED", 100)
    single = run()
    assert len(calls) == 2
    torch.testing.assert_close(blocked[0], single[0], atol=1e-6, rtol=1e-5)
    for name in single[1]:
        torch.testing.assert_close(blocked[1][name], single[1][name], atol=1e-6, rtol=1e-5, msg=name)
    seg._registered = False
