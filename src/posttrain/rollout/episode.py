"""Multi-turn rollouts: the policy answers, may call tools, sees their results, and answers again.

``run_episodes(engine, tokenizer, conversations, params, tools, max_turns=4)`` plays every episode
turn by turn, generating the next assistant turn of all unfinished episodes in one engine call.
A turn that contains tool calls (and ended on an end-of-turn token, with turns left) has its calls
executed; the results are appended as ``{"role": "tool", "content": result}`` messages and the
episode continues. Any other turn ends the episode.

No retokenization drift: an episode's ``input_ids`` are built once, by appending, and are exactly
what the policy was conditioned on when it sampled, so a trainer scoring them sees the rollout's
tokens. They are the concatenation of

- the first prompt, ``render_prompt(conversation)`` (loss mask 0);
- each turn's sampled token ids, as the engine returned them (mask 1, with their log-probs);
  the sampled text is never re-encoded, since the same text can tokenize differently;
- after a turn with tool calls, the template's tokens between that turn and the next one (mask 0):
  the glue it puts after the assistant's end-of-turn token (ChatML's newline), then the tool
  messages and the next generation prompt. These come from the template itself: the delta between
  the rendered conversation through the assistant turn and ``render_prompt`` of the conversation with
  the tool messages. A template for which the first is not a token prefix of the second (one that
  rewrites earlier turns) raises an error naming the template rather than drift silently.

With canonically tokenized samples the result equals ``render(messages)`` of the final conversation,
mask included, up to its last loss token (an episode ends on its last sampled token, so template text
after it, such as ChatML's final newline, is left out); the tests check this.

Example::

    engine = LocalEngine(model, tokenizer)
    tools = ToolRegistry([get_weather])
    episodes = run_episodes(engine, tokenizer, [[{"role": "user", "content": "Weather in Paris?"}]],
                            SamplingParams(max_new_tokens=64, temperature=0.7, n=4, seed=0), tools)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from posttrain.data.render import (
    end_of_turn_ids,
    render_messages,
    render_prompt,
    template_name,
)
from posttrain.errors import UserError
from posttrain.rollout.engine import RolloutEngine
from posttrain.rollout.generate import SamplingParams
from posttrain.rollout.tools import ToolCall, ToolRegistry, parse_tool_calls


@dataclass
class Episode:
    """One multi-turn rollout; ``input_ids``, ``loss_mask`` and ``logprobs`` have one entry per token.

    ``loss_mask[i]`` is 1 where the policy sampled ``input_ids[i]``, and ``logprobs[i]`` is the
    log-prob it gave that token when sampling (raw, before temperature/top-k/top-p; 0.0 where the
    mask is 0). For a next-token loss, position ``i`` predicts token ``i + 1``: score
    ``input_ids[1:]`` against ``loss_mask[1:]`` and ``logprobs[1:]``.
    """

    prompt_index: int
    sample_index: int
    messages: list[dict]  # the conversation plus every assistant turn (raw sampled text) and tool message
    input_ids: list[int]
    loss_mask: list[int]
    logprobs: list[float]
    prompt_length: int  # tokens of the first prompt; everything after it is the episode's
    finish_reason: str = ""  # "stop", "length" (a turn hit max_new_tokens), "max_turns" or "max_length"
    num_turns: int = 0  # assistant turns generated
    tool_calls: list[ToolCall] = field(default_factory=list)  # executed calls, in order

    @property
    def num_tool_calls(self) -> int:
        return len(self.tool_calls)

    @property
    def final_text(self) -> str:
        """The last assistant turn's text: what a reward function usually scores."""
        return self.messages[-1]["content"]

    def append(self, token_ids: list[int], logprobs: list[float] | None = None) -> None:
        """Add sampled tokens (with ``logprobs``) or, without them, template tokens outside the loss."""
        self.input_ids += token_ids
        self.loss_mask += [0 if logprobs is None else 1] * len(token_ids)
        self.logprobs += [0.0] * len(token_ids) if logprobs is None else logprobs


