import math

import pytest
import torch

from posttrain.losses.preference import (
    PREFERENCE_LOSSES,
    PairedLogps,
    get_loss,
    ipo_loss,
    kto_loss,
    kto_reference_point,
    orpo_loss,
    sigmoid_loss,
    simpo_loss,
)

PAIRED_LOSSES = [name for name, spec in PREFERENCE_LOSSES.items() if spec.paired]


def f64(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def random_pairs(seed: int = 0, batch: int = 6, requires_grad: bool = False) -> PairedLogps:
    """Summed log-probs of a few tokens each (per-token averages in (-2, 0))."""
    generator = torch.Generator().manual_seed(seed)
    chosen_lengths = torch.randint(1, 8, (batch,), generator=generator)
    rejected_lengths = torch.randint(1, 8, (batch,), generator=generator)

    def summed(lengths):
        return -2 * torch.rand(batch, generator=generator, dtype=torch.float64) * lengths

    chosen, rejected = summed(chosen_lengths), summed(rejected_lengths)
    return PairedLogps(
        chosen_logps=chosen.requires_grad_(requires_grad),
        rejected_logps=rejected.requires_grad_(requires_grad),
        chosen_lengths=chosen_lengths,
        rejected_lengths=rejected_lengths,
        ref_chosen_logps=summed(chosen_lengths),
        ref_rejected_logps=summed(rejected_lengths),
    )


def swapped(logps: PairedLogps) -> PairedLogps:
    return PairedLogps(
        chosen_logps=logps.rejected_logps,
        rejected_logps=logps.chosen_logps,
        chosen_lengths=logps.rejected_lengths,
        rejected_lengths=logps.chosen_lengths,
        ref_chosen_logps=logps.ref_rejected_logps,
        ref_rejected_logps=logps.ref_chosen_logps,
    )


# --- hand-derived values -------------------------------------------------------------------


def test_dpo_sigmoid_hand_values():
    """beta = 0.1, two pairs (summed log-probs; lengths play no part in DPO).

    pair 1: π_c = -1, ref_c = -2, π_r = -3, ref_r = -2.5
        h = (-1 - (-2)) - (-3 - (-2.5)) = 1 - (-0.5) = 1.5;  βh = 0.15
        -log σ(0.15) = log(1 + e^-0.15) = log(1.860708) = 0.620957
    pair 2: π_c = -5, ref_c = -4.5, π_r = -6, ref_r = -6.5
        h = (-0.5) - (0.5) = -1;  βh = -0.1
        -log σ(-0.1) = log(1 + e^0.1) = log(2.105171) = 0.744397
    loss = (0.620957 + 0.744397) / 2 = 0.682677
    rewards β(π - ref): chosen 0.1, -0.05 -> mean 0.025;  rejected -0.05, 0.05 -> mean 0
    margin = (0.15 + (-0.1)) / 2 = 0.025;  accuracy 1/2;  logps/chosen = (-1 - 5)/2 = -3.
    """
    logps = PairedLogps(
        chosen_logps=f64(-1, -5),
        rejected_logps=f64(-3, -6),
        chosen_lengths=torch.tensor([4, 4]),
        rejected_lengths=torch.tensor([4, 4]),
        ref_chosen_logps=f64(-2, -4.5),
        ref_rejected_logps=f64(-2.5, -6.5),
    )
    out = sigmoid_loss(logps, beta=0.1)
    assert out.loss.item() == pytest.approx(0.682677, abs=1e-6)
    assert out.metrics["rewards/chosen"] == pytest.approx(0.025)
    assert out.metrics["rewards/rejected"] == pytest.approx(0.0, abs=1e-12)
    assert out.metrics["rewards/margin"] == pytest.approx(0.025)
    assert out.metrics["rewards/accuracy"] == pytest.approx(0.5)
    assert out.metrics["logps/chosen"] == pytest.approx(-3.0)
    assert out.metrics["logps/rejected"] == pytest.approx(-4.5)


def test_conservative_dpo_hand_values():
    """Pair 1 of the DPO test (βh = 0.15), label_smoothing ε = 0.1.

    -log σ(0.15) = 0.620957;  -log σ(-0.15) = log(1 + e^0.15) = 0.620957 + 0.15 = 0.770957
    (since -log σ(-z) = -log σ(z) + z).
    loss = 0.9 * 0.620957 + 0.1 * 0.770957 = 0.620957 + 0.1 * 0.15 = 0.635957.
    """
    logps = PairedLogps(
        chosen_logps=f64(-1),
        rejected_logps=f64(-3),
        chosen_lengths=torch.tensor([1]),
        rejected_lengths=torch.tensor([1]),
        ref_chosen_logps=f64(-2),
        ref_rejected_logps=f64(-2.5),
    )
    out = sigmoid_loss(logps, beta=0.1, label_smoothing=0.1)
    assert out.loss.item() == pytest.approx(0.635957, abs=1e-6)


def test_ipo_hand_values():
    """tau = beta = 0.1, log-probs averaged per token.

    chosen:   π_c = -6, ref_c = -9 over 3 tokens -> (-6 - (-9)) / 3 = 1
    rejected: π_r = -8, ref_r = -6 over 4 tokens -> (-8 - (-6)) / 4 = -0.5
    h = 1 - (-0.5) = 1.5;  1/(2τ) = 5;  loss = (1.5 - 5)² = 12.25
    (summed log-probs would give h = 3 - (-2) = 5 and loss 0: the averaging matters.)
    rewards τ * averaged log-ratio: chosen 0.1, rejected -0.05, margin 0.15, accuracy 1.
    """
    logps = PairedLogps(
        chosen_logps=f64(-6),
        rejected_logps=f64(-8),
        chosen_lengths=torch.tensor([3]),
        rejected_lengths=torch.tensor([4]),
        ref_chosen_logps=f64(-9),
        ref_rejected_logps=f64(-6),
    )
    out = ipo_loss(logps, beta=0.1)
    assert out.loss.item() == pytest.approx(12.25, abs=1e-9)
    assert out.metrics["rewards/chosen"] == pytest.approx(0.1)
    assert out.metrics["rewards/rejected"] == pytest.approx(-0.05)
    assert out.metrics["rewards/margin"] == pytest.approx(0.15)
    assert out.metrics["rewards/accuracy"] == 1.0


def test_simpo_hand_values():
    """beta = 2.0, gamma = 0.5, no reference model.

    chosen:   π_c = -3 over 6 tokens -> β/|y_c| π_c = 2 * (-0.5) = -1
    rejected: π_r = -8 over 4 tokens -> β/|y_r| π_r = 2 * (-2) = -4
    loss = -log σ(-1 - (-4) - 0.5) = -log σ(2.5) = log(1 + e^-2.5) = log(1.082085) = 0.078890
    rewards: chosen -1, rejected -4, margin 3, accuracy 1.
    """
    logps = PairedLogps(
        chosen_logps=f64(-3),
        rejected_logps=f64(-8),
        chosen_lengths=torch.tensor([6]),
        rejected_lengths=torch.tensor([4]),
    )
    out = simpo_loss(logps, beta=2.0, gamma=0.5)
    assert out.loss.item() == pytest.approx(0.078890, abs=1e-6)
    assert out.metrics["rewards/chosen"] == pytest.approx(-1.0)
    assert out.metrics["rewards/rejected"] == pytest.approx(-4.0)
    assert out.metrics["rewards/margin"] == pytest.approx(3.0)
    assert out.metrics["rewards/accuracy"] == 1.0


def test_orpo_hand_values():
    """lambda = beta = 0.1, no reference model.

    chosen:   4 tokens, summed log-prob 4 log 0.5 -> per-token P = 0.5, odds 0.5/0.5 = 1, log odds 0
    rejected: 2 tokens, summed log-prob 2 log 0.2 -> P = 0.2, odds 0.2/0.8 = 1/4, log odds -log 4
    NLL_c = -log 0.5 = log 2 = 0.693147
    log odds ratio = 0 - (-log 4) = log 4;  σ(log 4) = 4/(4+1) = 0.8;  -log 0.8 = 0.223144
    loss = 0.693147 + 0.1 * 0.223144 = 0.715461
    rewards λ log odds: chosen 0, rejected -0.1 log 4 = -0.138629.
    """
    logps = PairedLogps(
        chosen_logps=f64(4 * math.log(0.5)),
        rejected_logps=f64(2 * math.log(0.2)),
        chosen_lengths=torch.tensor([4]),
        rejected_lengths=torch.tensor([2]),
    )
    out = orpo_loss(logps, beta=0.1)
    assert out.loss.item() == pytest.approx(0.715461, abs=1e-6)
    assert out.metrics["nll_loss"] == pytest.approx(0.693147, abs=1e-6)
    assert out.metrics["log_odds_ratio"] == pytest.approx(math.log(4))
    assert out.metrics["rewards/chosen"] == pytest.approx(0.0, abs=1e-12)
    assert out.metrics["rewards/rejected"] == pytest.approx(-0.138629, abs=1e-6)


def test_kto_hand_values():
    """beta = 0.1, z0 = 0.5; one desirable and one undesirable completion.

    desirable:   π = -1, ref = -2 -> r = 1;   1 - σ(0.1 * (1 - 0.5)) = 1 - σ(0.05) = 1 - 0.512497 = 0.487503
    undesirable: π = -3, ref = -2 -> r = -1;  1 - σ(0.1 * (0.5 - (-1))) = 1 - σ(0.15) = 1 - 0.537430 = 0.462570
    loss = (0.487503 + 0.462570) / 2 = 0.475036
    with undesirable_weight 1.5: (0.487503 + 1.5 * 0.462570) / 2 = (0.487503 + 0.693855) / 2 = 0.590679
    rewards βr: chosen 0.1, rejected -0.1, margin 0.2.
    """
    args = (f64(-1, -3), f64(-2, -2), torch.tensor([True, False]), torch.tensor(0.5, dtype=torch.float64))
    out = kto_loss(*args, beta=0.1)
    assert out.loss.item() == pytest.approx(0.475036, abs=1e-6)
    assert out.metrics["rewards/chosen"] == pytest.approx(0.1)
    assert out.metrics["rewards/rejected"] == pytest.approx(-0.1)
    assert out.metrics["rewards/margin"] == pytest.approx(0.2)
    assert out.metrics["kl"] == pytest.approx(0.5)
    weighted = kto_loss(*args, beta=0.1, undesirable_weight=1.5)
    assert weighted.loss.item() == pytest.approx(0.590679, abs=1e-6)


# --- properties ----------------------------------------------------------------------------


def test_dpo_at_zero_margin_is_log_2():
    """h = 0 (policy equals reference) gives -log σ(0) = log 2 whatever beta is."""
    logps = random_pairs()
    logps.ref_chosen_logps, logps.ref_rejected_logps = logps.chosen_logps, logps.rejected_logps
    for beta in (0.1, 0.5, 3.0):
        assert sigmoid_loss(logps, beta=beta).loss.item() == pytest.approx(math.log(2))


def test_dpo_is_invariant_to_a_constant_shift_of_policy_and_reference():
    """Adding c to both π_c and ref_c (or to both π_r and ref_r) leaves every log-ratio unchanged."""
    logps = random_pairs()
    base = sigmoid_loss(logps).loss.item()
    shifted = PairedLogps(
        chosen_logps=logps.chosen_logps + 7.0,
        rejected_logps=logps.rejected_logps - 3.0,
        chosen_lengths=logps.chosen_lengths,
        rejected_lengths=logps.rejected_lengths,
        ref_chosen_logps=logps.ref_chosen_logps + 7.0,
        ref_rejected_logps=logps.ref_rejected_logps - 3.0,
    )
    assert sigmoid_loss(shifted).loss.item() == pytest.approx(base, abs=1e-12)


def test_label_smoothing_zero_is_plain_dpo():
    logps = random_pairs()
    plain = sigmoid_loss(logps, beta=0.2)
    smoothed = sigmoid_loss(logps, beta=0.2, label_smoothing=0.0)
    assert smoothed.loss.item() == pytest.approx(plain.loss.item(), abs=1e-12)


@pytest.mark.parametrize("name", PAIRED_LOSSES)
def test_swapping_chosen_and_rejected_flips_accuracy(name):
    fn = get_loss(name).fn
    logps = random_pairs(batch=7)
    accuracy = fn(logps).metrics["rewards/accuracy"]
    assert 0 < accuracy < 1  # a mixed batch, so the flip is visible
    assert fn(swapped(logps)).metrics["rewards/accuracy"] == pytest.approx(1 - accuracy)


@pytest.mark.parametrize("name", PAIRED_LOSSES)
def test_gradients_flow_and_favour_the_chosen_completion(name):
    """Raising a chosen log-prob lowers the loss; raising a rejected one raises it."""
    logps = random_pairs(requires_grad=True)
    get_loss(name).fn(logps).loss.backward()
    assert (logps.chosen_logps.grad < 0).all()
    assert (logps.rejected_logps.grad > 0).all()


def test_kto_gradients_favour_desirable_completions():
    policy_logps = f64(-1, -2, -3, -4).requires_grad_()
    labels = torch.tensor([True, False, True, False])
    kto_loss(policy_logps, f64(-2, -2, -2, -2), labels, kl=0.3).loss.backward()
    assert (policy_logps.grad[labels] < 0).all()
    assert (policy_logps.grad[~labels] > 0).all()


@pytest.mark.parametrize("name", ["ipo", "simpo", "orpo"])
def test_length_normalised_losses_see_only_per_token_averages(name):
    """Doubling a completion's summed log-probs and its length keeps its per-token average."""
    fn = get_loss(name).fn
    logps = random_pairs()
    doubled = PairedLogps(
        chosen_logps=2 * logps.chosen_logps,
        rejected_logps=logps.rejected_logps,
        chosen_lengths=2 * logps.chosen_lengths,
        rejected_lengths=logps.rejected_lengths,
        ref_chosen_logps=2 * logps.ref_chosen_logps,
        ref_rejected_logps=logps.ref_rejected_logps,
    )
    assert fn(doubled).loss.item() == pytest.approx(fn(logps).loss.item(), abs=1e-12)


@pytest.mark.parametrize("chosen_prob", [1e-6, 0.2, 0.5, 0.9, 0.999999])
def test_orpo_log_odds_match_the_definition_on_both_sides_of_the_stable_branch(chosen_prob):
    """Rejected at P = 0.5 has log odds 0, so the logged log odds ratio is log(p / (1 - p)) of the
    chosen completion; p = 0.9 and 0.999999 take the expm1 branch (x > -log 2), the rest log1p."""
    logps = PairedLogps(
        chosen_logps=f64(3 * math.log(chosen_prob)),
        rejected_logps=f64(math.log(0.5)),
        chosen_lengths=torch.tensor([3]),
        rejected_lengths=torch.tensor([1]),
    )
    expected = math.log(chosen_prob / (1 - chosen_prob))
    assert orpo_loss(logps).metrics["log_odds_ratio"] == pytest.approx(expected, rel=1e-6)


def test_orpo_is_finite_when_a_completion_is_almost_certain():
    """Per-token log-prob -1e-10 in float32: exp() rounds to 1, so a naive log(1 - eˣ) is -inf."""
    logps = PairedLogps(
        chosen_logps=torch.tensor([-1e-10, 0.0, -200.0], requires_grad=True),
        rejected_logps=torch.tensor([-3.0, -1e-10, -1e-3], requires_grad=True),
        chosen_lengths=torch.tensor([1, 5, 2]),
        rejected_lengths=torch.tensor([2, 1, 1]),
    )
    out = orpo_loss(logps)
    out.loss.backward()
    assert torch.isfinite(out.loss)
    assert torch.isfinite(logps.chosen_logps.grad).all()
    assert torch.isfinite(logps.rejected_logps.grad).all()


def test_kto_with_only_desirable_labels_ignores_the_undesirable_weight():
    args = (f64(-1, -4, -2), f64(-2, -3, -2), torch.tensor([True, True, True]), 0.2)
    low = kto_loss(*args, undesirable_weight=1.0)
    high = kto_loss(*args, undesirable_weight=5.0)
    assert high.loss.item() == pytest.approx(low.loss.item(), abs=1e-12)
    assert "rewards/rejected" not in high.metrics


def test_kto_reference_point_is_detached_and_clamped_at_zero():
    args = (f64(-1, -3).requires_grad_(), f64(-2, -2), torch.tensor([True, False]))
    kl = torch.tensor(-0.4, dtype=torch.float64, requires_grad=True)
    negative = kto_loss(*args, kl=kl)
    assert negative.loss.item() == pytest.approx(kto_loss(*args, kl=0.0).loss.item(), abs=1e-12)
    assert negative.metrics["kl"] == 0.0
    negative.loss.backward()
    assert kl.grad is None



def test_kto_reference_point_by_hand():
    """Log-ratios π - ref: (-1 - -2, -3 - -2, -2 - -4) = (1, -1, 2): z0 = mean = 2/3, detached."""
    policy = f64(-1, -3, -2).requires_grad_()
    z0 = kto_reference_point(policy, f64(-2, -2, -4))
    assert z0.item() == pytest.approx(2 / 3, abs=1e-12)
    assert not z0.requires_grad

def test_unknown_loss_name_lists_the_valid_ones():
    with pytest.raises(ValueError) as error:
        get_loss("dpo_typo")
    for name in ("sigmoid", "ipo", "simpo", "orpo", "kto"):
        assert name in str(error.value)


def test_registry_flags():
    expected = {"sigmoid": True, "ipo": True, "simpo": False, "orpo": False, "kto": True}
    assert {name: spec.needs_reference for name, spec in PREFERENCE_LOSSES.items()} == expected
    assert [name for name, spec in PREFERENCE_LOSSES.items() if not spec.paired] == ["kto"]
    assert all(get_loss(name).name == name for name in PREFERENCE_LOSSES)


@pytest.mark.parametrize("name", PAIRED_LOSSES)
def test_needs_reference_matches_what_the_loss_reads(name):
    """Reference-free losses run without (and ignore) reference log-probs; the others refuse to."""
    spec = get_loss(name)
    logps = random_pairs()
    without_reference = PairedLogps(
        chosen_logps=logps.chosen_logps,
        rejected_logps=logps.rejected_logps,
        chosen_lengths=logps.chosen_lengths,
        rejected_lengths=logps.rejected_lengths,
    )
    if spec.needs_reference:
        with pytest.raises(ValueError, match="reference"):
            spec.fn(without_reference)
    else:
        assert spec.fn(without_reference).loss.item() == pytest.approx(spec.fn(logps).loss.item())
