"""scripts/import_cycles.py: the package has no module-level import cycle, and the script finds one."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "import_cycles.py"


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_the_package_has_no_module_level_import_cycle():
    result = run()
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1].startswith("0 module-level import cycle(s)")


def test_a_cycle_fails_and_a_deferred_one_is_listed_only(tmp_path):
    package = tmp_path / "posttrain"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from posttrain import b\n")
    (package / "b.py").write_text("import posttrain.a\n")
    (package / "c.py").write_text("from posttrain import d\n")  # c -> d at import, d -> c only when called
    (package / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from posttrain import c\n"
                                  "\ndef late():\n    from posttrain.c import d\n")
    result = run("--root", str(tmp_path), "--deferred")
    assert result.returncode == 1
    assert "cycle of 2 modules:\n  posttrain.a -> posttrain.b\n  posttrain.b -> posttrain.a" in result.stdout
    assert "1 module-level import cycle(s) in 5 modules" in result.stdout
    assert "deferred cycle of 2 modules:\n  posttrain.c -> posttrain.d\n  posttrain.d -> posttrain.c" in result.stdout
    assert "1 cycle(s) closed only by imports inside functions" in result.stdout
