"""Other tools' data shapes (ShareGPT, Alpaca, CSV, Anthropic HH, UltraFeedback, hub ids): each
converted by its one documented mapping, checked exactly, and the hints for rows of the wrong format."""

import json

import pytest

from posttrain.data.conversation import Conversation
from posttrain.data.formats import PreferenceExample, UnpairedExample, detect_format, load_examples
from posttrain.data.readers import parse_hub_id, read_rows
from posttrain.errors import DataError, UserError


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


# ---- ShareGPT --------------------------------------------------------------------------

SHAREGPT_ROW = {
    "conversations": [
        {"from": "human", "value": "Weather in Paris?"},
        {"from": "function_call", "value": '{"name": "weather", "arguments": {"city": "Paris"}}'},
        {"from": "observation", "value": '{"celsius": 21}'},
        {"from": "gpt", "value": "It is 21 C."},
        {"from": "user", "value": "Thanks"},
        {"from": "assistant", "value": "You're welcome."},
    ],
    "system": "You are helpful.",
    "tools": '[{"name": "weather", "parameters": {"type": "object"}}]',
    "id": "a1",
}


@pytest.mark.parametrize("format", ["sharegpt", "sft", "auto"])
def test_sharegpt_maps_every_role(tmp_path, format):
    result = load_examples(write_jsonl(tmp_path / "sg.jsonl", [SHAREGPT_ROW]), format)
    call = {"type": "function", "function": {"name": "weather", "arguments": {"city": "Paris"}}}
    assert result.examples == [
        Conversation(
            [
                {"role": "system", "content": "You are helpful."},
                user("Weather in Paris?"),
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "content": '{"celsius": 21}'},
                assistant("It is 21 C."),
                user("Thanks"),
                assistant("You're welcome."),
            ],
            tools=[{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
            extra={"id": "a1"},
        )
    ]
    assert result.format == ("sharegpt" if format == "auto" else format)


def test_sharegpt_system_turn_and_unknown_role(tmp_path):
    row = {"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    assert load_examples(write_jsonl(tmp_path / "ok.jsonl", [row]), "sharegpt").examples[0].messages == [
        {"role": "system", "content": "s"}, user("q"), assistant("a")
    ]
    bad = {"conversations": [{"from": "human", "value": "q"}, {"from": "bot", "value": "a"}]}
    path = write_jsonl(tmp_path / "bad.jsonl", [row, bad])
    with pytest.raises(DataError, match=r"bad\.jsonl:2: field 'conversations\[1\]\.from': unknown role 'bot'"):
        load_examples(path, "sharegpt")


# ---- Alpaca ----------------------------------------------------------------------------


def test_alpaca_instruction_input_output_system_history(tmp_path):
    rows = [
        {"instruction": "Translate to French", "input": "cat", "output": "chat", "system": "Be brief.",
         "history": [["hi", "hello"]]},
        {"instruction": "Say hi", "input": "", "output": "hi"},
    ]
    first, second = load_examples(write_jsonl(tmp_path / "al.jsonl", rows), "auto").examples
    assert first.messages == [
        {"role": "system", "content": "Be brief."},
        user("hi"), assistant("hello"),
        user("Translate to French\ncat"), assistant("chat"),
    ]
    assert second == Conversation([user("Say hi"), assistant("hi")])
    assert detect_format(rows[0]) == "alpaca"


# ---- CSV -------------------------------------------------------------------------------


def test_csv_rows_in_each_shape(tmp_path):
    (tmp_path / "sft.csv").write_text('prompt,completion\n"2+2?","4"\n"multi\nline?",yes\n')
    assert [e.messages for e in load_examples(str(tmp_path / "sft.csv"), "sft").examples] == [
        [user("2+2?"), assistant("4")], [user("multi\nline?"), assistant("yes")]
    ]
    (tmp_path / "pairs.csv").write_text("prompt,chosen,rejected,source\nq,good,bad,web\n")
    assert load_examples(str(tmp_path / "pairs.csv"), "auto").examples == [
        PreferenceExample([user("q")], [assistant("good")], [assistant("bad")], {"source": "web"})
    ]
    (tmp_path / "kto.tsv").write_text("prompt\tcompletion\tlabel\nq\ta\ttrue\nq\tb\t0\n")
    assert load_examples(str(tmp_path / "kto.tsv"), "unpaired").examples == [
        UnpairedExample([user("q")], [assistant("a")], True), UnpairedExample([user("q")], [assistant("b")], False)
    ]


def test_csv_errors_name_the_line_a_row_starts_on(tmp_path):
    # line 2 spans two file lines, so the short row is on line 4
    (tmp_path / "a.csv").write_text('prompt,completion\n"a\nb",c\nq\n')
    with pytest.raises(DataError, match=r"a\.csv:4: 1 cells, the header has 2"):
        load_examples(str(tmp_path / "a.csv"), "sft")
    (tmp_path / "b.csv").write_text("prompt,completion\nq,\n")
    with pytest.raises(DataError, match=r"b\.csv:2: field 'completion': empty assistant turn"):
        load_examples(str(tmp_path / "b.csv"), "sft")
    (tmp_path / "c.csv").write_text("prompt,prompt\nq,r\n")
    with pytest.raises(UserError, match=r"c\.csv:1: the header row needs distinct"):
        list(read_rows(str(tmp_path / "c.csv")))


# ---- Anthropic HH and UltraFeedback ----------------------------------------------------

HH_ROW = {
    "chosen": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Name a color.\n\nAssistant: Blue.",
    "rejected": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Name a color.\n\nAssistant: No.",
}


@pytest.mark.parametrize("format", ["hh", "preference", "auto"])
def test_hh_text_shared_prefix_is_the_prompt(tmp_path, format):
    result = load_examples(write_jsonl(tmp_path / "hh.jsonl", [HH_ROW]), format)
    assert result.examples == [
        PreferenceExample([user("Hi"), assistant("Hello!"), user("Name a color.")], [assistant("Blue.")], [assistant("No.")])
    ]
    assert result.format == ("hh" if format == "auto" else format)


def test_ultrafeedback_prompt_with_full_lists_extracts_the_shared_prefix(tmp_path):
    row = {
        "prompt": "Name a color.",
        "chosen": [user("Name a color."), assistant("Blue.")],
        "rejected": [user("Name a color."), assistant("No.")],
        "score_chosen": 8.0,
    }
    (example,) = load_examples(write_jsonl(tmp_path / "uf.jsonl", [row]), "preference").examples
    assert example == PreferenceExample([user("Name a color.")], [assistant("Blue.")], [assistant("No.")], {"score_chosen": 8.0})


# ---- rows of another format ------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "format", "hint"),
    [
        ({"prompt": "q", "completion": "a", "label": True}, "preference",
         "field 'chosen': missing .*; the row looks like unpaired \\(KTO\\) data \\(completion, label, prompt\\), "
         "not preference: train on unpaired rows with --loss kto"),
        ({"prompt": "q", "chosen": "a", "rejected": "b"}, "unpaired",
         "the row looks like preference pairs .*: train on pairs with a paired loss \\(drop --loss kto\\)"),
        ({"prompt": "q", "chosen": "a", "rejected": "b"}, "sft",
         "the row looks like preference pairs \\(chosen, prompt, rejected\\), not sft: "
         "train on it with posttrain dpo or rm \\(--format preference\\)"),
        (SHAREGPT_ROW, "preference", "looks like ShareGPT .*: train on it with posttrain sft \\(--format sharegpt\\)"),
        ({"messages": [user("q"), assistant("a")]}, "alpaca", "looks like SFT data \\(messages\\), not alpaca: read it with --format sft"),
        (HH_ROW, "sft", "looks like Anthropic HH text .*: train on it with posttrain dpo or rm \\(--format hh\\)"),
    ],
)
def test_a_row_of_another_format_names_it_and_the_flag(tmp_path, row, format, hint):
    path = write_jsonl(tmp_path / "x.jsonl", [row])
    with pytest.raises(DataError, match=hint) as caught:
        load_examples(path, format)
    assert str(caught.value).startswith(f"{path}:1: ") and "\n" not in str(caught.value)


