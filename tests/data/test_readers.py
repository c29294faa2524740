"""Readers (JSONL, JSON, Parquet, saved HF datasets) and the four dataset formats, incl. bad-row errors."""

import json

import pytest

from posttrain.data.conversation import Conversation
from posttrain.data.formats import (
    PreferenceExample,
    PromptExample,
    UnpairedExample,
    detect_format,
    load_examples,
)
from posttrain.data.readers import read_rows
from posttrain.errors import DataError, UserError

SFT_ROW = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def write_jsonl(path, rows):
    """Rows may be dicts (dumped as JSON) or raw strings (written as-is, for broken lines)."""
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


# ---- readers ---------------------------------------------------------------------------


def test_jsonl_skips_blank_lines_but_keeps_file_line_numbers(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"x": 1}, "", "   ", {"x": 2}])
    assert list(read_rows(path)) == [(1, {"x": 1}), (4, {"x": 2})]


def test_jsonl_invalid_json_names_file_and_line(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"x": 1}, '{"x": 2,,}'])
    with pytest.raises(DataError, match=r"a\.jsonl:2: invalid JSON: "):
        list(read_rows(path))


def test_jsonl_non_object_row(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", ["[1, 2]"])
    with pytest.raises(DataError, match=r"a\.jsonl:1: row must be a JSON object"):
        list(read_rows(path))


@pytest.mark.parametrize("document", [[{"x": 1}, {"x": 2}], {"data": [{"x": 1}, {"x": 2}], "version": 3}])
def test_json_list_or_single_list_field(tmp_path, document):
    path = tmp_path / "a.json"
    path.write_text(json.dumps(document))
    assert list(read_rows(str(path))) == [(1, {"x": 1}), (2, {"x": 2})]


def test_json_without_a_row_list_is_rejected(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"a": [1], "b": [2]}))
    with pytest.raises(UserError, match="list"):
        list(read_rows(str(path)))


def test_parquet_rows_are_plain_python(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([SFT_ROW, {"messages": [{"role": "user", "content": "q"}]}])
    pq.write_table(table, tmp_path / "a.parquet")
    rows = list(read_rows(str(tmp_path / "a.parquet")))
    assert rows[0] == (1, SFT_ROW)
    assert rows[1][0] == 2 and type(rows[1][1]["messages"]) is list


def test_saved_hf_dataset_and_dataset_dict_splits(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list([{"x": 1}, {"x": 2}]).save_to_disk(str(tmp_path / "single"))
    assert list(read_rows(str(tmp_path / "single"))) == [(1, {"x": 1}), (2, {"x": 2})]

    splits = datasets.DatasetDict(
        {"train": datasets.Dataset.from_list([{"x": 1}]), "test": datasets.Dataset.from_list([{"x": 9}])}
    )
    splits.save_to_disk(str(tmp_path / "dict"))
    assert list(read_rows(str(tmp_path / "dict"))) == [(1, {"x": 1})]
    assert list(read_rows(str(tmp_path / "dict") + "::test")) == [(1, {"x": 9})]
    with pytest.raises(UserError, match="split 'dev' not found.*available: train, test"):
        list(read_rows(str(tmp_path / "dict") + "::dev"))


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(UserError, match="data file not found: .*nope.jsonl"):
        list(read_rows(str(tmp_path / "nope.jsonl")))
    (tmp_path / "a.txt").write_text("x\n1\n")
    with pytest.raises(UserError, match=r"a\.txt.*\.jsonl, \.json, \.csv, \.tsv, \.parquet"):
        list(read_rows(str(tmp_path / "a.txt")))
    (tmp_path / "plain_dir").mkdir()
    with pytest.raises(UserError, match="not a saved Hugging Face dataset"):
        list(read_rows(str(tmp_path / "plain_dir")))


# ---- formats: happy paths --------------------------------------------------------------


def test_sft_messages_and_prompt_completion(tmp_path):
    tools = [{"type": "function", "function": {"name": "add"}}]
    path = write_jsonl(
        tmp_path / "sft.jsonl",
        [
            {**SFT_ROW, "tools": tools, "source": "web"},
            {"prompt": "2+2?", "completion": "4", "system": "Be terse."},
        ],
    )
    result = load_examples(path, "sft")
    first, second = result.examples
    assert first == Conversation(SFT_ROW["messages"], tools, {"source": "web"})
    assert second.messages == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
    ]
    assert result.skipped == [] and result.format == "sft"


def test_preference_explicit_prompt_and_implicit_shared_prefix(tmp_path):
    convo = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hey"}, {"role": "user", "content": "q"}]
    path = write_jsonl(
        tmp_path / "pref.jsonl",
        [
            {"prompt": "q", "chosen": "good", "rejected": [{"role": "assistant", "content": "bad"}], "id": 7},
            {
                "chosen": convo + [{"role": "assistant", "content": "good"}],
                "rejected": convo + [{"role": "assistant", "content": "bad"}],
            },
        ],
    )
    explicit, implicit = load_examples(path, "preference").examples
    assert explicit == PreferenceExample(
        [{"role": "user", "content": "q"}],
        [{"role": "assistant", "content": "good"}],
        [{"role": "assistant", "content": "bad"}],
        {"id": 7},
    )
    # Split at the last user turn of the shared prefix, not the first.
    assert implicit.prompt_messages == convo
    assert implicit.chosen_messages == [{"role": "assistant", "content": "good"}]
    assert implicit.rejected_messages == [{"role": "assistant", "content": "bad"}]


def test_unpaired_accepts_bools_and_zero_one(tmp_path):
    rows = [{"prompt": "q", "completion": "a", "label": True}, {"prompt": "q", "completion": "b", "label": 0}]
    examples = load_examples(write_jsonl(tmp_path / "u.jsonl", rows), "unpaired").examples
    assert examples[0] == UnpairedExample(
        [{"role": "user", "content": "q"}], [{"role": "assistant", "content": "a"}], True
    )
    assert examples[1].label is False


def test_prompts_keep_other_fields(tmp_path):
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "2+2?"}]
    path = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "2+2?", "answer": "4"}, {"prompt": messages}])
    first, second = load_examples(path, "prompts").examples
    assert first == PromptExample([{"role": "user", "content": "2+2?"}], {"answer": "4"})
    assert second.prompt_messages == messages and second.fields == {}


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (SFT_ROW, "sft"),
        ({"prompt": "q", "completion": "a"}, "sft"),
        ({"prompt": "q", "chosen": "a", "rejected": "b"}, "preference"),
        ({"prompt": "q", "completion": "a", "label": True}, "unpaired"),
        ({"prompt": "q", "answer": "4"}, "prompts"),
    ],
)
def test_detect_format(row, expected):
    assert detect_format(row) == expected


