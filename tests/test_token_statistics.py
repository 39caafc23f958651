"""verl_ext.verl.token_stats.token_statistics: the per-token fields a token-level reward reads from TransferQueue after
veRL's old-log-prob pass, one row per rollout over the tokens the policy generated (response_mask = 1)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

pytest.importorskip("verl.utils.tensordict_utils", reason="veRL")

from verl.utils.tensordict_utils import list_of_dict_to_tensordict

from verl_ext.verl.token_stats import token_statistics


class Store:
    """kv_batch_get over rows held as veRL's own list_of_dict_to_tensordict builds them (jagged per-token fields);
    like TransferQueue, a field no row holds is left out of the answer."""

    def __init__(self, rows: dict[str, dict[str, Any]]) -> None:
        self.rows = rows
        self.calls: list[list[str]] = []

    def kv_batch_get(self, keys, partition_id, select_fields):
        self.calls.append(list(select_fields))
        table = list_of_dict_to_tensordict([self.rows[key] for key in keys])
        return {field: table[field] for field in select_fields if field in table.keys()}


# Rollout "a": three generated tokens. Rollout "b": a multi-turn response: 2 generated, 2 tool tokens, 1 generated.
ROWS = {
    "a_0_0": {
        "response_mask": torch.tensor([1, 1, 1]),
        "entropy": torch.tensor([0.1, 0.2, 0.3]),
        "self_certainty": torch.tensor([2.0, 2.5, 3.0]),
        "old_log_probs": torch.tensor([-1.0, -0.5, -0.25]),
    },
    "b_0_0": {
        "response_mask": torch.tensor([1, 1, 0, 0, 1]),
        "entropy": torch.tensor([0.4, 0.5, 9.0, 9.0, 0.6]),
        "self_certainty": torch.tensor([1.5, 1.6, 9.0, 9.0, 1.7]),
        "old_log_probs": torch.tensor([-2.0, -1.0, 9.0, 9.0, -0.1]),
    },
}


def test_rows_hold_the_generated_tokens_in_key_order_from_one_read() -> None:
    store = Store(ROWS)
    got = token_statistics(["b_0_0", "a_0_0"], "train", store.kv_batch_get, ["self_certainty", "entropy"])
    assert [row.tolist() for row in got["self_certainty"]] == [pytest.approx(r) for r in ([1.5, 1.6, 1.7], [2, 2.5, 3])]
    assert [row.tolist() for row in got["entropy"]] == [pytest.approx(r) for r in ([0.4, 0.5, 0.6], [0.1, 0.2, 0.3])]
    assert all(row.dtype == torch.float32 for row in got["entropy"])
    assert store.calls == [["self_certainty", "entropy", "response_mask"]]


def test_the_response_mask_itself_comes_as_its_full_rows() -> None:
    got = token_statistics(["b_0_0"], "train", Store(ROWS).kv_batch_get, ["response_mask", "old_log_probs"])
    assert got["response_mask"][0].tolist() == [1, 1, 0, 0, 1]
    assert got["old_log_probs"][0].tolist() == pytest.approx([-2.0, -1.0, -0.1])


def test_a_field_transfer_queue_lacks_is_named_with_its_writer() -> None:
    rows = {key: {k: v for k, v in row.items() if k != "self_certainty"} for key, row in ROWS.items()}
    with pytest.raises(ValueError, match="holds no 'self_certainty' .*sampler_kwargs.self_certainty=true"):
        token_statistics(["a_0_0"], "train", Store(rows).kv_batch_get, ["self_certainty"])


def test_a_row_whose_length_differs_from_its_response_mask_is_refused() -> None:
    rows = {"a_0_0": {**ROWS["a_0_0"], "entropy": torch.tensor([0.1, 0.2])}}
    with pytest.raises(ValueError, match="'entropy' of rollout 'a_0_0' has \\(2,\\) values for a response mask of"):
        token_statistics(["a_0_0"], "train", Store(rows).kv_batch_get, ["entropy"])


def test_an_unknown_field_name_is_refused_before_reading() -> None:
    store = Store(ROWS)
    with pytest.raises(ValueError, match="unknown per-token field"):
        token_statistics(["a_0_0"], "train", store.kv_batch_get, ["entropies"])
    assert store.calls == []


def test_no_keys_read_nothing() -> None:
    store = Store(ROWS)
    assert token_statistics([], "train", store.kv_batch_get, ["entropy"]) == {"entropy": []}
    assert store.calls == []
