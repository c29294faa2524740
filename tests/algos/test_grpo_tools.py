"""GRPO with tools: multi-turn episodes in the trainer, the loss mask over tool output, the bundled calculator.

The tiny random model never writes a tool call by itself, so the episodes here start with a forced
call: ``ForcedCallEngine`` teacher-forces a calculator call as each episode's first turn (with the
model's real log-probs of those tokens) and lets the model sample every later turn.
"""

import json
import re

import pytest
import torch
from helpers import write_jsonl

from posttrain.algos import rl
from posttrain.algos.grpo import policy_update, train_grpo
from posttrain.algos.rl import Policy, load_prompts, sample_rollouts, score
from posttrain.config import GRPOConfig, PPOConfig, load_config
from posttrain.data.render import render
from posttrain.errors import UserError
from posttrain.models.loading import load_tokenizer
from posttrain.rewards import CombinedReward, WeightedReward, combine
from posttrain.rewards.tools import calculator, tool_answer_correct
from posttrain.rollout.engine import LocalEngine
from posttrain.rollout.generate import Completion
from posttrain.rollout.tools import ToolCall, load_tools
from posttrain.training import distributed

CALCULATOR = "posttrain.rewards.tools:calculator"
QUESTION = re.compile(r"What is (\d+ \+ \d+)\?")


def call_text(expression: str) -> str:
    return json.dumps({"name": "calculator", "arguments": {"expression": expression}}).join(
        ["<tool_call>", "</tool_call>"])


def call_for(tokenizer, prompt_ids: list[int]) -> str | None:
    """The forced first turn of a prompt: a calculator call on its question; None once a tool has answered."""
    text = tokenizer.decode(prompt_ids)
    return None if "<|im_start|>tool" in text else call_text(QUESTION.findall(text)[-1])


class ScriptedEngine:
    """Turn 1 calls the calculator on the question, turn 2 answers ``answer``; fixed log-probs."""

    def __init__(self, tokenizer, answer: str):
        self.tokenizer, self.answer = tokenizer, answer
        self.im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")

    def generate(self, prompt_ids, params):
        completions = []
        for index, prompt in enumerate(prompt_ids):
            text = call_for(self.tokenizer, prompt) or self.answer
            ids = self.tokenizer.encode(text, add_special_tokens=False) + [self.im_end]
            completions.append(Completion(index, 0, ids, [-0.5] * len(ids), text, "stop"))
        return completions

    def sync_weights(self, model):
        pass


class ForcedCallEngine(LocalEngine):
    """The real engine, except that an episode's first turn is a teacher-forced calculator call."""

    def generate(self, prompt_ids, params):
        forced = [call_for(self.tokenizer, prompt) for prompt in prompt_ids]
        if all(text is None for text in forced):
            return super().generate(prompt_ids, params)
        assert all(text is not None for text in forced)  # run_episodes batches episodes at the same turn
        completions = []
        for index, (prompt, text) in enumerate(zip(prompt_ids, forced)):
            ids = self.tokenizer.encode(text, add_special_tokens=False) + [self.tokenizer.convert_tokens_to_ids("<|im_end|>")]
            with torch.no_grad():
                logps = self.model(input_ids=torch.tensor([prompt + ids])).logits[0].float().log_softmax(-1)  # (T, V)
            sampled = [logps[len(prompt) - 1 + i, token].item() for i, token in enumerate(ids)]
            completions.append(Completion(index, 0, ids, sampled, text, "stop"))
        return completions


def brevity(prompt: str, completion: str, *, messages, **_) -> float:
    """Varies with what the random model writes after the tool result (so groups carry signal);
    reads the episode to check that the trainer passed it."""
    assert [m["role"] for m in messages][-3:] == ["assistant", "tool", "assistant"]
    return -len(completion) / 40.0


def prompt_rows(count: int) -> list[dict]:
    return [{"prompt": f"What is {i % 9 + 1} + {i % 7 + 2}?", "answer": str(i % 9 + 1 + i % 7 + 2)} for i in range(count)]


def make_config(tiny_model, data, out, **overrides) -> GRPOConfig:
    values = {"model": tiny_model, "data": data, "output_dir": str(out), "batch_size": 4, "num_generations": 2,
              # max_length: the tool prompt alone is about 580 tokens of the tiny tokenizer
              "max_new_tokens": 8, "max_length": 1024, "progress": False, "tensorboard": False, "eval_prompts": 0,
              "rollout_batch_size": 4, "tools": [CALCULATOR], "max_turns": 2, "reward": "test_grpo_tools:brevity",
              "temperature": 1.0, "lr": 1e-2}
    return load_config(GRPOConfig, None, {**values, **overrides})


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    return load_tokenizer(tiny_model)


