"""Token-level rewards (issue 28): every formula against distributions over a 3-token vocabulary worked on paper.

The worked distribution, used throughout: logits z = (0, ln 2, ln 4), so exp(z) = (1, 2, 4), sum 7:
    logsumexp L = ln 7
    p = (1/7, 2/7, 4/7)
    entropy H = L - sum_v p_v z_v = ln 7 - (2/7 ln 2 + 4/7 * 2 ln 2) = ln 7 - (10/7) ln 2      = 0.955700...
    self-certainty c = L - mean(z) = ln 7 - (0 + ln 2 + 2 ln 2)/3 = ln 7 - ln 2 = ln(7/2)       = 1.252763...
    KL(U || p) = (1/3) sum_v ln((1/3) / p_v) = (1/3) ln((7/3)(7/6)(7/12)) = ln(7/6) = c - ln 3  = 0.154151...
    log p(token 2) = ln(4/7)
The uniform distribution z = (0, 0, 0): p = 1/3 each, H = ln 3, c = ln 3 - 0 = ln 3, KL(U || p) = 0.
"""

from __future__ import annotations

import math

import pytest

from verl_ext.core import score_response
from verl_ext.rewards.group import format_gated
from verl_ext.rewards.token import (
    RENT_TAIL_FRACTION,
    gateable,
    tail_length,
    token_logprob,
    token_statistics,
)
from verl_ext.rewards.token_stats import Ragged, reduce


def _score(preset: str, statistic: str, values, tail_fraction: float = 1.0) -> float:
    """The preset's score of one response with these per-token values, through the scoring core."""
    return score_response(preset, "x", token_stats={statistic: values}, tail_fraction=tail_fraction).score


def self_certainty(values, tail_fraction: float = 1.0) -> float:
    return _score("self_certainty", "self_certainty", values, tail_fraction)


def token_entropy(values, tail_fraction: float = 1.0) -> float:
    return _score("token_entropy", "entropy", values, tail_fraction)


def probability(values) -> float:
    return _score("probability", "logprobs", values)


def mean_logprob(values) -> float:
    return _score("self_confidence", "logprobs", values)


LN2, LN3, LN7 = math.log(2), math.log(3), math.log(7)
WORKED = (0.0, LN2, 2 * LN2)
WORKED_H = LN7 - 10 / 7 * LN2
WORKED_C = math.log(7 / 2)


@pytest.mark.parametrize(
    ("logits", "temperature", "entropy", "certainty", "why"),
    [
        (WORKED, 1.0, WORKED_H, WORKED_C, "the worked distribution"),
        ((0.0, 0.0, 0.0), 1.0, LN3, LN3, "uniform: the most entropy, KL(U || p) = 0 so c = ln V"),
        ((5.0, 5.0 + LN2, 5.0 + 2 * LN2), 1.0, WORKED_H, WORKED_C, "a constant added to every logit changes nothing"),
        ((0.0, 2 * LN2, 4 * LN2), 2.0, WORKED_H, WORKED_C, "(0, ln 4, ln 16) at temperature 2 is the worked z"),
        ((0.0, LN2, 2 * LN2), 0.5, None, None, "temperature 1/2: z' = (0, ln 4, ln 16), see below"),
    ],
)
def test_token_statistics_from_a_logits_row(logits, temperature, entropy, certainty, why):
    stats = token_statistics(logits, temperature)
    if entropy is None:
        # z' = (0, ln 4, ln 16): exp = (1, 4, 16), sum 21, p = (1/21, 4/21, 16/21)
        # H = ln 21 - (4/21 ln 4 + 16/21 ln 16) = ln 21 - (8 + 64)/21 ln 2 = ln 21 - (24/7) ln 2
        # c = ln 21 - (0 + 2 ln 2 + 4 ln 2)/3 = ln 21 - 2 ln 2 = ln(21/4)
        entropy, certainty = math.log(21) - 24 / 7 * LN2, math.log(21 / 4)
    assert stats.entropy == pytest.approx(entropy, abs=1e-12), why
    assert stats.self_certainty == pytest.approx(certainty, abs=1e-12), why


def test_self_certainty_is_kl_from_uniform_plus_ln_v():
    # KL(U || p) = ln(7/6) by hand (module docstring), V = 3
    assert token_statistics(WORKED).self_certainty - LN3 == pytest.approx(math.log(7 / 6), abs=1e-12)


