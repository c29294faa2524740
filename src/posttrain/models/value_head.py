"""PPO's critic as a value head on the policy itself: a linear layer (hidden -> 1) on the final-normed
hidden state before each completion token, so one forward gives both the log-probs and the values.

A separate critic model would double the forward/backward cost and the memory on a CPU box; the
shared head is what most RLHF libraries started with. The head is training state only: it is in
every checkpoint (exact resume) but left out of the saved final model, a plain language model.
"""

from __future__ import annotations

import torch

from posttrain.data.batching import collate
from posttrain.data.render import Rendered
from posttrain.models.logprobs import backbone_and_head, causal_hidden, chunked_token_logps
from posttrain.training.device import model_device, to_device
from posttrain.training.precision import compute_dtype


def _leave_out_of_saves(module, state_dict, prefix, local_metadata) -> None:
    # state_dict() is what Hugging Face saves; checkpoints save named_parameters() and keep the head.
    for key in [key for key in state_dict if key.startswith(prefix)]:
        del state_dict[key]


def attach_value_head(model) -> torch.nn.Linear:
    """Give ``model`` a ``value_head`` (hidden -> 1), zero so that the first values are 0 and its
    first gradients leave the backbone alone. It trains, is checkpointed, and is not saved with the model."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    weight = inner.get_output_embeddings().weight
    head = torch.nn.Linear(weight.shape[1], 1, dtype=torch.float32, device=weight.device)  # trains: float32
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    head.register_state_dict_post_hook(_leave_out_of_saves)
    model.value_head = head
    return head


def logps_and_values(model, sequences: list[Rendered], pad_id: int, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-prob and value of every completion token of ``sequences``, flat in sequence order, from one
    forward pass. (N,), (N,): the value of token t is V(state before it), read where t is predicted."""
    batch = to_device(collate(sequences, pad_id), model_device(model))
    body, head_weight = backbone_and_head(model)
    hidden = causal_hidden(body, batch.input_ids, head_weight)  # (B, T, H)
    positions = batch.target_mask.reshape(-1).nonzero().squeeze(1)  # (N,)
    selected = hidden.reshape(-1, hidden.shape[-1]).index_select(0, positions)  # (N, H)
    logps = chunked_token_logps(selected, head_weight, batch.targets.reshape(-1)[positions], chunk,
                                compute_dtype=compute_dtype(body))
    return logps, model.value_head(selected.float()).squeeze(-1)
