"""The Batch Normalization explorer of assignment 04, driven outside a kernel."""
from __future__ import annotations

import pytest

from gradlab import widgets

pytest.importorskip("ipywidgets")


def _png_outputs(out):
    return [o["data"]["image/png"] for o in out.outputs if "image/png" in o.get("data", {})]


def test_batchnorm_explorer_redraws_for_every_control():
    box = widgets.batchnorm_explorer(depth=3, width=16, n=64, steps=5, batch_size=32)
    out = box.children[-1]
    seen = [_png_outputs(out)]
    assert len(seen[0]) == 1
    for name, value in (("batchnorm", True), ("depth", 5), ("activation", "tanh"), ("lr", 0.01)):
        box.controls[name].value = value
        now = _png_outputs(out)
        assert len(now) == 1 and now not in seen, f"changing {name} did not redraw a new figure"
        seen.append(now)
    assert "loss:" in box.children[2].value


def test_batchnorm_explorer_reports_divergence():
    box = widgets.batchnorm_explorer(depth=2, width=16, n=64, steps=20, batch_size=32, activation="relu",
                                     init="normal", lr=10.0)
    assert "diverged" in box.children[2].value or "loss:" in box.children[2].value
    box.controls["lr"].value = 0.001
    assert "diverged" not in box.children[2].value
