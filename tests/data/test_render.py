"""``render``: input ids and loss masks checked against hand-written expected tokens.

Each chat-template family gets a tiny word-level tokenizer built in the test (no downloads),
so every token is a readable word and the expected sequence can be written out by hand:
special tokens are split out first, a newline becomes the visible token ``⏎``, and
the rest is split on whitespace. Expected renders are written as ``(text, mask)`` segments;
``mask=1`` segments are the tokens the assistant produced and the loss trains on.
"""

import os

import pytest
from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from posttrain.data.conversation import Conversation
from posttrain.data.render import Rendered, render
from posttrain.errors import DataError

# Every plain word any template or conversation below produces.
WORDS = """
⏎ system user assistant model tool
You are a helpful AI named SmolLM, trained by Hugging Face
hi hello Be brief. What is 2+2? 4 And 3+3? 6
plan recheck Tools: get_weather city Paris Weather in Paris? sunny It is
""".split()

CHATML_SPECIALS = ["<|im_start|>", "<|im_end|>"]
LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
GEMMA_SPECIALS = ["<bos>", "<eos>", "<pad>", "<start_of_turn>", "<end_of_turn>"]
QWEN3_SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<tool_call>", "</tool_call>"]


def make_tokenizer(name, chat_template, specials, eos_token, pad_token=None, bos_token=None):
    """A word-level tokenizer: specials first, '\\n' -> the token '⏎', then split on whitespace."""
    vocab = {token: index for index, token in enumerate(["[UNK]", *specials, *WORDS])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.Replace("\n", " ⏎ ")
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in specials])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=eos_token,
        pad_token=pad_token or eos_token,
        bos_token=bos_token,
        unk_token="[UNK]",
        name_or_path=name,
    )
    tokenizer.chat_template = chat_template
    return tokenizer


def expected(tokenizer, segments):
    """Turn hand-written ``(space-separated tokens, mask)`` segments into ``(ids, mask, tokens)``."""
    tokens, mask = [], []
    for text, masked in segments:
        words = text.split()
        tokens += words
        mask += [masked] * len(words)
    ids = tokenizer.convert_tokens_to_ids(tokens)
    assert tokenizer.unk_token_id not in ids, f"a hand-written token is missing from the vocab: {tokens}"
    return ids, mask, tokens


def assert_render(tokenizer, rendered, segments):
    ids, mask, tokens = expected(tokenizer, segments)
    # Compare readable tokens first so a failure shows words, then the exact ids and mask.
    assert tokenizer.convert_ids_to_tokens(rendered.input_ids) == tokens
    assert rendered.input_ids == ids
    assert masked_tokens(tokenizer, rendered) == [t for t, m in zip(tokens, mask) if m]
    assert rendered.loss_mask == mask
    assert rendered.truncated is False


def masked_tokens(tokenizer, rendered):
    return [t for t, m in zip(tokenizer.convert_ids_to_tokens(rendered.input_ids), rendered.loss_mask) if m]


# ---- templates (shaped like the real ones, trimmed to what the tests exercise) --------------

# SmolLM2-Instruct's template verbatim: default system prompt when none is given.
CHATML_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

# Gemma: no system role; the system text is glued to the front of the first user turn.
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{% set first_user_prefix = messages[0]['content'] + '\n\n' %}{% set loop_messages = messages[1:] %}"
    "{% else %}{% set first_user_prefix = '' %}{% set loop_messages = messages %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if message['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)

# Qwen3: reasoning (<think>...</think>) is kept only for assistant turns after the last user
# message, so an earlier turn's reasoning disappears once a later user turn is added.
QWEN3_TEMPLATE = (
    "{% set ns = namespace(last_user=-1) %}"
    "{% for message in messages %}{% if message['role'] == 'user' %}{% set ns.last_user = loop.index0 %}{% endif %}"
    "{% endfor %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' and loop.index0 < ns.last_user %}"
    "{{ '<|im_start|>assistant\n' + message['content'].split('</think>')[-1].lstrip() + '<|im_end|>\n' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# A sliding-window template: only the last three messages are rendered.
LAST_THREE_TEMPLATE = (
    "{% for message in messages[-3:] %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Qwen-style tool use: tool names in a system header, calls as <tool_call> blocks, results as tool turns.
TOOLS_TEMPLATE = (
    "{% if tools %}{{ '<|im_start|>system\nTools:' }}{% for tool in tools %}{{ ' ' + tool['function']['name'] }}"
    "{% endfor %}{{ '<|im_end|>\n' }}{% endif %}"
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] %}{{ message['content'] }}{% endif %}"
    "{% for call in message.get('tool_calls') or [] %}{{ '<tool_call>' + call['function']['name'] }}"
    "{% for key, value in call['function']['arguments'].items() %}{{ ' ' + key + ' ' + value }}{% endfor %}"
    "{{ '</tool_call>' }}{% endfor %}{{ '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

TWO_TURNS = [
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "4"},
    {"role": "user", "content": "And 3+3?"},
    {"role": "assistant", "content": "6"},
]


