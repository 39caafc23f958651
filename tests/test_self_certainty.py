"""Per-token self-certainty: the formula on a 3-token vocabulary worked on paper, and veRL 0.9.1's FSDP engine
extended with it (verl_ext.verl.actor_engine) in both of its layouts, with log-probs and entropy left as veRL's.

Worked by hand, z = (0, ln 2, ln 4): exp(z) = (1, 2, 4), sum 7, so p = (1/7, 2/7, 4/7);
    logsumexp(z) = ln 7, mean(z) = (0 + ln 2 + 2 ln 2) / 3 = ln 2, so sc = ln 7 - ln 2 = ln 3.5;
    KL(U || p) = (1/3) [ln((1/3)/(1/7)) + ln((1/3)/(2/7)) + ln((1/3)/(4/7))] = (1/3) ln(343 / 216) = ln(7/6)
    = sc - ln 3 (the constant log V of the module doc);
    H(p) = (1/7) ln 7 + (2/7) ln(7/2) + (4/7) ln(7/4) = ln 7 - (10/7) ln 2.
At temperature 2, z / 2 = (0, ln 2 / 2, ln 2): exp = (1, sqrt 2, 2), so sc = ln(3 + sqrt 2) - ln(sqrt 2) / 1
    (mean(z / 2) = ln 2 / 2 = ln sqrt 2) = ln(1 + 3 / sqrt 2).
A uniform row (c, c, c): p = U, sc = ln 3, KL = 0, H = ln 3.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

pytest.importorskip("verl.workers.engine.fsdp.transformer_impl", reason="veRL's FSDP engine")

import verl.utils.torch_functional as verl_F
from verl.utils import tensordict_utils as tu

from verl_ext.verl.actor_engine import SelfCertaintyFSDPEngine
from verl_ext.verl.token_stats import SELF_CERTAINTY_FLAG, self_certainty_from_logits

LN2, LN3, LN7 = math.log(2), math.log(3), math.log(7)
SKEWED = [0.0, LN2, 2 * LN2]  # z = (0, ln 2, ln 4)
SC_SKEWED = math.log(3.5)
SC_SKEWED_T2 = math.log(1 + 3 / math.sqrt(2))
H_SKEWED = LN7 - 10 / 7 * LN2


@pytest.mark.parametrize(
    ("row", "temperature", "expected"),
    [
        (SKEWED, None, SC_SKEWED),
        (SKEWED, 2.0, SC_SKEWED_T2),
        ([5.0, 5.0, 5.0], None, LN3),  # uniform: KL(U || U) = 0, sc = ln 3
        ([2 * LN2 + 10, 10.0, LN2 + 10], None, SC_SKEWED),  # a permutation shifted by 10: sc is shift-invariant
    ],
)
def test_self_certainty_of_hand_worked_rows(row, temperature, expected) -> None:
    got = self_certainty_from_logits(torch.tensor([row]), temperature)
    assert got.tolist() == pytest.approx([expected], abs=1e-6)


def test_self_certainty_is_kl_to_uniform_plus_log_v() -> None:
    assert SC_SKEWED - LN3 == pytest.approx(math.log(7 / 6))


def test_chunks_positions_and_per_position_temperatures_agree_with_one_pass() -> None:
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 11, dtype=torch.bfloat16)
    temperature = torch.tensor([0.6, 1.0, 2.0]).unsqueeze(-1)  # one per sequence, broadcast over positions
    z = logits.float() / temperature.unsqueeze(-1)
    reference = torch.logsumexp(z, -1) - z.mean(-1)
    chunked = self_certainty_from_logits(logits, temperature, chunk_rows=4)
    assert chunked.dtype == torch.float32 and chunked.shape == (3, 5)
    assert torch.allclose(chunked, reference, atol=1e-6)


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_a_non_positive_temperature_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="temperature must be > 0"):
        self_certainty_from_logits(torch.zeros(2, 3), bad)


# ---------------------------------------------------------------- the engine, both layouts


def bare_engine(pad_to_length: bool = False) -> SelfCertaintyFSDPEngine:
    """The engine class with the attributes its input/output preparation reads (no model, no process group)."""
    engine = object.__new__(SelfCertaintyFSDPEngine)
    engine.engine_config = SimpleNamespace(
        entropy_checkpointing=False, entropy_from_logits_with_chunking=False, entropy_from_logits_chunk_size=2048
    )
    engine.compute_entropy_from_logits = verl_F.entropy_from_logits
    engine.use_ulysses_sp = False
    engine.ulysses_sequence_parallel_size = 1
    engine.pad_to_length = pad_to_length
    engine.pad_to_length_bucket = 8  # packed length 5 -> one static pad of 3 positions
    return engine


# Two sequences of 3 and 2 positions; the logits rows at their positions, by hand-worked kind.
ROWS = [[SKEWED, [5.0, 5.0, 5.0], SKEWED], [[1.0, 1.0, 1.0], SKEWED]]
SC_T1 = [[SC_SKEWED, LN3, SC_SKEWED], [LN3, SC_SKEWED]]
SC_T2 = [[SC_SKEWED_T2, LN3, SC_SKEWED_T2], [LN3, SC_SKEWED_T2]]
H_T1 = [[H_SKEWED, LN3, H_SKEWED], [LN3, H_SKEWED]]


def micro_batch(remove_padding: bool, temperature: float, flag: bool | None):
    ids = torch.nested.nested_tensor([torch.tensor([1, 2, 0]), torch.tensor([2, 1])], layout=torch.jagged)
    positions = torch.nested.nested_tensor([torch.arange(3), torch.arange(2)], layout=torch.jagged)
    non_tensor = {"use_remove_padding": remove_padding, "calculate_entropy": True, "temperature": temperature}
    if flag is not None:
        non_tensor[SELF_CERTAINTY_FLAG] = flag
    return tu.get_tensordict(tensor_dict={"input_ids": ids, "position_ids": positions}, non_tensor_dict=non_tensor)


def model_logits(model_inputs: dict, remove_padding: bool) -> torch.Tensor:
    """What the model would return for ROWS, in the layout veRL's prepare_model_inputs asked for (padding rows:
    arbitrary numbers, which must not reach the output)."""
    shape = model_inputs["input_ids"].shape
    logits = torch.full((*shape, 3), 7.0)
    logits[..., 0] = -3.0
    if remove_padding:  # (1, packed positions + pad, V)
        packed = [row for sequence in ROWS for row in sequence]
        logits[0, : len(packed)] = torch.tensor(packed)
    else:  # (batch, longest, V)
        for i, sequence in enumerate(ROWS):
            logits[i, : len(sequence)] = torch.tensor(sequence)
    return logits


def run_engine(engine, remove_padding: bool, temperature: float, flag: bool | None) -> dict:
    batch = micro_batch(remove_padding, temperature, flag)
    model_inputs, output_args = engine.prepare_model_inputs(batch)  # veRL's own preparation
    output = SimpleNamespace(logits=model_logits(model_inputs, remove_padding))
    return engine.prepare_model_outputs(output, output_args, batch, None)


def jagged_rows(value: torch.Tensor) -> list[list[float]]:
    return [row.tolist() for row in value.unbind()]


@pytest.mark.parametrize(
    ("remove_padding", "pad_to_length"), [(True, False), (True, True), (False, False)], ids=["packed", "bucket", "pad"]
)
@pytest.mark.parametrize(("temperature", "expected"), [(1.0, SC_T1), (2.0, SC_T2)], ids=["T1", "T2"])
def test_the_engine_returns_self_certainty_per_position_when_flagged(
    remove_padding, pad_to_length, temperature, expected
) -> None:
    output = run_engine(bare_engine(pad_to_length), remove_padding, temperature, flag=True)
    got = jagged_rows(output["self_certainty"])
    assert [len(row) for row in got] == [3, 2]
    for row, want in zip(got, expected, strict=True):
        assert row == pytest.approx(want, abs=1e-5)


@pytest.mark.parametrize("remove_padding", [True, False], ids=["packed", "pad"])
def test_entropy_stays_entropy_beside_self_certainty(remove_padding) -> None:
    output = run_engine(bare_engine(), remove_padding, 1.0, flag=True)
    for row, want in zip(jagged_rows(output["entropy"]), H_T1, strict=True):
        assert row == pytest.approx(want, abs=1e-5)


@pytest.mark.parametrize("remove_padding", [True, False], ids=["packed", "pad"])
@pytest.mark.parametrize("flag", [None, False], ids=["absent", "false"])
def test_without_the_flag_the_output_is_veRLs_key_for_key(remove_padding, flag) -> None:
    from verl.workers.engine.fsdp.transformer_impl import FSDPEngineWithLMHead

    ours = run_engine(bare_engine(), remove_padding, 0.6, flag=flag)
    stock = bare_engine()
    stock.__class__ = FSDPEngineWithLMHead
    theirs = run_engine(stock, remove_padding, 0.6, flag=flag)
    assert sorted(ours) == sorted(theirs) == ["entropy", "log_probs"]
    for key in theirs:
        assert jagged_rows(ours[key]) == jagged_rows(theirs[key])


def test_fused_kernels_are_refused_with_the_setting_named() -> None:
    engine = bare_engine()
    batch = micro_batch(True, 1.0, flag=True)
    tu.assign_non_tensor(batch, use_fused_kernels=True)
    with pytest.raises(NotImplementedError, match="use_fused_kernels"):
        engine.self_certainty(SimpleNamespace(logits=torch.zeros(1, 5, 3)), {}, batch)


def test_the_gpu_and_cpu_registrations_prefer_this_engine() -> None:
    from verl.workers.engine.base import EngineRegistry

    from verl_ext.verl import actor_engine

    actor_engine.register_gpu_engines()  # idempotent: the plugin did it already
    for backend in ("fsdp", "fsdp2"):
        registry = EngineRegistry._engines["language_model"][backend]
        assert registry[("cuda", "nvidia")] is SelfCertaintyFSDPEngine
        assert registry["cuda"].__name__ == "FSDPEngineWithLMHead"  # veRL's own entry is left as it was
