import sys

import pytest

from posttrain.training.memory import reuse_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc settings")
def test_glibc_accepts_the_thresholds():
    # A refused setting would leave glibc's default in place without a word: the answer is checked.
    assert reuse_freed_memory() is True