@pytest.fixture
def chatml():
    return make_tokenizer("tiny-chatml", CHATML_TEMPLATE, CHATML_SPECIALS, eos_token="<|im_end|>")


# ---- ChatML (SmolLM2) -----------------------------------------------------------------------


def test_chatml_injects_default_system_prompt_and_masks_answer_through_im_end(chatml):
    """No system message, so the template writes SmolLM2's default system turn; it is prompt (0).

    The assistant produced exactly ``hello <|im_end|>``: everything before it, including
    ``<|im_start|> assistant ⏎`` (the generation prompt), is what the model was given, so 0.
    ``<|im_end|>`` is how the model stops, so it is trained (1). The ``⏎`` after it is template
    formatting the model never generates, so 0.
    """
    rendered = render([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], chatml)
    assert_render(
        chatml,
        rendered,
        [
            (
                "<|im_start|> system ⏎ You are a helpful AI assistant named SmolLM, trained by Hugging Face <|im_end|> ⏎"
                " <|im_start|> user ⏎ hi <|im_end|> ⏎ <|im_start|> assistant ⏎",
                0,
            ),
            ("hello <|im_end|>", 1),
            ("⏎", 0),
        ],
    )


def test_chatml_given_system_message_replaces_default(chatml):
    """A system message is rendered as given (no default injected) and, like the user turn, is 0.

    Both assistant turns are 1 from their first word through their ``<|im_end|>``; the second
    user turn between them and every ``⏎`` after ``<|im_end|>`` are 0.
    """
    messages = [{"role": "system", "content": "Be brief."}, *TWO_TURNS]
    assert_render(
        chatml,
        render(messages, chatml),
        [
            ("<|im_start|> system ⏎ Be brief. <|im_end|> ⏎ <|im_start|> user ⏎ What is 2+2? <|im_end|> ⏎", 0),
            ("<|im_start|> assistant ⏎", 0),
            ("4 <|im_end|>", 1),
            ("⏎ <|im_start|> user ⏎ And 3+3? <|im_end|> ⏎ <|im_start|> assistant ⏎", 0),
            ("6 <|im_end|>", 1),
            ("⏎", 0),
        ],
    )


# ---- Llama-3 ----------------------------------------------------------------------------------


def test_llama3_two_assistant_turns_masked_with_their_eot():
    """``<|begin_of_text|>``, every header (``<|start_header_id|> role <|end_header_id|> ⏎ ⏎``)
    and both user turns are prompt (0). The assistant wrote ``4 <|eot_id|>`` and ``6 <|eot_id|>``;
    ``<|eot_id|>`` is Llama-3's end of turn (found from the family table, since this tokenizer's
    eos is ``<|end_of_text|>``), so it is trained (1). Nothing follows the last ``<|eot_id|>``.
    """
    tokenizer = make_tokenizer(
        "tiny-llama3", LLAMA3_TEMPLATE, LLAMA3_SPECIALS, eos_token="<|end_of_text|>", bos_token="<|begin_of_text|>"
    )
    assert_render(
        tokenizer,
        render(TWO_TURNS, tokenizer),
        [
            ("<|begin_of_text|> <|start_header_id|> user <|end_header_id|> ⏎ ⏎ What is 2+2? <|eot_id|>", 0),
            ("<|start_header_id|> assistant <|end_header_id|> ⏎ ⏎", 0),
            ("4 <|eot_id|>", 1),
            ("<|start_header_id|> user <|end_header_id|> ⏎ ⏎ And 3+3? <|eot_id|>", 0),
            ("<|start_header_id|> assistant <|end_header_id|> ⏎ ⏎", 0),
            ("6 <|eot_id|>", 1),
        ],
    )


# ---- Gemma: system turn rewritten into the first user turn --------------------------------------


