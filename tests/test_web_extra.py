"""Without the `web` extra: serve, label, the feedback store and a loop reading it end in one line naming
the extra; training, evaluation and the rest of the command import and run without it."""

import subprocess
import sys
import textwrap

import pytest

from posttrain.errors import UserError

EXTRA = "pip install 'posttrain[web]'"


@pytest.fixture
def no_sqlalchemy(monkeypatch):
    """A Python where SQLAlchemy is not installed: `import sqlalchemy` raises ModuleNotFoundError."""
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    monkeypatch.delitem(sys.modules, "posttrain.feedback.store", raising=False)


def test_serve_without_fastapi_is_one_line_naming_the_extra(monkeypatch):
    from posttrain.cli import cli

    monkeypatch.setitem(sys.modules, "fastapi", None)
    with pytest.raises(UserError) as error:
        cli.main(["serve", "smollm2-135m"], standalone_mode=False)
    assert str(error.value) == f"posttrain serve needs the web extra (fastapi is not installed): {EXTRA}"


def test_label_without_sqlalchemy_is_one_line_naming_the_extra(no_sqlalchemy):
    from posttrain.cli import cli

    with pytest.raises(UserError, match=r"^posttrain label needs the web extra \(sqlalchemy is not installed\)"):
        cli.main(["label", "progress"], standalone_mode=False)


def test_feedback_store_and_a_loop_reading_it_name_the_extra(no_sqlalchemy, tmp_path):
    from posttrain.pipeline.loop import read_feedback

    with pytest.raises(UserError, match=r"^the feedback store needs the web extra .*posttrain\[web\]"):
        import posttrain.feedback.store  # noqa: F401
    with pytest.raises(UserError, match=r"^the feedback store needs the web extra"):
        read_feedback(f"sqlite:///{tmp_path / 'feedback.db'}", None)


def test_training_and_eval_import_and_the_command_runs_without_the_web_stack():
    script = textwrap.dedent("""
        import sys
        for name in ("fastapi", "uvicorn", "sqlalchemy", "alembic", "argon2", "multipart", "markdown_it", "starlette"):
            sys.modules[name] = None  # `import name` raises ModuleNotFoundError, as when it is not installed
        import posttrain.algos.sft, posttrain.algos.dpo, posttrain.algos.grpo, posttrain.eval.run
        import posttrain.pipeline.runner, posttrain.pipeline.loop
        from posttrain.cli import main
        sys.argv = ["posttrain", "serve", "smollm2-135m"]
        main()
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"error: posttrain serve needs the web extra (fastapi is not installed): {EXTRA}"
