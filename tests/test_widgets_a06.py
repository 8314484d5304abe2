"""The regularization explorer (assignment 06): it trains, draws, and redraws when a control changes."""
import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402
from conftest import png_outputs  # noqa: E402

import gradlab  # noqa: E402
from gradlab import widgets  # noqa: E402


def _toy_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(260, 12, generator=g)
    y = (x[:, :3].argmax(1) + 3 * (x[:, 3] > 0)).long()
    return gradlab.Dataset("toy", x[:200], y[:200], x[200:], y[200:], [str(i) for i in range(6)])


def test_regularization_explorer_redraws_for_every_control():
    box = widgets.regularization_explorer(_toy_data(), sizes=(50, 200), n_train=50, epochs=3, width=16)
    out = box.children[-1]
    shown = [png_outputs(out)]
    assert len(shown[0]) == 1
    assert len(box.history.epoch) == 4  # epoch 0 + 3 epochs
    for key, value in (("n_train", 200), ("dropout", 0.5), ("l2", 1e-2)):
        box.controls[key].value = value
        shown.append(png_outputs(out))
        assert len(shown[-1]) == 1 and shown[-1] != shown[-2], f"changing {key} did not redraw"
    assert "gap" in box.children[1].value


def test_regularization_explorer_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    widgets.regularization_explorer(_toy_data(), sizes=(50,), epochs=1, width=8)
    assert torch.equal(torch.rand(3), expected)


def test_l2_penalty_worsens_the_training_fit():
    """The ℓ2 control acts: with a strong penalty the same run fits its training set less well."""
    box = widgets.regularization_explorer(_toy_data(), sizes=(200,), epochs=5, width=16)
    losses = {}
    for l2 in (0.0, 1e-2):
        box.controls["l2"].value = l2
        losses[l2] = box.history.train_loss[-1]
    # the data term is logged; with a strong penalty the fit of the training set is worse
    assert losses[1e-2] > losses[0.0]