def test_gemma_system_folded_into_first_user_turn():
    """Gemma has no system role: ``Be brief.`` and a blank line are prepended to the first user
    turn, so it sits inside ``<start_of_turn> user`` and is prompt (0). Assistant turns are
    rendered under the role ``model``; what the model wrote is ``4 <end_of_turn>`` and
    ``6 <end_of_turn>`` (1). The ``⏎`` after each ``<end_of_turn>`` is formatting (0).
    """
    tokenizer = make_tokenizer(
        "tiny-gemma", GEMMA_TEMPLATE, GEMMA_SPECIALS, eos_token="<eos>", pad_token="<pad>", bos_token="<bos>"
    )
    messages = [{"role": "system", "content": "Be brief."}, *TWO_TURNS]
    assert_render(
        tokenizer,
        render(messages, tokenizer),
        [
            ("<bos> <start_of_turn> user ⏎ Be brief. ⏎ ⏎ What is 2+2? <end_of_turn> ⏎ <start_of_turn> model ⏎", 0),
            ("4 <end_of_turn>", 1),
            ("⏎ <start_of_turn> user ⏎ And 3+3? <end_of_turn> ⏎ <start_of_turn> model ⏎", 0),
            ("6 <end_of_turn>", 1),
            ("⏎", 0),
        ],
    )


# ---- templates that rewrite earlier turns: refuse, naming template and turn ----------------------


def test_qwen3_single_turn_keeps_reasoning_in_mask():
    """With one assistant turn nothing is rewritten: the reasoning ``<think> plan </think>`` is part
    of what the model wrote, so it is trained (1) together with the answer and ``<|im_end|>``.
    """
    tokenizer = make_tokenizer("tiny-qwen3", QWEN3_TEMPLATE, QWEN3_SPECIALS, eos_token="<|im_end|>")
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "<think> plan </think> hello"}]
    assert_render(
        tokenizer,
        render(messages, tokenizer),
        [
            ("<|im_start|> user ⏎ hi <|im_end|> ⏎ <|im_start|> assistant ⏎", 0),
            ("<think> plan </think> hello <|im_end|>", 1),
            ("⏎", 0),
        ],
    )


@pytest.mark.parametrize(
    ("name", "template"),
    [("tiny-qwen3", QWEN3_TEMPLATE), ("tiny-last-three", LAST_THREE_TEMPLATE)],
    ids=["qwen3-drops-old-reasoning", "window-drops-old-turns"],
)
def test_template_dropping_earlier_content_raises_naming_template_and_turn(name, template):
    """Qwen3 drops ``<think> plan </think>`` from messages[1] once messages[2] (a user turn) follows;
    the sliding window drops messages[0] once there are four messages. Either way the render of the
    conversation through messages[1] is no prefix of the full render, so the answer's tokens cannot
    be located and render must refuse, naming the template and ``messages[1]``.
    """
    tokenizer = make_tokenizer(name, template, QWEN3_SPECIALS, eos_token="<|im_end|>")
    messages = [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "<think> plan </think> 4"},
        {"role": "user", "content": "And 3+3?"},
        {"role": "assistant", "content": "<think> recheck </think> 6"},
    ]
    with pytest.raises(DataError, match=rf"'{name}'.*messages\[1\]") as error:
        render(messages, tokenizer)
    assert error.value.field == "messages[1]"


# ---- truncation -------------------------------------------------------------------------------------


def test_truncation_keeps_first_tokens_and_flags_row(chatml):
    """The full render is 29 tokens: 26 of prompt (17 for the default system turn, 6 for the user
    turn, 3 for the generation prompt), then ``hello <|im_end|>`` (1) and the final ``⏎`` (0).
    ``max_length=27`` keeps the first 27: the whole prompt and ``hello``; ``<|im_end|>`` and ``⏎``
    are cut.
    """
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    full = render(messages, chatml)
    assert len(full) == 29

    cut = render(messages, chatml, max_length=27)
    ids, mask, tokens = expected(
        chatml,
        [
            (
                "<|im_start|> system ⏎ You are a helpful AI assistant named SmolLM, trained by Hugging Face <|im_end|> ⏎"
                " <|im_start|> user ⏎ hi <|im_end|> ⏎ <|im_start|> assistant ⏎",
                0,
            ),
            ("hello", 1),
        ],
    )
    assert (cut.input_ids, cut.loss_mask, cut.truncated) == (ids, mask, True)
    assert cut.input_ids == full.input_ids[:27] and cut.loss_mask == full.loss_mask[:27]

    # At or above the full length nothing is cut and the row is not flagged.
    assert render(messages, chatml, max_length=29) == Rendered(full.input_ids, full.loss_mask, truncated=False)


