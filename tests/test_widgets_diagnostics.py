"""The training-diagnostics explorer (gradlab.widgets.diagnostics_explorer), driven outside a kernel."""
from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("ipywidgets")
from conftest import png_outputs  # noqa: E402

from gradlab import widgets  # noqa: E402


def test_diagnostics_explorer_redraws_for_every_control():
    box = widgets.diagnostics_explorer(depth=2, width=16, n=64, steps=10, every=5, batch_size=32)
    out = box.children[-1]
    seen = [png_outputs(out)]
    assert len(seen[0]) == 1
    for name, value in (("activation", "relu"), ("init", "he"), ("depth", 3), ("lr", 0.01)):
        box.controls[name].value = value
        now = png_outputs(out)
        assert len(now) == 1 and now not in seen, f"changing {name} did not redraw a new figure"
        seen.append(now)
    assert len(box.losses) == 10 and all(math.isfinite(v) for v in box.losses)
    assert box.recorders["activations"].steps == [0, 5, 10]
    assert box.recorders["update_to_data"].as_array().shape == (10, 4)
    assert "update/data" in box.children[2].value and "dead units" in box.children[2].value


def test_diagnostics_explorer_learning_rate_moves_the_ratio_by_its_decades():
    """With SGD the logged ratio is log10(lr·‖∇W‖/‖W‖): ten times the rate, one decade up at step 1."""
    box = widgets.diagnostics_explorer(depth=2, width=16, n=64, steps=1, batch_size=32, lr=0.001)
    low = box.recorders["update_to_data"].as_array()[0]
    box.controls["lr"].value = 0.01
    high = box.recorders["update_to_data"].as_array()[0]
    assert np.allclose(high - low, 1.0, atol=1e-3), (low, high)


def test_diagnostics_explorer_shows_dead_relus_and_divergence():
    box = widgets.diagnostics_explorer(depth=3, width=16, n=64, steps=30, batch_size=32, activation="relu",
                                       init="normal", lr=3.0)
    assert "diverged" in box.children[2].value
    assert len(png_outputs(box.children[-1])) == 1, "a diverged run still draws its figure"
    box.controls["lr"].value = 0.01
    assert "diverged" not in box.children[2].value
