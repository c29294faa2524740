"""User code named in configs: ``module:function`` or ``path/to/file.py:function``.

Rewards, tools and user eval suites are all referenced this way; each import failure is one
``UserError`` line naming what was being loaded (``what``: "reward 'x:y'", "tool 'x:y'").
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from posttrain.errors import UserError
from posttrain.util import closest


def import_module_named(module_name: str, what: str) -> ModuleType:
    """Import a dotted module name or a ``.py`` file path."""
    try:
        if module_name.endswith(".py"):
            if not Path(module_name).is_file():
                raise UserError(f"{what}: file not found: {module_name}")
            module_spec = importlib.util.spec_from_file_location(Path(module_name).stem, module_name)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
            return module
        return importlib.import_module(module_name)
    except UserError:
        raise
    except Exception as error:
        missing = getattr(error, "name", None)  # set by ModuleNotFoundError
        if isinstance(error, ModuleNotFoundError) and missing and (module_name + ".").startswith(missing + "."):
            raise UserError(f"{what}: no module named '{missing}' "
                            "(put it on PYTHONPATH, or give a file as path/to/file.py:function)") from None
        raise UserError(f"{what}: importing '{module_name}' failed: {type(error).__name__}: {error}") from error


def import_function(spec: str, what: str) -> Callable:
    """The function named by ``spec`` (``module:function`` or ``path/to/file.py:function``)."""
    module_name, _, attribute = spec.rpartition(":")
    if not module_name or not attribute:
        raise UserError(f"{what}: give it as module:function or path/to/file.py:function")
    module = import_module_named(module_name, what)
    if not hasattr(module, attribute):
        names = [name for name, value in vars(module).items() if callable(value) and not name.startswith("_")]
        raise UserError(f"{what}: module '{module_name}' has no '{attribute}'{closest(attribute, names)}")
    function = getattr(module, attribute)
    if not callable(function):
        raise UserError(f"{what}: '{attribute}' is a {type(function).__name__}, not a function")
    return function