def test_token_logprob_of_the_worked_distribution():
    assert token_logprob(WORKED, 2) == pytest.approx(math.log(4 / 7), abs=1e-12)
    assert token_logprob(WORKED, 0) == pytest.approx(math.log(1 / 7), abs=1e-12)
    assert token_logprob((0.0, 2 * LN2, 4 * LN2), 2, temperature=2.0) == pytest.approx(math.log(4 / 7), abs=1e-12)
    with pytest.raises(ValueError, match="token 3 is outside the vocabulary of 3"):
        token_logprob(WORKED, 3)


def test_reference_agrees_with_verls_entropy_and_intuitors_formula_on_random_rows():
    """veRL 0.9.1's ``entropy_from_logits`` is a library's value; logsumexp - mean is Intuitor's formula."""
    torch = pytest.importorskip("torch")
    from verl.utils.torch_functional import entropy_from_logits

    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 50, generator=generator, dtype=torch.float64) * 4
    temperature = 0.7
    scaled = logits / temperature
    verl_entropy = entropy_from_logits(scaled)
    certainty = torch.logsumexp(scaled, dim=-1) - scaled.mean(dim=-1)
    for row, h, c in zip(logits, verl_entropy, certainty, strict=True):
        stats = token_statistics(row, temperature)  # a torch row is accepted as an iterable of numbers
        assert stats.entropy == pytest.approx(float(h), abs=1e-9)
        assert stats.self_certainty == pytest.approx(float(c), abs=1e-9)


# A 3-token response whose next-token distributions were: uniform, the worked one, the worked one.
# Self-certainty per token: (ln 3, ln(7/2), ln(7/2)); entropy per token: (ln 3, H, H) with H = ln 7 - (10/7) ln 2.
RESPONSE_C = (LN3, WORKED_C, WORKED_C)
RESPONSE_H = (LN3, WORKED_H, WORKED_H)


@pytest.mark.parametrize(
    ("tail_fraction", "certainty", "entropy"),
    [
        # all 3 tokens: (ln 3 + 2 ln(7/2)) / 3 = ln(3 * 49/4) / 3 = ln(147/4) / 3
        (1.0, math.log(147 / 4) / 3, -(LN3 + 2 * WORKED_H) / 3),
        # RENT's last third: ceil(3/3) = 1 token, the last
        (RENT_TAIL_FRACTION, WORKED_C, -WORKED_H),
        # half: ceil(1.5) = 2 tokens, the last two
        (0.5, WORKED_C, -WORKED_H),
        # 0.9: ceil(2.7) = 3 tokens, all
        (0.9, math.log(147 / 4) / 3, -(LN3 + 2 * WORKED_H) / 3),
    ],
)
def test_self_certainty_and_token_entropy_of_a_response(tail_fraction, certainty, entropy):
    assert self_certainty(RESPONSE_C, tail_fraction) == pytest.approx(certainty, abs=1e-12)
    assert token_entropy(RESPONSE_H, tail_fraction) == pytest.approx(entropy, abs=1e-12)


def test_token_entropy_tail_takes_the_last_tokens_not_the_first():
    # entropies (ln 3, 0, 0): the last third is the last token (0 -> reward 0); the first third would give -ln 3
    assert token_entropy((LN3, 0.0, 0.0), RENT_TAIL_FRACTION) == 0.0
    # last two thirds: ceil(2) = 2 tokens: (0 + 0)/2
    assert token_entropy((LN3, 0.0, 0.0), 2 / 3) == 0.0
    assert token_entropy((0.0, 0.0, LN3), RENT_TAIL_FRACTION) == pytest.approx(-LN3)


def test_probability_is_the_product_of_the_token_probabilities():
    # sampled tokens with p = 4/7, 1/3, 2/7: product 8/147 = 0.054421...
    logprobs = (math.log(4 / 7), -LN3, math.log(2 / 7))
    assert probability(logprobs) == pytest.approx(8 / 147, rel=1e-12)
    # URLVR's trajectory_level_entropy is self_confidence: the mean log-prob, ln(8/147) / 3 = ln(probability) / T
    assert mean_logprob(logprobs) == pytest.approx(math.log(8 / 147) / 3, rel=1e-12)
    assert probability((0.0, 0.0)) == 1.0  # a certain response
    assert probability([-400.0, -400.0]) == 0.0  # exp(-800) underflows (as in URLVR)


