"""Multi-turn episodes: tool calls executed between turns, loss masks, and no retokenization drift.

The tiny random model never writes a tool call, so most tests use a scripted engine (it implements
RolloutEngine and returns fixed texts, tokenized with the tiny tokenizer, ending in <|im_end|>).
"""

import copy

import pytest
import torch

from posttrain.data.render import render_messages, render_prompt
from posttrain.errors import UserError
from posttrain.models.loading import load_model, load_tokenizer
from posttrain.rollout.engine import LocalEngine, RolloutEngine
from posttrain.rollout.episode import run_episodes
from posttrain.rollout.generate import Completion, SamplingParams
from posttrain.rollout.tools import ToolCall, ToolRegistry

CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
ANSWER = "It is sunny, 21 C in Paris."
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


def get_weather(city: str) -> str:
    """Weather of a city."""
    return f"Sunny, 21 C in {city}"


TOOLS = ToolRegistry([get_weather])


class ScriptedEngine:
    """Answers call k with ``script(k, row_prompt)`` for each row; records what it was asked."""

    def __init__(self, tokenizer, script, encode=None, finish_reason="stop"):
        self.tokenizer, self.script, self.finish_reason = tokenizer, script, finish_reason
        self.encode = encode or (lambda text: tokenizer.encode(text, add_special_tokens=False))
        self.prompts: list[list[list[int]]] = []
        self.params: list[SamplingParams] = []

    def generate(self, prompt_ids, params):
        call = len(self.prompts)
        self.prompts.append([list(p) for p in prompt_ids])
        self.params.append(params)
        completions = []
        for row, prompt in enumerate(prompt_ids):
            text = self.script(call, prompt)
            ids = self.encode(text) + (
                [self.tokenizer.convert_tokens_to_ids("<|im_end|>")] * (self.finish_reason == "stop")
            )
            logprobs = [-0.01 * (call + 1)] * len(ids)  # marks which turn a token came from
            completions.append(Completion(row, 0, ids, logprobs, text, self.finish_reason))
        return completions

    def sync_weights(self, model):
        pass


def call_then_answer(call, prompt):
    return CALL if call == 0 else ANSWER


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    return load_tokenizer(tiny_model)


def test_tool_episode_equals_rendering_the_final_conversation(tokenizer):
    engine = ScriptedEngine(tokenizer, call_then_answer)
    assert isinstance(engine, RolloutEngine)
    [episode] = run_episodes(engine, tokenizer, [QUESTION], SamplingParams(seed=7), TOOLS)
    assert episode.messages == QUESTION + [
        {"role": "assistant", "content": CALL},
        {"role": "tool", "content": "Sunny, 21 C in Paris"},
        {"role": "assistant", "content": ANSWER},
    ]
    assert (episode.finish_reason, episode.num_turns, episode.num_tool_calls) == ("stop", 2, 1)
    assert episode.tool_calls == [ToolCall("get_weather", {"city": "Paris"})]
    assert episode.final_text == ANSWER
    # Canonically tokenized samples: the episode is exactly what the SFT contract renders, mask included,
    # except that it ends on the last sampled token (ChatML's trailing "\n" is never sampled nor trained on).
    rendered = render_messages(episode.messages, tokenizer)
    assert rendered.input_ids[-1] == tokenizer.encode("\n")[0] and rendered.loss_mask[-1] == 0
    assert episode.input_ids == rendered.input_ids[:-1]
    assert episode.loss_mask == rendered.loss_mask[:-1]
    # The second turn was sampled from render_prompt of the conversation with the tool message: the
    # appended tool delta is what the template gives, and the episode extends that prompt.
    with_tool = render_prompt(episode.messages[:3], tokenizer)
    assert engine.prompts[1] == [with_tool]
    assert episode.input_ids[: len(with_tool)] == with_tool
    assert episode.prompt_length == len(render_prompt(QUESTION, tokenizer))
    assert [p.n for p in engine.params] == [1, 1] and [p.seed for p in engine.params] == [7, 8]


