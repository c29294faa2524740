import sys

import pytest

from posttrain.training.memory import reuse_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc settings")
def test_glibc_accepts_the_thresholds():
    # A refused setting would leave glibc's default in place without a word: the answer is checked.
    assert reuse_freed_memory() is True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_peak_rss_agrees_with_getrusage():
    import resource

    import numpy as np

    from posttrain.training.memory import peak_rss_gb

    block = np.ones(300_000_000 // 8)  # 300 MB, touched: the peak is at least that
    peak, kernel = peak_rss_gb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # KiB
    assert peak > 0.3 and peak == pytest.approx(kernel, rel=0.02)
    del block