def tool_message_ids(messages: list[dict], results: list[str], tokenizer, tools=None) -> list[int]:
    """The template's tokens after the last (assistant) message of ``messages``'s end-of-turn token,
    through the tool messages holding ``results`` and the next generation prompt."""
    through = render_messages(messages, tokenizer, tools)  # checks the prefix property per assistant turn
    last_sampled = max((i for i, kept in enumerate(through.loss_mask) if kept), default=len(through) - 1)
    glue = through.input_ids[last_sampled + 1 :]  # e.g. ChatML's "\n" after <|im_end|>: never sampled
    with_results = render_prompt(messages + [{"role": "tool", "content": r} for r in results], tokenizer, tools)
    if with_results[: len(through)] != through.input_ids:
        raise UserError(
            f"chat template of '{template_name(tokenizer)}' is not prefix-consistent after assistant turn "
            f"{len(messages) - 1}: adding tool messages changes the tokens before them, so a multi-turn "
            "episode cannot be extended without retokenization drift"
        )
    return glue + with_results[len(through) :]


def run_episodes(
    engine: RolloutEngine,
    tokenizer,
    conversations: list[list[dict]],
    params: SamplingParams,
    tools: ToolRegistry,
    max_turns: int = 4,
    max_length: int | None = None,
) -> list[Episode]:
    """Play ``params.n`` episodes per conversation, at most ``max_turns`` assistant turns each.

    Returns episodes ordered by ``(prompt_index, sample_index)``. A turn cut by ``max_new_tokens`` or
    a stop string ends its episode without running its tool calls; so does a turn with calls when no
    turns remain (``finish_reason == "max_turns"``), and, with ``max_length``, one whose tool messages
    would leave no room for another ``max_new_tokens`` (``"max_length"``: its results are not appended),
    so no episode grows past ``max_length`` tokens. Tool schemas go to the template as ``tools=``;
    templates that ignore them need ``tools.system_prompt()`` in a system message (``with_tool_prompt``).
    """
    if max_turns < 1:
        raise UserError(f"max_turns must be >= 1, got {max_turns}")
    schemas = tools.schemas() or None
    stop_ids = end_of_turn_ids(tokenizer)
    episodes = []
    for prompt_index, messages in enumerate(conversations):
        prompt = render_prompt(messages, tokenizer, schemas)
        for sample_index in range(params.n):
            episode = Episode(prompt_index, sample_index, list(messages), [], [], [], prompt_length=len(prompt))
            episode.append(prompt)
            episodes.append(episode)
    running = episodes
    for turn in range(max_turns):
        if not running:
            break
        # One sample per running episode; a per-turn seed keeps turns from repeating each other's draws.
        turn_params = replace(params, n=1, seed=None if params.seed is None else params.seed + turn)
        completions = engine.generate([episode.input_ids for episode in running], turn_params)
        continuing = []
        for episode, completion in zip(running, completions):
            episode.append(completion.token_ids, completion.logprobs)
            episode.messages.append({"role": "assistant", "content": completion.text})
            episode.num_turns += 1
            calls = parse_tool_calls(completion.text)
            # Only a turn the model closed itself can be followed by the template's tool messages.
            last_token = completion.token_ids[-1] if completion.token_ids else None
            closed = completion.finish_reason == "stop" and last_token in stop_ids
            if not calls or not closed:
                episode.finish_reason = completion.finish_reason
            elif turn + 1 == max_turns:
                episode.finish_reason = "max_turns"
            else:
                results = [tools.execute(call) for call in calls]
                delta = tool_message_ids(episode.messages, results, tokenizer, schemas)
                if max_length is not None and len(episode.input_ids) + len(delta) + params.max_new_tokens > max_length:
                    episode.finish_reason = "max_length"
                    continue
                episode.append(delta)
                episode.messages += [{"role": "tool", "content": result} for result in results]
                episode.tool_calls += calls
                continuing.append(episode)
        running = continuing
    return episodes
