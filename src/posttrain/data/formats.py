"""Dataset formats: turn raw rows into typed examples, and load a whole file of them.

Four formats, each a function ``row -> example`` in the :data:`FORMATS` registry:

- ``sft``: ``{"messages": [...], "tools"?: [...]}`` or ``{"prompt", "completion", "system"?}``
  -> :class:`~posttrain.data.conversation.Conversation`
- ``preference``: ``{"prompt", "chosen", "rejected"}`` (strings or message lists), or full
  ``chosen``/``rejected`` conversations sharing a prompt (with or without a ``prompt`` field,
  as in UltraFeedback) -> :class:`PreferenceExample`
- ``unpaired``: ``{"prompt", "completion", "label": bool}`` -> :class:`UnpairedExample`
- ``prompts``: ``{"prompt", ...}`` -> :class:`PromptExample` (other fields feed reward functions)

Other tools' shapes are rewritten into these by :mod:`posttrain.data.conversions` and have
names of their own: ``sharegpt`` and ``alpaca`` (read by ``sft`` too), ``hh`` (Anthropic HH
text, read by ``preference`` too). A row of another known format than the one asked for is
an error that names the format it looks like and the flag that reads it.

``load_examples(path, format)`` reads a file (see :mod:`posttrain.data.readers`) and converts
every row; a bad row raises a :class:`DataError` naming the file, line and field, or with
``skip_bad_rows=True`` is collected in ``LoadResult.skipped``. ``format="auto"`` picks the
format from the first row's fields (:func:`detect_format`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from posttrain.data import conversions
from posttrain.data.conversation import Conversation, validate_messages
from posttrain.data.readers import read_rows_with_errors
from posttrain.errors import DataError, UserError


@dataclass
class PreferenceExample:
    prompt_messages: list[dict[str, Any]]
    chosen_messages: list[dict[str, Any]]  # the assistant continuation(s) only, not the prompt
    rejected_messages: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class UnpairedExample:
    prompt_messages: list[dict[str, Any]]
    completion_messages: list[dict[str, Any]]
    label: bool  # True: a desirable completion, False: an undesirable one (KTO-style)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class PromptExample:
    prompt_messages: list[dict[str, Any]]
    fields: dict[str, Any] = field(default_factory=dict)  # e.g. a reference answer for a reward function


@dataclass
class LoadResult:
    path: str
    format: str | None = None
    examples: list[Any] = field(default_factory=list)
    skipped: list[DataError] = field(default_factory=list)  # one error per skipped row, in file order
    lines: list[int] = field(default_factory=list)  # the row number of each example, for later errors

    def numbered(self) -> list[tuple[int, Any]]:
        """``(row_number, example)`` pairs, so errors found after a split still point at the file."""
        return list(zip(self.lines, self.examples))


# ---- field helpers ---------------------------------------------------------------------


def _require(row: dict[str, Any], name: str) -> Any:
    if name not in row:
        raise DataError(f"missing (row has: {', '.join(sorted(row)) or 'no fields'})", field=name)
    return row[name]


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise DataError(f"must be a string, got {type(value).__name__}", field=name)
    return value


def _others(row: dict[str, Any], used: set[str]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key not in used}


def prompt_messages(value: Any, name: str = "prompt") -> list[dict[str, Any]]:
    """A prompt given as a string (one user turn) or as a message list with no answer yet."""
    if isinstance(value, list):
        return validate_messages(value, field_name=name, need_assistant=False)
    if not _string(value, name).strip():
        raise DataError("empty prompt", field=name)
    return [{"role": "user", "content": value}]


def continuation_messages(value: Any, name: str) -> list[dict[str, Any]]:
    """An answer given as a string (one assistant turn) or as messages starting with the assistant."""
    if isinstance(value, list):
        messages = validate_messages(value, field_name=name)
        if messages[0]["role"] != "assistant":
            raise DataError("an answer must start with an assistant message", field=f"{name}[0].role")
        return messages
    if not _string(value, name).strip():
        raise DataError("empty assistant turn", field=name)
    return [{"role": "assistant", "content": value}]


def _tools(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise DataError(f"must be a list of tool schemas, got {type(value).__name__}", field="tools")
    for index, tool in enumerate(value):
        if not isinstance(tool, dict):
            raise DataError(f"must be an object, got {type(tool).__name__}", field=f"tools[{index}]")
    return value


# ---- the four formats ------------------------------------------------------------------


def sft_example(row: dict[str, Any]) -> Conversation:
    if "messages" not in row and conversions.is_sharegpt(row):
        row = conversions.sharegpt_row(row)
    elif "messages" not in row and conversions.is_alpaca(row):
        row = conversions.alpaca_row(row)
    if "messages" in row:
        messages = validate_messages(row["messages"])
        return Conversation(messages, _tools(row.get("tools")), _others(row, {"messages", "tools"}))
    if "prompt" not in row and "completion" not in row:
        raise DataError(f"an sft row needs 'messages' or 'prompt' + 'completion' (row has: {', '.join(sorted(row))})")
    system = row.get("system")
    if system is not None:
        _string(system, "system")
    prompt = prompt_messages(_require(row, "prompt"))
    completion = continuation_messages(_require(row, "completion"), "completion")
    system_messages = [{"role": "system", "content": system}] if system else []
    extra = _others(row, {"prompt", "completion", "system"})
    return Conversation(system_messages + prompt + completion, extra=extra)


def preference_example(row: dict[str, Any]) -> PreferenceExample:
    if conversions.is_hh(row):
        row = conversions.hh_row(row)
    chosen, rejected = _require(row, "chosen"), _require(row, "rejected")
    extra = _others(row, {"prompt", "chosen", "rejected"})
    if "prompt" in row and not (_is_full_conversation(chosen) and _is_full_conversation(rejected)):
        prompt = prompt_messages(row["prompt"])
        chosen_rest, rejected_rest = continuation_messages(chosen, "chosen"), continuation_messages(rejected, "rejected")
    else:
        prompt, chosen_rest, rejected_rest = _split_shared_prompt(chosen, rejected)
    if chosen_rest == rejected_rest:
        raise DataError("identical to 'chosen': a pair must differ to teach a preference", field="rejected")
    return PreferenceExample(prompt, chosen_rest, rejected_rest, extra)


def _is_full_conversation(value: Any) -> bool:
    """Messages that hold the prompt too (UltraFeedback repeats it beside a ``prompt`` field): the
    prompt is then taken from the lists, as TRL's ``maybe_extract_prompt`` does."""
    return isinstance(value, list) and bool(value) and isinstance(value[0], dict) and value[0].get("role") in ("system", "user")