# ---- hub dataset ids -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("HuggingFaceH4/ultrafeedback_binarized", ("HuggingFaceH4/ultrafeedback_binarized", None, None)),
        ("org/name:train_prefs", ("org/name", "train_prefs", None)),
        ("org/name@v1.0", ("org/name", None, "v1.0")),
        ("org/name@main:test[:10]", ("org/name", "test[:10]", "main")),
        ("./org/name", None),
        ("/abs/name", None),
        ("org/name.jsonl", None),
        ("one_part", None),
        ("a/b/c", None),
    ],
)
def test_hub_id_parsing(spec, parsed):
    assert parse_hub_id(spec) == parsed


def test_a_folder_that_exists_is_never_a_hub_org(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    assert parse_hub_id("runs/sft-lor") is None
    with pytest.raises(UserError, match="^data file not found: runs/sft-lor$"):
        load_examples("runs/sft-lor", "sft")


def test_unreachable_hub_dataset_is_one_line(monkeypatch):
    datasets = pytest.importorskip("datasets")
    calls = []

    def offline(name, split=None, revision=None):
        calls.append((name, split, revision))
        raise ConnectionError("Couldn't reach 'org/name' on the Hub (LocalEntryNotFoundError)\nmore detail")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(UserError) as caught:
        load_examples("org/name@abc:test", "preference")
    assert calls == [("org/name", "test", "abc")]
    assert str(caught.value) == (
        "data file not found: org/name@abc:test, and as a hub dataset it could not be loaded "
        "(ConnectionError: Couldn't reach 'org/name' on the Hub (LocalEntryNotFoundError))"
    )


def test_hub_dataset_rows_are_read(monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets, "load_dataset", lambda name, split=None, revision=None: datasets.Dataset.from_list(
        [{"prompt": "q", "chosen": "a", "rejected": "b"}]))
    assert load_examples("org/pairs", "auto").examples == [PreferenceExample([user("q")], [assistant("a")], [assistant("b")])]


# ---- end to end: the trainers' load_data -----------------------------------------------


def test_sft_and_dpo_load_data_accept_the_new_formats(tiny_model, tmp_path):
    from posttrain.algos import dpo, sft
    from posttrain.config import DPOConfig, SFTConfig, load_config
    from posttrain.models.loading import load_tokenizer

    tokenizer = load_tokenizer(tiny_model)
    common = dict(model=tiny_model, output_dir=str(tmp_path / "run"), eval_fraction=0.0, max_length=128)
    sharegpt = write_jsonl(tmp_path / "sg.jsonl", [SHAREGPT_ROW] * 2)
    (tmp_path / "alpaca.csv").write_text("instruction,input,output\nSay hi,,hi\nAdd,2 2,4\n")
    for data in (sharegpt, str(tmp_path / "alpaca.csv")):
        train_rows, _, _ = sft.load_data(load_config(SFTConfig, None, dict(common, data=data)), tokenizer)
        assert len(train_rows) == 2 and all(sum(row.loss_mask) > 0 for row in train_rows)
    hh = write_jsonl(tmp_path / "hh.jsonl", [HH_ROW] * 2)
    for format in ("preference", "hh"):
        train_rows, _, _ = dpo.load_data(load_config(DPOConfig, None, dict(common, data=hh, format=format)), tokenizer)
        assert len(train_rows) == 2
    kto_rows = write_jsonl(tmp_path / "kto.jsonl", [{"prompt": "q", "completion": "a", "label": True}])
    with pytest.raises(DataError, match="--loss kto"):
        dpo.load_data(load_config(DPOConfig, None, dict(common, data=kto_rows)), tokenizer)
