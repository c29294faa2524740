import pytest
import torch

from posttrain.errors import UserError
from posttrain.models.loading import load_model, load_tokenizer, resolve


def test_local_directory_loads(tiny_model):
    model, tokenizer = load_model(tiny_model), load_tokenizer(tiny_model)
    assert model.dtype == torch.float32 and tokenizer.pad_token_id is not None


@pytest.mark.parametrize("spec, message", [
    ("no-such-model", "unknown model"),
    ("missing/file.gguf", "model file not found"),
])
def test_bad_specs_are_user_errors(spec, message):
    with pytest.raises(UserError, match=message):
        resolve(spec)


def test_directory_without_config_is_rejected(tmp_path):
    with pytest.raises(UserError, match="no config.json"):
        resolve(str(tmp_path))


def test_hub_ids_pass_through():
    assert resolve("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