# ---- tools ------------------------------------------------------------------------------------------


WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}

TOOL_MESSAGES = [
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_0", "name": "get_weather", "content": "sunny"},
    {"role": "assistant", "content": "It is sunny"},
]


@pytest.fixture
def tools_tokenizer():
    return make_tokenizer("tiny-tools", TOOLS_TEMPLATE, QWEN3_SPECIALS, eos_token="<|im_end|>")


def test_tool_call_turn_masked_tool_result_not(tools_tokenizer):
    """The tool schema reaches the template through ``Conversation.tools``: the header
    ``<|im_start|> system ⏎ Tools: get_weather <|im_end|>`` is rendered (0).
    The assistant's call ``<tool_call> get_weather city Paris </tool_call> <|im_end|>`` is what the
    model wrote (1). The tool turn ``sunny`` came from the environment, not the model, so it is 0
    like a user turn. The final answer ``It is sunny <|im_end|>`` is 1.
    """
    rendered = render(Conversation(TOOL_MESSAGES, tools=[WEATHER_TOOL]), tools_tokenizer)
    assert_render(
        tools_tokenizer,
        rendered,
        [
            ("<|im_start|> system ⏎ Tools: get_weather <|im_end|> ⏎", 0),
            ("<|im_start|> user ⏎ Weather in Paris? <|im_end|> ⏎ <|im_start|> assistant ⏎", 0),
            ("<tool_call> get_weather city Paris </tool_call> <|im_end|>", 1),
            ("⏎ <|im_start|> tool ⏎ sunny <|im_end|> ⏎ <|im_start|> assistant ⏎", 0),
            ("It is sunny <|im_end|>", 1),
            ("⏎", 0),
        ],
    )


def test_conversation_without_tools_renders_no_tool_header(tools_tokenizer):
    """Same messages, no tool schemas: the template's ``Tools:`` header is absent, and the mask
    is unchanged otherwise (the call and the final answer are 1, the tool result is 0).
    """
    rendered = render(Conversation(TOOL_MESSAGES), tools_tokenizer)
    assert_render(
        tools_tokenizer,
        rendered,
        [
            ("<|im_start|> user ⏎ Weather in Paris? <|im_end|> ⏎ <|im_start|> assistant ⏎", 0),
            ("<tool_call> get_weather city Paris </tool_call> <|im_end|>", 1),
            ("⏎ <|im_start|> tool ⏎ sunny <|im_end|> ⏎ <|im_start|> assistant ⏎", 0),
            ("It is sunny <|im_end|>", 1),
            ("⏎", 0),
        ],
    )


# ---- the real embedded tokenizer --------------------------------------------------------------------

SMOLLM2_DIR = os.path.expanduser("~/.cache/posttrain/models/SmolLM2-135M-Instruct")


def test_real_smollm2_masks_exactly_the_assistant_text_and_im_end():
    """With SmolLM2's own tokenizer and template, the masked tokens form two runs, one per
    assistant turn, and decode to exactly the assistant's text followed by ``<|im_end|>``:
    no role header, no trailing newline, nothing from the user or the default system prompt.
    """
    if not os.path.isdir(SMOLLM2_DIR):
        pytest.skip(f"embedded model not cached at {SMOLLM2_DIR}")
    tokenizer = AutoTokenizer.from_pretrained(SMOLLM2_DIR)
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello there!"},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
    ]
    rendered = render(messages, tokenizer)

    runs, current = [], []
    for token, masked in zip(rendered.input_ids, rendered.loss_mask):
        if masked:
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    assert [tokenizer.decode(run) for run in runs] == ["Hello there!<|im_end|>", "4<|im_end|>"]
    # The masked runs sit inside the full render, which decodes to the template's text.
    assert tokenizer.decode(rendered.input_ids).startswith("<|im_start|>system\nYou are a helpful AI assistant")


def test_tool_calls_are_written_as_text_for_a_template_that_ignores_them(chatml):
    # The ChatML template here prints `content` only, like SmolLM2's: a tool-calling turn with
    # content None must render its call, and mask it, rather than fail or render empty.
    messages = [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "content": '{"temp": 3}'},
        {"role": "assistant", "content": "It is 3 degrees."},
    ]
    rendered = render(Conversation(messages), chatml)
    call = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    as_text = [*messages[:1], {"role": "assistant", "content": call}, *messages[2:]]
    assert rendered == render(Conversation(as_text), chatml)  # same ids, same mask
    assert sum(rendered.loss_mask) > 0
