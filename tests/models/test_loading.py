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


@pytest.mark.parametrize("spec", ["./nope", "../nope/model", "/no/such/model", "runs/nope", "runs/sft-lor/model", "~/nope"])
def test_local_looking_paths_never_reach_the_hub(spec):
    with pytest.raises(UserError, match="model directory not found"):
        resolve(spec)


def test_two_part_spec_under_an_existing_directory_is_a_path(tmp_path, monkeypatch):
    (tmp_path / "outputs").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="model directory not found: outputs/sft-lor"):
        resolve("outputs/sft-lor")


def test_offline_hub_id_not_in_cache_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty cache
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(UserError, match="HF_HUB_OFFLINE") as caught:
        resolve("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert "\n" not in str(caught.value)
