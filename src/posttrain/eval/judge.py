"""A chat model as a judge: the probability of each allowed one-word verdict, without sampling.

``verdict_probabilities(model, tokenizer, questions, options)`` asks each question as a user turn
and reads the next-token distribution after the generation prompt. Each option is a set of words
("yes", "Yes", " yes" ...); its mass is the summed probability of the first tokens of those words,
and the masses are renormalised over the options. Deterministic, batched, left-padded. Used by the
safety suite (did the reply refuse?) and the helpfulness suite (which answer is better, A or B?).
"""

from __future__ import annotations

import torch

from posttrain.data.render import render_prompt
from posttrain.training.device import model_device


def first_token_ids(tokenizer, words: tuple[str, ...]) -> list[int]:
    """The distinct first token ids of ``words`` as the tokenizer splits them."""
    ids = set()
    for word in words:
        encoded = tokenizer.encode(word, add_special_tokens=False)
        if encoded:
            ids.add(encoded[0])
    return sorted(ids)


def verdict_probabilities(model, tokenizer, questions: list[str], options: list[tuple[str, ...]],
                          batch_size: int = 8) -> list[list[float]]:
    """For each question, the renormalised probability of each option (rows sum to 1)."""
    option_ids = [first_token_ids(tokenizer, words) for words in options]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    was_training = model.training
    model.eval()
    results: list[list[float]] = []
    for start in range(0, len(questions), batch_size):
        prompts = [render_prompt([{"role": "user", "content": question}], tokenizer)
                   for question in questions[start : start + batch_size]]
        width = max(len(ids) for ids in prompts)
        device = model_device(model)
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in prompts], device=device)
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in prompts], device=device)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        with torch.no_grad():
            logps = model(input_ids=input_ids, attention_mask=attention, position_ids=positions).logits[:, -1].float().log_softmax(-1)
        masses = torch.stack([logps[:, ids].logsumexp(-1) for ids in option_ids], dim=-1).softmax(-1)
        results += masses.tolist()
    model.train(was_training)
    return results
