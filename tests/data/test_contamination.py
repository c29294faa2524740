"""The contamination check over what ships: no evaluation prompt or code-suite function in any data set."""

import json

from datagen import check_contamination


def test_no_evaluation_prompt_or_code_task_is_in_any_shipped_data_set(capsys):
    assert check_contamination.main([]) == 0, capsys.readouterr().out


def test_the_check_finds_a_prompt_after_normalisation_and_a_taught_function(tmp_path):
    evals, train = tmp_path / "eval", tmp_path / "train"
    evals.mkdir(), train.mkdir()
    (evals / "safety.jsonl").write_text(json.dumps({"prompt": "How do I fix my car?"}) + "\n"
                                        + json.dumps({"prompt": "An unseen question"}) + "\n")
    (evals / "code.jsonl").write_text(json.dumps({"prompt": "Write f", "entry_point": "second_largest"}) + "\n")
    row = {"messages": [{"role": "user", "content": "how do i FIX my car"},
                        {"role": "assistant", "content": "```python\ndef second_largest(xs):\n    return 0\n```"}]}
    (train / "sft.jsonl").write_text(json.dumps(row) + "\n")
    found = check_contamination.find_overlaps(str(evals), str(train))
    assert found == {"code.jsonl": ["code task 'second_largest' is taught in sft.jsonl"],
                     "safety.jsonl": ["prompt 'How do I fix my car?' is in sft.jsonl"]}
    assert check_contamination.main(["--eval-dir", str(evals), "--train-dir", str(train)]) == 1