def _split_shared_prompt(chosen: Any, rejected: Any) -> tuple[list[dict], list[dict], list[dict]]:
    """Split two full conversations at the last user turn of the prefix they share."""
    if not isinstance(chosen, list):
        raise DataError("without a 'prompt' field, must be a full message list", field="chosen")
    if not isinstance(rejected, list):
        raise DataError("without a 'prompt' field, must be a full message list", field="rejected")
    chosen, rejected = validate_messages(chosen, field_name="chosen"), validate_messages(rejected, field_name="rejected")
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
        shared += 1
    user_turns = [index for index in range(shared) if chosen[index]["role"] == "user"]
    if not user_turns:
        raise DataError("chosen and rejected share no user turn to use as the prompt", field="rejected")
    cut = user_turns[-1] + 1
    prompt = chosen[:cut]
    return prompt, continuation_messages(chosen[cut:], "chosen"), continuation_messages(rejected[cut:], "rejected")


LABEL_TEXT = {"true": True, "false": False, "1": True, "0": False}


def unpaired_example(row: dict[str, Any]) -> UnpairedExample:
    prompt = prompt_messages(_require(row, "prompt"))
    completion = continuation_messages(_require(row, "completion"), "completion")
    label = _require(row, "label")
    if isinstance(label, str) and label.strip().lower() in LABEL_TEXT:  # CSV cells are text
        label = LABEL_TEXT[label.strip().lower()]
    # bool is a subclass of int, so exclude other ints by hand; 0/1 are common in exported data.
    if not (isinstance(label, bool) or (type(label) is int and label in (0, 1))):
        raise DataError(f"must be true/false (or 0/1), got {label!r}", field="label")
    return UnpairedExample(prompt, completion, bool(label), _others(row, {"prompt", "completion", "label"}))


def prompt_example(row: dict[str, Any]) -> PromptExample:
    return PromptExample(prompt_messages(_require(row, "prompt")), _others(row, {"prompt"}))