def test_loss_mask_covers_sampled_tokens_only(tokenizer):
    [episode] = run_episodes(
        ScriptedEngine(tokenizer, call_then_answer), tokenizer, [QUESTION], SamplingParams(), TOOLS
    )
    masked = [t for t, kept in zip(episode.input_ids, episode.loss_mask) if kept]
    unmasked = [t for t, kept in zip(episode.input_ids, episode.loss_mask) if not kept]
    assert tokenizer.decode(masked) == CALL + "<|im_end|>" + ANSWER + "<|im_end|>"
    # Prompt, template glue and the tool output are all outside the loss.
    assert tokenizer.decode(unmasked) == (
        "<|im_start|>user\nWhat is the weather in Paris?<|im_end|>\n<|im_start|>assistant\n"
        "\n<|im_start|>tool\nSunny, 21 C in Paris<|im_end|>\n<|im_start|>assistant\n"
    )
    turn_of_token = {-0.01: 1, -0.02: 2}
    sampled_turns = [turn_of_token[lp] for lp, kept in zip(episode.logprobs, episode.loss_mask) if kept]
    call_length = len(tokenizer.encode(CALL, add_special_tokens=False)) + 1
    assert sampled_turns == [1] * call_length + [2] * (len(masked) - call_length)
    assert all(lp == 0.0 for lp, kept in zip(episode.logprobs, episode.loss_mask) if not kept)


def test_sampled_ids_are_kept_not_retokenized(tokenizer):
    """Sampled one character at a time (a valid but non-canonical tokenization): the episode holds
    those ids at the mask positions, where re-encoding the text would give different ones."""

    def char_by_char(text):
        return [t for ch in text for t in tokenizer.encode(ch, add_special_tokens=False)]

    engine = ScriptedEngine(tokenizer, call_then_answer, encode=char_by_char)
    [episode] = run_episodes(engine, tokenizer, [QUESTION], SamplingParams(), TOOLS)
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    masked = [t for t, kept in zip(episode.input_ids, episode.loss_mask) if kept]
    assert masked == char_by_char(CALL) + [im_end] + char_by_char(ANSWER) + [im_end]
    rendered = render_messages(episode.messages, tokenizer)
    assert masked != [t for t, kept in zip(rendered.input_ids, rendered.loss_mask) if kept]
    # Turn 2 was conditioned on exactly the episode's ids so far.
    assert episode.input_ids[: len(engine.prompts[1][0])] == engine.prompts[1][0]
    # The template's tokens after turn 1's <|im_end|>: ChatML's "\n", the tool message, the generation prompt.
    tool_delta = render_prompt(episode.messages[:3], tokenizer)[
        len(render_messages(episode.messages[:2], tokenizer)) - 1 :
    ]
    start = episode.prompt_length + len(char_by_char(CALL)) + 1
    assert episode.input_ids[start : start + len(tool_delta)] == tool_delta


def test_max_turns_stops_a_model_that_keeps_calling(tokenizer):
    engine = ScriptedEngine(tokenizer, lambda call, prompt: CALL)
    [episode] = run_episodes(engine, tokenizer, [QUESTION], SamplingParams(), TOOLS, max_turns=3)
    assert (episode.finish_reason, episode.num_turns, episode.num_tool_calls) == ("max_turns", 3, 2)
    assert [m["role"] for m in episode.messages] == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert len(engine.prompts) == 3
    with pytest.raises(UserError, match="max_turns must be >= 1"):
        run_episodes(engine, tokenizer, [QUESTION], SamplingParams(), TOOLS, max_turns=0)


def test_truncated_turn_ends_the_episode_without_running_its_call(tokenizer):
    engine = ScriptedEngine(tokenizer, lambda call, prompt: CALL, finish_reason="length")
    [episode] = run_episodes(engine, tokenizer, [QUESTION], SamplingParams(), TOOLS)
    assert (episode.finish_reason, episode.num_turns, episode.num_tool_calls) == ("length", 1, 0)
    assert episode.input_ids[-1] != tokenizer.convert_tokens_to_ids("<|im_end|>")


