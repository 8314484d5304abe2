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


# ------------------------------------------------------------ helpers moved from the notebooks
def test_forbid_ops_catches_every_route_to_the_operator():
    from gradlab.checks import SIGMOID_OPS, ForbiddenCallError, forbid_ops, forbidding
    alias = torch.sigmoid
    for route in (alias, torch.nn.Sigmoid(), torch.special.expit, lambda z: z.sigmoid()):
        with pytest.raises(ForbiddenCallError, match="sigmoid"):
            with forbid_ops(*SIGMOID_OPS):
                route(torch.zeros(2))
    with forbid_ops(*SIGMOID_OPS):       # elementary operations pass
        assert float(1 / (1 + torch.exp(-torch.zeros(1)))) == 0.5
    guarded = forbidding(lambda z: alias(z), ops=SIGMOID_OPS, label="the built-in sigmoid")
    with pytest.raises(ForbiddenCallError, match="the built-in sigmoid"):
        guarded(torch.zeros(1))
    assert guarded.__name__ == "<lambda>"


def test_each_device_and_dtype_covers_the_product():
    from gradlab.checks import available_devices, each_device_and_dtype
    pairs = list(each_device_and_dtype())
    assert len(pairs) == 2 * len(available_devices())
    assert {dt for _, dt in pairs} == {torch.float32, torch.float64}


def test_run_init_and_check_distribution_catch_wrong_fillers():
    import math

    from gradlab.checks import check_distribution, run_init, xavier_candidates

    def good_(t, gain=1.0):
        bound = gain * math.sqrt(6 / sum(t.shape))
        with torch.no_grad():
            return t.uniform_(-bound, bound)

    def fan_in_only_(t, gain=1.0):
        bound = gain * math.sqrt(6 / t.shape[1] / 2) * math.sqrt(2)
        with torch.no_grad():
            return t.uniform_(-bound, bound)

    torch.manual_seed(0)
    t, call = run_init(good_, (300, 200), requires_grad=True)
    stats = check_distribution(t, call, std=math.sqrt(2 / 500), kind="uniform", candidates=xavier_candidates(200, 300, 1.0))
    assert stats["std"] == pytest.approx(math.sqrt(2 / 500), rel=0.03)
    t, call = run_init(fan_in_only_, (300, 200))
    with pytest.raises(AssertionError, match="fan_in alone"):
        check_distribution(t, call, std=math.sqrt(2 / 500), kind="uniform", candidates=xavier_candidates(200, 300, 1.0))
    with pytest.raises(AssertionError, match="torch.no_grad"):
        run_init(lambda t: t.uniform_(-1, 1), (3, 3), requires_grad=True)
    with pytest.raises(AssertionError, match="same tensor object"):
        run_init(lambda t: torch.zeros_like(t), (3, 3))
    with pytest.raises(ForbiddenCallError):
        run_init(lambda t: torch.nn.init.xavier_uniform_(t), (3, 3))


def test_check_elementwise_records_what_it_checks():
    from gradlab import observe
    observe.begin("test_relu")
    try:
        check_elementwise(lambda z: torch.where(z > 0, z, 0.0), F.relu, name="relu", record_as="relu",
                          devices=["cpu"])
    finally:
        rec = observe.end()
    assert set(rec.values) == {"relu/float32/cpu/values", "relu/float32/cpu/grad",
                               "relu/float64/cpu/values", "relu/float64/cpu/grad"}