@pytest.mark.parametrize(
    ("reward", "value", "gated"),
    [
        ("self_certainty", WORKED_C, WORKED_C),  # >= ln V > 0: gated as it is
        ("probability", 8 / 147, 8 / 147),  # in [0, 1]: as it is
        ("token_entropy", -LN3, 1 / 3),  # exp(-ln 3) = 1/3: the inverse perplexity of a uniform 3-way choice
        ("self_confidence", math.log(0.5), 0.5),  # exp(mean log p), as format_gated_self_confidence
    ],
)
def test_gated_forms_are_non_negative_and_monotone(reward, value, gated):
    assert gateable(reward, value) == pytest.approx(gated, rel=1e-12)
    assert format_gated([gateable(reward, value)], [1.0]) == [pytest.approx(gated, rel=1e-12)]
    assert format_gated([gateable(reward, value)], [0.0]) == [0.0]
    assert gateable(reward, value + 0.1) > gateable(reward, value)  # the ranking within formatted responses kept


def test_gated_token_entropy_ranks_an_unformatted_response_last():
    # without the exp, -H <= 0 would let an unformatted 0 outrank every formatted response
    formatted, unformatted = gateable("token_entropy", token_entropy(RESPONSE_H)), 0.0
    assert format_gated([formatted, gateable("token_entropy", -0.0)], [1.0, 0.0]) == [formatted, unformatted]
    assert formatted > unformatted
    with pytest.raises(ValueError, match="must be >= 0"):
        format_gated([token_entropy(RESPONSE_H)], [1.0])


def test_gateable_names_the_unknown_reward():
    with pytest.raises(ValueError, match="no gating form for 'majority'"):
        gateable("majority", 1.0)


@pytest.mark.parametrize(
    ("tokens", "fraction", "length"),
    [
        (3, 1.0, 3),
        (3, 1 / 3, 1),
        (3, 0.5, 2),
        (10, 1 / 3, 4),  # ceil(3.33)
        (1, 0.01, 1),  # never fewer than one token
        (2, 1e-12, 1),
        (100, 0.55, 55),  # 0.55 * 100 is 55.00000000000001 in floats: still 55 tokens, not 56
        (85, 3 / 17, 15),  # 3/17 * 85 is 15.000000000000002
        (55, 3 / 11, 15),  # 3/11 * 55 is 14.999999999999998: ceil is 15 either way
    ],
)
def test_tail_length(tokens, fraction, length):
    assert tail_length(tokens, fraction) == length
    # the batch reduction takes the same tokens: a tail mean of ones and zeros counts the ones it read
    row = [0.0] * (tokens - length) + [1.0] * length
    (mean,) = reduce(Ragged.from_rows([row]), "entropy", "tail mean", fraction)
    assert mean == 1.0


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.5, math.nan, math.inf])
def test_tail_fraction_outside_zero_one_is_refused(fraction):
    with pytest.raises(ValueError, match="tail_fraction must lie in"):
        token_entropy(RESPONSE_H, fraction)
    with pytest.raises(ValueError, match="tail_fraction must lie in"):
        self_certainty(RESPONSE_C, fraction)


@pytest.mark.parametrize(
    ("call", "values", "error", "words"),
    [
        (token_entropy, [], ValueError, "no response token's entropy"),
        (self_certainty, [], ValueError, "no response token's self_certainty"),
        (probability, [], ValueError, "no response token's logprobs"),
        (token_entropy, [0.1, math.nan], ValueError, "entropy at token 1 is nan"),
        (self_certainty, [math.inf], ValueError, "self_certainty at token 0 is inf"),
        (probability, [-0.1, -math.inf], ValueError, "logprobs at token 1 is -inf"),
        (self_certainty, [1.0, -0.5], ValueError, "token 1 is -0.5, not logsumexp"),
        (probability, [-0.1, 0.2], ValueError, r"token 1 is 0.2, not log p.* <= 0"),
        (token_entropy, ["0.5", "x"], ValueError, "could not convert string to float"),
    ],
)
def test_bad_statistics_are_refused_with_the_token_named(call, values, error, words):
    with pytest.raises(error, match=words):
        call(values)


def test_logits_row_must_be_finite_and_temperature_positive():
    with pytest.raises(ValueError, match="logits: token 1 is nan"):
        token_statistics([0.0, math.nan])
    with pytest.raises(ValueError, match="logits: no response tokens"):
        token_statistics([])
    for temperature in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
            token_statistics(WORKED, temperature)


def test_any_iterable_of_numbers_is_accepted():
    numpy = pytest.importorskip("numpy")
    expected = -(LN3 + 2 * WORKED_H) / 3
    assert token_entropy(numpy.array(RESPONSE_H)) == pytest.approx(expected)
    assert token_entropy(iter(RESPONSE_H)) == pytest.approx(expected)
    assert token_entropy(v for v in RESPONSE_H) == pytest.approx(expected)