def test_auto_format_and_limit(tmp_path):
    path = write_jsonl(tmp_path / "auto.jsonl", [{"prompt": "q", "chosen": "a", "rejected": "b"}] * 5)
    result = load_examples(path, "auto", limit=2)
    assert result.format == "preference" and len(result.examples) == 2


# ---- formats: bad rows -----------------------------------------------------------------


def message_row(message):
    return {"messages": [{"role": "user", "content": "hi"}, message]}


@pytest.mark.parametrize(
    ("bad_row", "format", "expected"),
    [
        ('{"messages": [', "sft", "invalid JSON"),
        (message_row({"content": "x"}), "sft", "field 'messages[1]': missing 'role'"),
        (message_row({"role": "bot", "content": "x"}), "sft", "field 'messages[1].role': unknown role 'bot'"),
        (message_row({"role": "assistant", "content": "  "}), "sft", "field 'messages[1].content': empty assistant turn"),
        (message_row({"role": "assistant", "content": 5}), "sft", "field 'messages[1].content': must be a string, got int"),
        ({"prompt": "q", "completion": ""}, "sft", "field 'completion': empty assistant turn"),
        ({"prompt": "q", "chosen": 3, "rejected": "b"}, "preference", "field 'chosen': must be a string, got int"),
        ({"prompt": "q", "chosen": "a"}, "preference", "field 'rejected': missing"),
        ({"prompt": "q", "completion": "a", "label": "yes"}, "unpaired", "field 'label': must be true/false"),
        ({"prompt": "q", "completion": "a", "label": 2}, "unpaired", "field 'label': must be true/false"),
        ({"question": "q"}, "prompts", "field 'prompt': missing"),
    ],
)
def test_bad_row_error_names_file_line_and_field(tmp_path, bad_row, format, expected):
    good = {
        "sft": SFT_ROW,
        "preference": {"prompt": "q", "chosen": "a", "rejected": "b"},
        "unpaired": {"prompt": "q", "completion": "a", "label": False},
        "prompts": {"prompt": "q"},
    }[format]
    path = write_jsonl(tmp_path / "train.jsonl", [good, "", good, bad_row, good])
    with pytest.raises(DataError) as caught:
        load_examples(path, format)
    assert str(caught.value).startswith(f"{path}:4: {expected}")
    assert caught.value.line == 4 and caught.value.path == path


def test_skip_bad_rows_collects_every_skipped_row(tmp_path):
    rows = [SFT_ROW, "not json", message_row({"role": "bot", "content": "x"}), "[1]", SFT_ROW]
    result = load_examples(write_jsonl(tmp_path / "t.jsonl", rows), "sft", skip_bad_rows=True)
    assert len(result.examples) == 2
    assert [error.line for error in result.skipped] == [2, 3, 4]
    assert result.skipped[1].field == "messages[1].role" and result.skipped[1].path.endswith("t.jsonl")


def test_all_bad_or_empty_file_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", ["nope", {"prompt": 1}])
    with pytest.raises(UserError, match=r"all 2 rows are bad; first: .*bad\.jsonl:1: invalid JSON"):
        load_examples(path, "prompts", skip_bad_rows=True)
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(UserError, match="no rows"):
        load_examples(str(tmp_path / "empty.jsonl"), "sft")


def test_unknown_format_lists_valid_names(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [SFT_ROW])
    with pytest.raises(UserError, match="unknown dataset format 'dpo'.*auto, sft, preference, unpaired, prompts"):
        load_examples(path, "dpo")


def test_preference_row_with_identical_answers_is_reported(tmp_path):
    from posttrain.data.formats import load_examples
    from posttrain.errors import DataError

    path = tmp_path / "pairs.jsonl"
    path.write_text('{"prompt": "q", "chosen": "a", "rejected": "b"}\n{"prompt": "q", "chosen": "same", "rejected": "same"}\n')
    with pytest.raises(DataError, match=r"pairs\.jsonl:2: field 'rejected': identical to 'chosen'"):
        load_examples(str(path), "preference")


def test_a_mix_reads_its_files_one_after_another(tmp_path):
    from posttrain.data.formats import load_examples

    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text('{"prompt": "one"}\n{"prompt": "two"}\n')
    second.write_text('{"prompt": "three"}\n')
    loaded = load_examples(f"{first} + {second}", "prompts")
    assert [example.prompt_messages[-1]["content"] for example in loaded.examples] == ["one", "two", "three"]
    with pytest.raises(UserError, match="data file not found"):
        load_examples(f"{first} + {tmp_path / 'missing.jsonl'}", "prompts")
    with pytest.raises(UserError, match="has an empty part"):
        load_examples(f"{first} + ", "prompts")
