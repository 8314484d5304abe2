"""The checkers behind the notebooks' tests must pass correct code and fail wrong code, with a
message that says what is wrong."""
import pytest
import torch
import torch.nn.functional as F

from gradlab.checks import ForbiddenCallError, check_elementwise, extreme_inputs, forbid


def good_elu(z, alpha=1.0):
    return torch.where(z > 0, z, alpha * torch.expm1(z.clamp_max(0)))


def test_correct_implementation_passes():
    check_elementwise(good_elu, F.elu, name="elu")
    check_elementwise(lambda z: torch.where(z > 0, z, 0.0), F.relu, name="relu")


@pytest.mark.parametrize("wrong, pattern", [
    (lambda z: torch.where(z > 0, z, torch.exp(z) - 1), r"gradient is nan at z = 8\d"),
    (lambda z: 1 / (1 + torch.exp(-z)) * 0 + torch.where(z > 0, z, 0.5 * z), r"wrong value at z = -"),
    (lambda z: z.clamp_min(0), r"wrong gradient at z = 0"),
    (lambda z: torch.where(z > 0, z, 0.0).detach(), r"does not require grad"),
    (lambda z: torch.where(z > 0, z, 0.0).sum(), r"output shape"),
    (lambda z: torch.where(z > 0, z, 0.0).float(), r"dtype"),
])
def test_wrong_implementations_fail_with_a_reason(wrong, pattern):
    oracle = F.elu if "exp" in pattern or "nan" in pattern else F.relu
    with pytest.raises(AssertionError, match=pattern):
        check_elementwise(wrong, oracle, name="f", dtypes=(torch.float64,) if "dtype" in pattern else
                          (torch.float32, torch.float64))


def test_overflow_in_the_value_is_named():
    with pytest.raises(AssertionError, match="overflowing exp"):
        check_elementwise(lambda z: torch.exp(z) / (torch.exp(z) + 1), torch.sigmoid, name="sigmoid")


def test_hint_at_zero_is_appended():
    with pytest.raises(AssertionError, match="torch uses 0 at z = 0"):
        check_elementwise(lambda z: z.clamp_min(0), F.relu, name="relu", hint_at_zero="torch uses 0 at z = 0")


def test_forbid_traps_and_restores():
    original = torch.sigmoid
    with forbid("torch.sigmoid", "torch.Tensor.sigmoid", "torch.nn.functional.elu"):
        with pytest.raises(ForbiddenCallError, match="torch.sigmoid was called"):
            torch.sigmoid(torch.zeros(1))
        with pytest.raises(ForbiddenCallError):
            torch.zeros(1).sigmoid()
        with pytest.raises(ForbiddenCallError):
            F.elu(torch.zeros(1))
        torch.exp(torch.zeros(1))  # elementary ops still work
    assert torch.sigmoid is original
    assert float(torch.zeros(1).sigmoid()) == 0.5


def test_forbid_restores_after_an_error():
    with pytest.raises(RuntimeError):
        with forbid("torch.tanh"):
            raise RuntimeError
    assert float(torch.tanh(torch.zeros(1))) == 0.0


def test_extreme_inputs_cover_overflow_territory():
    z = extreme_inputs(torch.float32)
    assert (z == 0).any() and z.max() == 1e4 and z.min() == -1e4
    assert extreme_inputs(torch.float64).dtype == torch.float64
