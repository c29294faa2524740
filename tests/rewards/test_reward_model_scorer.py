"""The reward-model reward: lazy loading, batched scoring equal to RewardModel.score, and its use in score_rollouts."""

import subprocess
import sys

import pytest
import torch

from posttrain.errors import UserError
from posttrain.models.loading import load_tokenizer
from posttrain.models.reward import RewardModel, load_reward_model
from posttrain.rewards import combine, reward_model_scorer, score_rollouts

PROMPTS = ["What is 12 + 30?", "What is 12 + 30?", "Hello there!"]
COMPLETIONS = ["12 + 30 = 42.", "I do not know, please ask someone else today.", "Hello! How are you today?"]


@pytest.fixture(scope="module")
def reward_model_dir(tiny_model, tmp_path_factory) -> str:
    """The tiny Llama with a fresh (seeded) score head, saved as a reward model directory."""
    path = tmp_path_factory.mktemp("tiny-rm")
    tokenizer = load_tokenizer(tiny_model)
    torch.manual_seed(0)
    load_reward_model(tiny_model, tokenizer.pad_token_id).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def test_scorer_is_lazy_and_matches_reward_model(reward_model_dir):
    scorer = reward_model_scorer(reward_model_dir, batch_size=2)
    assert scorer._reward_model is None  # nothing loaded until the first score
    scores = scorer.score_batch(PROMPTS, COMPLETIONS)
    conversations = [[{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]
                     for prompt, completion in zip(PROMPTS, COMPLETIONS)]
    expected = RewardModel.load(reward_model_dir).score(conversations)
    assert scores == pytest.approx(expected, abs=1e-5)
    assert len(set(scores)) == 3  # a random head still tells the samples apart
    assert scorer(PROMPTS[2], COMPLETIONS[2], answer="ignored") == pytest.approx(expected[2], abs=1e-5)
    # a prompt given as a message list scores like the same prompt as a string
    assert scorer([{"role": "user", "content": PROMPTS[0]}], COMPLETIONS[0]) == pytest.approx(expected[0], abs=1e-5)


def test_reward_model_in_a_combination(reward_model_dir):
    reward = combine([{"name": "reward_model", "weight": 0.5, "kwargs": {"model_path": reward_model_dir}},
                      {"name": "answer_tag", "weight": 1.0}])
    scores, components, failures = score_rollouts(reward, PROMPTS, COMPLETIONS, [{}] * 3)
    direct = reward_model_scorer(reward_model_dir).score_batch(PROMPTS, COMPLETIONS)
    assert components["reward_model"] == pytest.approx(direct, abs=1e-5)
    assert components["answer_tag"] == [0.0, 0.0, 0.0] and failures == []
    assert scores == pytest.approx([0.5 * value for value in direct], abs=1e-5)


def test_plain_language_model_fails_loudly(tiny_model):
    with pytest.raises(UserError, match=r"reward 'reward_model' failed on all 3 samples .* is not a reward model"):
        score_rollouts(reward_model_scorer(tiny_model), PROMPTS, COMPLETIONS, [{}] * 3)


def test_importing_rewards_does_not_import_torch():
    code = "import sys, posttrain.rewards; assert 'torch' not in sys.modules, 'torch imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
