import pytest
import yaml

from posttrain.config import SFTConfig, load_config, save_config
from posttrain.errors import UserError


def test_cli_overrides_beat_yaml(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({"lr": 1e-4, "batch_size": 4}))
    config = load_config(SFTConfig, str(path), {"lr": 2e-5})
    assert config.lr == 2e-5 and config.batch_size == 4


def test_unknown_key_suggests_closest(tmp_path):
    with pytest.raises(UserError, match=r"unknown key 'max_lenght' \(did you mean 'max_length'\?\)"):
        load_config(SFTConfig, None, {"max_lenght": 10})


def test_invalid_values_are_rejected():
    with pytest.raises(UserError, match="lr"):
        load_config(SFTConfig, None, {"lr": -1})
    with pytest.raises(UserError, match="finetune"):
        load_config(SFTConfig, None, {"finetune": "qlora"})
    with pytest.raises(UserError, match="micro_batch_tokens"):
        load_config(SFTConfig, None, {"max_length": 1024, "micro_batch_tokens": 512})


def test_micro_batch_defaults_to_max_length():
    assert load_config(SFTConfig, None, {"max_length": 300}).micro_batch_tokens == 300


def test_saved_config_round_trips(tmp_path):
    config = load_config(SFTConfig, None, {"lr": 3e-5, "adam_betas": [0.9, 0.95], "data": "x.jsonl"})
    save_config(config, tmp_path / "config.yaml")
    assert load_config(SFTConfig, str(tmp_path / "config.yaml")) == config


def test_yaml_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(UserError, match="mapping"):
        load_config(SFTConfig, str(path))


def test_atomic_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    from posttrain.config import write_text_atomic

    mask = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.txt", "x")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode) == 0o644


@pytest.mark.parametrize("trl_key, ours", [("learning_rate", "lr"), ("num_train_epochs", "epochs"),
                                           ("per_device_train_batch_size", "batch_size")])
def test_trl_key_names_suggest_ours(tmp_path, trl_key, ours):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({trl_key: 1}))
    with pytest.raises(UserError, match=f"unknown key '{trl_key}' \\(did you mean '{ours}'\\?\\)"):
        load_config(SFTConfig, str(path))


def test_loss_dpo_names_the_sigmoid_loss():
    from posttrain.config import DPOConfig

    assert DPOConfig(loss="dpo").loss == "sigmoid"