def test_calculator_is_safe_arithmetic_and_the_reward_reads_the_episode():
    assert [calculator(e) for e in ["12 * (3 + 4)", "7 / 2", "2 ** 10", "0.1 + 0.2", "-3 // 2", "10 % 4"]] == [
        "84", "3.5", "1024", "0.3", "-2", "2"]
    for expression, message in [("__import__('os')", "unsupported syntax"), ("x + 1", "unsupported syntax: x"),
                                ("True + 1", "unsupported syntax"), ("9 ** 9 ** 9", "too large"),
                                ("1 +", "not an arithmetic expression")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            calculator(expression)
    registry = load_tools([CALCULATOR])
    assert registry.schemas()[0]["function"]["parameters"] == {
        "type": "object", "required": ["expression"],
        "properties": {"expression": {"type": "string", "description": 'The expression to evaluate, e.g. "12 * (3 + 4)".'}},
    }
    assert registry.execute(ToolCall("calculator", {"expression": "1 / 0"})) == (
        "error: tool 'calculator' raised ZeroDivisionError: division by zero")
    used = [{"role": "user", "content": "?"}, {"role": "tool", "content": "7"}, {"role": "assistant", "content": "7"}]
    assert tool_answer_correct("?", "The answer is 7.", answer="7") == 1.0
    assert tool_answer_correct("?", "The answer is 8.", answer="7") == 0.0
    assert tool_answer_correct("?", "7", answer="7", messages=used[:1] + used[2:], require_tool=True) == 0.0
    assert tool_answer_correct("?", "7", answer="7", messages=used, require_tool=True) == 1.0


@pytest.mark.parametrize(("values", "message"), [
    ({"tools": [CALCULATOR]}, "tools need max_turns >= 2"),
    ({"max_turns": 3}, "max_turns 3 needs tools"),
    ({"tools": ["calculator"], "max_turns": 2}, "tool 'calculator' is not module:function"),
    ({"max_turns": 0}, "max_turns: Input should be greater than or equal to 1"),
])
def test_config_errors_are_one_line(values, message):
    with pytest.raises(UserError, match=re.escape(message)) as error:
        load_config(GRPOConfig, None, values)
    assert "\n" not in str(error.value)


def test_unknown_tools_and_ppo_with_tools_are_refused(tmp_path):
    with pytest.raises(UserError, match="ppo does not run tool episodes"):
        load_config(PPOConfig, None, {"tools": [CALCULATOR], "max_turns": 2})
    with pytest.raises(UserError, match=r"tool 'no_such_module:f': no module named 'no_such_module'"):
        load_tools(["no_such_module:f"])
    with pytest.raises(UserError, match=r"module 'posttrain.rewards.tools' has no 'calc'"):
        load_tools(["posttrain.rewards.tools:calc"])
    with pytest.raises(UserError, match="file not found"):
        load_tools([f"{tmp_path}/missing.py:f"])
    (tmp_path / "my_tools.py").write_text("def echo(text: str) -> str:\n    '''Repeat the text.'''\n    return text\n")
    assert load_tools([f"{tmp_path}/my_tools.py:echo"]).execute(ToolCall("echo", {"text": "hi"})) == "hi"


def test_forced_episode_runs_the_tool_and_masks_its_output(tiny_model, tokenizer, tmp_path):
    data = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": "What is 12 + 30?", "answer": "42"}])
    config = make_config(tiny_model, data, tmp_path / "run", batch_size=1, num_generations=2)
    tools = load_tools(config.tools)
    [row], _ = load_prompts(config, tokenizer, tools)
    # SmolLM2-style templates ignore tools=, so the tools are listed in a system message.
    assert row.messages[0]["role"] == "system" and '"name": "calculator"' in row.messages[0]["content"]
    policy = Policy(config, tokenizer, tools)
    policy.engine = ScriptedEngine(tokenizer, "The answer is 42.")
    samples = sample_rollouts(policy, [row], config, step=1)
    assert len(samples) == 2
    sample, episode = samples[0], samples[0].episode
    call = call_text("12 + 30")
    assert episode.messages == row.messages + [{"role": "assistant", "content": call}, {"role": "tool", "content": "42"},
                                               {"role": "assistant", "content": "The answer is 42."}]
    # The trained sequence is the prompt, the call (in the loss), the tool message (out), the answer (in).
    call_length = len(tokenizer.encode(call, add_special_tokens=False)) + 1  # + <|im_end|>
    answer_length = len(tokenizer.encode("The answer is 42.", add_special_tokens=False)) + 1
    tool_length = len(sample.sequence) - len(row.prompt_ids) - call_length - answer_length
    assert sample.sequence.loss_mask == (
        [0] * len(row.prompt_ids) + [1] * call_length + [0] * tool_length + [1] * answer_length)
    tool_span = sample.sequence.input_ids[len(row.prompt_ids) + call_length :][:tool_length]
    assert tokenizer.decode(tool_span) == "\n<|im_start|>tool\n42<|im_end|>\n<|im_start|>assistant\n"
    # No retokenization drift: the episode's ids are what rendering the final conversation gives
    # (up to ChatML's trailing newline after the last <|im_end|>, which is never sampled).
    rendered = render(episode.messages, tokenizer)
    assert sample.sequence.input_ids == rendered.input_ids[:-1] and sample.sequence.loss_mask == rendered.loss_mask[:-1]
    assert sample.num_loss_tokens == call_length + answer_length == len(sample.sampled_logps)
    assert sample.sampled_logps == [-0.5] * (call_length + answer_length)
    # The reward scores the final answer and gets the episode as messages=.
    seen = []

    def spy(prompt, completion, **fields):
        seen.append((completion, fields["messages"]))
        return 0.0

    correct = combine({"name": "posttrain.rewards.tools:tool_answer_correct", "kwargs": {"require_tool": True}})
    metrics = score(CombinedReward(correct.parts + [WeightedReward("spy", spy)]), samples, step=1)
    assert [s.reward for s in samples] == [1.0, 1.0] and metrics["reward/spy"] == 0.0
    assert seen[0] == ("The answer is 42.", episode.messages)
    # With several iterations the old log-probs are the recorded sampling ones: the first pass's
    # ratio is exp(current - (-0.5)) per token, far from 1 here, so the clip engages.
    samples[0].advantage, samples[1].advantage = 1.0, -1.0
    optimizer = torch.optim.SGD([p for p in policy.model.parameters() if p.requires_grad], lr=0.0)
    passes = policy_update(policy, samples, config.model_copy(update={"num_iterations": 2}))
    next(passes)  # the first pass's backward; the run steps the optimizer here
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    with pytest.raises(StopIteration) as finished:  # the second and last pass returns the metrics
        next(passes)
    update = finished.value.value
    with torch.no_grad():
        current = policy.token_logps([[seq] for seq in rl.sequences_of(samples)])
    expected_ratio = float((current + 0.5).exp().mean())  # token_mean weights: a plain mean over tokens
    assert update["ratio_mean"] == pytest.approx(expected_ratio, rel=1e-4)


def test_trainer_scores_the_episode_ids_it_sampled(tiny_model, tokenizer, tmp_path):
    """With the real engine, the trainer's forward over an episode's ids gives the log-probs the
    rollout recorded: old log-probs from sampling match the policy that is being trained."""
    data = write_jsonl(tmp_path / "prompts.jsonl", prompt_rows(2))
    config = make_config(tiny_model, data, tmp_path / "run", batch_size=2)
    tools = load_tools(config.tools)
    rows, _ = load_prompts(config, tokenizer, tools)
    policy = Policy(config, tokenizer, tools)
    policy.engine = ForcedCallEngine(policy.model, tokenizer, batch_size=4)
    samples = sample_rollouts(policy, rows, config, step=1)
    assert [s.episode.num_tool_calls for s in samples] == [1, 1, 1, 1]
    assert [s.episode.messages[-2]["content"] for s in samples] == ["3", "3", "5", "5"]  # 1 + 2, 2 + 3
    for sample in samples:
        assert sample.sequence.input_ids is sample.episode.input_ids  # the episode's own ids, not re-rendered
    scored = policy.token_logps([[seq] for seq in rl.sequences_of(samples)])
    recorded = torch.tensor([logp for s in samples for logp in s.sampled_logps])
    assert scored.shape == recorded.shape
    assert torch.allclose(scored, recorded, atol=1e-4)


def test_ranks_sample_what_one_process_does(tiny_model, tokenizer, tmp_path, monkeypatch):
    """Sharding tool episodes in generation batches of whole prompts: two simulated ranks together
    sample exactly the episodes of one process, and each prompt's group stays on one rank."""
    data = write_jsonl(tmp_path / "prompts.jsonl", prompt_rows(4))
    config = make_config(tiny_model, data, tmp_path / "run")
    tools = load_tools(config.tools)
    rows, _ = load_prompts(config, tokenizer, tools)
    policy = Policy(config, tokenizer, tools)
    policy.engine = ForcedCallEngine(policy.model, tokenizer, batch_size=4)
    one = sample_rollouts(policy, rows, config, step=3)  # 2 generation batches of 2 prompts x 2 samples
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    per_rank = []
    for rank in (0, 1):
        monkeypatch.setattr(distributed, "rank", lambda rank=rank: rank)
        per_rank.append(sample_rollouts(policy, rows, config, step=3))
    assert [[s.row.text for s in part] for part in per_rank] == [
        ["What is 1 + 2?"] * 2 + ["What is 2 + 3?"] * 2, ["What is 3 + 4?"] * 2 + ["What is 4 + 5?"] * 2]
    assert [s.sequence.input_ids for part in per_rank for s in part] == [s.sequence.input_ids for s in one]


def test_grpo_run_with_tools_logs_episodes(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setattr(rl, "LocalEngine", ForcedCallEngine)
    data = write_jsonl(tmp_path / "prompts.jsonl", prompt_rows(10))
    run = tmp_path / "run"
    reward = "posttrain.rewards.tools:tool_answer_correct=1,test_grpo_tools:brevity=1"
    summary = train_grpo(make_config(tiny_model, data, run, max_steps=2, num_iterations=2, eval_fraction=0.2,
                                     eval_prompts=2, reward=reward))
    assert summary["step"] == 2 and "eval/reward_mean" in summary
    rollouts = [json.loads(line) for line in (run / "rollouts.jsonl").read_text().splitlines()]
    assert len(rollouts) == 2 * 4 * 2
    for record in rollouts:
        a, b = map(int, QUESTION.search(record["prompt"]).group(1).split(" + "))
        roles = [m["role"] for m in record["messages"]]
        assert roles[:2] == ["system", "user"] and roles[2:4] == ["assistant", "tool"]
        assert record["messages"][3]["content"] == str(a + b)
        assert record["completion"] == record["messages"][-1]["content"]
        expected = tool_answer_correct("", record["completion"], answer=str(a + b)) - len(record["completion"]) / 40.0
        assert record["reward"] == pytest.approx(expected)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = [m for m in metrics if "train/tool_calls" in m]
    assert [m["train/tool_calls"] for m in train] == [1.0, 1.0]
    assert all(m["train/informative_groups"] > 0 for m in train)  # the update ran on episodes


def test_episode_that_would_outgrow_max_length_ends_before_the_tool_message(tokenizer):
    """A tool turn is appended only if the next turn's max_new_tokens still fit within max_length."""
    from posttrain.rollout.episode import run_episodes
    from posttrain.rollout.generate import SamplingParams

    question = [{"role": "user", "content": "What is 12 + 30?"}]
    params, tools = SamplingParams(max_new_tokens=8), load_tools([CALCULATOR])
    [whole] = run_episodes(ScriptedEngine(tokenizer, "42"), tokenizer, [question], params, tools, max_turns=2)
    answer_length = len(tokenizer.encode("42", add_special_tokens=False)) + 1
    fits = len(whole.input_ids) - answer_length + params.max_new_tokens  # the longest the second turn could make it
    [exact] = run_episodes(ScriptedEngine(tokenizer, "42"), tokenizer, [question], params, tools, max_turns=2,
                           max_length=fits)
    assert exact.input_ids == whole.input_ids and exact.finish_reason == "stop"
    [cut] = run_episodes(ScriptedEngine(tokenizer, "42"), tokenizer, [question], params, tools, max_turns=2,
                         max_length=fits - 1)
    assert (cut.finish_reason, cut.num_turns, cut.num_tool_calls) == ("max_length", 1, 0)
    assert [m["role"] for m in cut.messages] == ["user", "assistant"]
    assert cut.input_ids == whole.input_ids[: len(cut.input_ids)] and cut.loss_mask[-1] == 1
