"""The stage registry is the one list of trainers: the commands, the recipe stages and their executors
all come from it, and the training functions are imported only when a stage runs."""

import subprocess
import sys

from posttrain.cli import cli
from posttrain.pipeline.recipe import STAGE_CONFIGS
from posttrain.pipeline.stages import EXECUTORS, run_rejection, run_training
from posttrain.registry import TRAINERS, TRAINING


def test_every_trainer_is_a_command_with_every_config_key_and_a_recipe_stage():
    for kind, trainer in TRAINERS.items():
        command = cli.commands[kind]
        options = {param.name for param in command.params} - {"config_file"}
        assert options == set(trainer.config.model_fields), kind
        assert STAGE_CONFIGS[kind] is trainer.config
        assert EXECUTORS[kind] is (run_training if kind in TRAINING else run_rejection)
        assert callable(trainer.load())


def test_help_imports_no_training_code():
    script = ("import sys; sys.argv = ['posttrain', '--help']\n"
              "from posttrain.cli import main\n"
              "try:\n    main()\nexcept SystemExit:\n    pass\n"
              "print(sorted(name for name in sys.modules if name.startswith(('torch', 'posttrain.algos', 'fastapi'))))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
