"""The Batch Normalization explorer of assignment 04 (gradlab.widgets.batchnorm_explorer), driven
outside a kernel."""
from __future__ import annotations

import math

import pytest

pytest.importorskip("ipywidgets")
from conftest import png_outputs  # noqa: E402

from gradlab import widgets  # noqa: E402


def test_batchnorm_explorer_redraws_for_every_control():
    box = widgets.batchnorm_explorer(depth=3, width=16, n=64, steps=5, batch_size=32)
    out = box.children[-1]
    seen = [png_outputs(out)]
    assert len(seen[0]) == 1
    for name, value in (("batchnorm", True), ("depth", 5), ("activation", "tanh"), ("lr", 0.01)):
        box.controls[name].value = value
        now = png_outputs(out)
        assert len(now) == 1 and now not in seen, f"changing {name} did not redraw a new figure"
        seen.append(now)
    assert len(box.losses) == 5 and all(math.isfinite(v) for v in box.losses)
    assert "loss:" in box.children[2].value and "diverged" not in box.children[2].value


def test_batchnorm_explorer_reports_divergence_and_recovers():
    box = widgets.batchnorm_explorer(depth=3, width=16, n=64, steps=20, batch_size=32, activation="relu",
                                     init="normal", lr=10.0)
    assert "diverged" in box.children[2].value
    assert not math.isfinite(box.losses[-1]) and len(box.losses) < 20, "a diverged run stops at the first non-finite loss"
    assert len(png_outputs(box.children[-1])) == 1, "a diverged run still draws its figure"
    box.controls["lr"].value = 0.001
    assert "diverged" not in box.children[2].value and len(box.losses) == 20


def test_batchnorm_explorer_bn_trains_a_deep_sigmoid_net():
    """What notebook 04/01 tells students to look for, on the default synthetic data."""
    box = widgets.batchnorm_explorer(depth=12, width=32, n=128, steps=40, activation="sigmoid", lr=0.1)
    flat = sum(box.losses[-10:]) / 10
    box.controls["batchnorm"].value = True
    with_bn = sum(box.losses[-10:]) / 10
    assert with_bn < flat - 0.2, (flat, with_bn)