def test_batches_only_unfinished_episodes_and_reports_tool_errors(tokenizer):
    weather_prompt = render_prompt(QUESTION, tokenizer)

    def script(call, prompt):  # the weather question calls a tool that does not exist; the other answers
        if call == 0 and prompt == weather_prompt:
            return '<tool_call>{"name": "search", "arguments": {"q": "Paris"}}</tool_call>'
        return ANSWER

    engine = ScriptedEngine(tokenizer, script)
    other = [{"role": "user", "content": "Hello"}]
    episodes = run_episodes(engine, tokenizer, [QUESTION, other], SamplingParams(n=2), TOOLS)
    assert [(e.prompt_index, e.sample_index) for e in episodes] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [len(p) for p in engine.prompts] == [4, 2]
    assert [e.num_turns for e in episodes] == [2, 2, 1, 1]
    assert episodes[0].messages[2] == {
        "role": "tool",
        "content": "error: unknown tool 'search' (available: get_weather)",
    }
    assert episodes[0].num_tool_calls == 1 and episodes[0].finish_reason == "stop"


def test_template_that_rewrites_history_is_refused(tokenizer):
    rewriting = copy.deepcopy(tokenizer)
    # A header that appears only once a tool message exists changes the tokens before it.
    rewriting.chat_template = (
        "{% if messages | selectattr('role', 'equalto', 'tool') | list %}{{ '<|im_start|>system\nTools used<|im_end|>\n' }}"
        "{% endif %}" + tokenizer.chat_template
    )
    with pytest.raises(UserError, match=r"chat template of '.*' is not prefix-consistent after assistant turn 1"):
        run_episodes(ScriptedEngine(rewriting, call_then_answer), rewriting, [QUESTION], SamplingParams(), TOOLS)


def test_local_engine_episode_scores_like_a_full_forward(tiny_model, tokenizer):
    """End to end on the real tiny model: a scripted tool call, then turns the model samples itself.
    The sampled tokens' log-probs must equal those of one uncached forward over the episode's ids,
    which is how a trainer scores them."""
    model = load_model(tiny_model)
    local = LocalEngine(model, tokenizer, batch_size=4)

    class FirstTurnScripted(ScriptedEngine):
        def generate(self, prompt_ids, params):
            if not self.prompts:
                return super().generate(prompt_ids, params)
            self.prompts.append(prompt_ids)
            return local.generate(prompt_ids, params)

    params = SamplingParams(max_new_tokens=6, temperature=1.0, seed=0, n=2)
    episodes = run_episodes(FirstTurnScripted(tokenizer, call_then_answer), tokenizer, [QUESTION], params, TOOLS)
    with_tool = render_prompt(
        QUESTION + [{"role": "assistant", "content": CALL}, {"role": "tool", "content": "Sunny, 21 C in Paris"}],
        tokenizer,
    )
    for episode in episodes:
        assert len(episode.input_ids) == len(episode.loss_mask) == len(episode.logprobs)
        assert episode.input_ids[: len(with_tool)] == with_tool and episode.num_tool_calls == 1
        own_turn = range(len(with_tool), len(episode.input_ids))
        assert 1 <= len(own_turn) <= 6 and all(episode.loss_mask[i] == 1 for i in own_turn)
        with torch.no_grad():
            logps = model(input_ids=torch.tensor([episode.input_ids])).logits[0].log_softmax(-1)  # (T, V)
        expected = [logps[i - 1, episode.input_ids[i]].item() for i in own_turn]
        assert expected == pytest.approx([episode.logprobs[i] for i in own_turn], abs=1e-4)
    assert episodes[0].input_ids != episodes[1].input_ids  # two samples of the same prompt differ