FORMATS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "sft": sft_example,
    "preference": preference_example,
    "unpaired": unpaired_example,
    "prompts": prompt_example,
    "sharegpt": lambda row: sft_example(conversions.sharegpt_row(row)),
    "alpaca": lambda row: sft_example(conversions.alpaca_row(row)),
    "hh": lambda row: preference_example(conversions.hh_row(row)),
}
# The example type each format makes: a trainer asks for a kind and reads any format of it.
FORMAT_KINDS = {"sft": "sft", "sharegpt": "sft", "alpaca": "sft", "preference": "preference", "hh": "preference",
                "unpaired": "unpaired", "prompts": "prompts"}
DESCRIPTIONS = {"sft": "SFT data", "sharegpt": "ShareGPT", "alpaca": "Alpaca", "preference": "preference pairs",
                "hh": "Anthropic HH text", "unpaired": "unpaired (KTO) data", "prompts": "prompts"}
COMMANDS = {"sft": "posttrain sft", "preference": "posttrain dpo or rm", "unpaired": "posttrain dpo --loss kto",
            "prompts": "posttrain grpo, ppo or rejection"}


def detect_format(row: dict[str, Any]) -> str:
    """Guess a row's format from its field names; raise :class:`DataError` if nothing fits."""
    # Order matters: a preference or unpaired row also has 'prompt' (and 'completion').
    if "chosen" in row and "rejected" in row:
        return "hh" if conversions.is_hh(row) else "preference"
    if "label" in row:
        return "unpaired"
    if "messages" not in row and conversions.is_sharegpt(row):
        return "sharegpt"
    if "messages" not in row and conversions.is_alpaca(row):
        return "alpaca"
    if "messages" in row or ("prompt" in row and "completion" in row):
        return "sft"
    if "prompt" in row:
        return "prompts"
    raise DataError(f"cannot tell the dataset format from fields {sorted(row)}; set the format explicitly")


# ---- loading a file --------------------------------------------------------------------


def load_examples(path: str, format: str, *, skip_bad_rows: bool = False, limit: int | None = None) -> LoadResult:
    """Read ``path`` and convert each row with the named format (or ``"auto"``)."""
    if format != "auto" and format not in FORMATS:
        raise UserError(f"unknown dataset format {format!r}; choose one of: auto, {', '.join(FORMATS)}")
    if limit is not None and limit < 1:
        raise UserError(f"limit must be at least 1, got {limit}")
    result = LoadResult(path=path, format=None if format == "auto" else format)
    for line, row in read_rows_with_errors(path):
        try:
            result.examples.append(_convert(row, result))
            result.lines.append(line)
        except DataError as error:
            reason = error.reason if isinstance(row, DataError) else _with_format_hint(error.reason, row, result.format)
            located = DataError(reason, path=path, line=line, field=error.field)
            if not skip_bad_rows:
                raise located from None
            located.row = None if isinstance(row, DataError) else row  # kept for skipped_rows.jsonl
            result.skipped.append(located)
        if limit is not None and len(result.examples) >= limit:
            break
    if not result.examples:
        if not result.skipped:
            raise UserError(f"{path}: the file has no rows")
        raise UserError(f"{path}: all {len(result.skipped)} rows are bad; first: {result.skipped[0]}")
    return result


def _convert(row: dict[str, Any] | DataError, result: LoadResult) -> Any:
    if isinstance(row, DataError):
        raise row
    if result.format is None:
        # The first good row decides for the whole file, so one file never mixes formats.
        result.format = detect_format(row)
    return FORMATS[result.format](row)


def _reads(format: str) -> set[str]:
    """The detected formats that ``format`` reads: a kind reads all its formats, a named shape only itself."""
    if format in COMMANDS:
        return {name for name, kind in FORMAT_KINDS.items() if kind == format}
    return {format}


def _with_format_hint(reason: str, row: dict[str, Any], format: str | None) -> str:
    """Add to a bad row's error what the row looks like and the flag that reads it, when it is
    a known format other than the one asked for."""
    try:
        detected = detect_format(row)
    except DataError:
        return reason
    if format is None or detected in _reads(format):
        return reason
    fields = ", ".join(sorted(row))
    kind, wanted = FORMAT_KINDS[detected], FORMAT_KINDS[format]
    if kind == "unpaired" and wanted == "preference":
        how = "train on unpaired rows with --loss kto"
    elif kind == "preference" and wanted == "unpaired":
        how = "train on pairs with a paired loss (drop --loss kto)"
    elif kind == wanted:
        how = f"read it with --format {detected}"
    else:
        how = f"train on it with {COMMANDS[kind]} (--format {detected})"
    return f"{reason}; the row looks like {DESCRIPTIONS[detected]} ({fields}), not {format}: {how}"
