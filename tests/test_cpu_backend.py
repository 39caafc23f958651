"""The CPU backend's parts, without Ray: sampling, batched generation, weight loading, veRL checks, TRL fix."""

from __future__ import annotations

import asyncio
import importlib.util
import math
import subprocess
import sys

import pytest
import torch

from verl_ext.verl.cpu import compat
from verl_ext.verl.cpu.generation import generate_batch, left_pad
from verl_ext.verl.cpu.sampling import SamplingParams, filter_top_k_top_p, sample_next
from verl_ext.verl.cpu.server import max_new_tokens


# ---------------------------------------------------------------- sampling
def test_greedy_takes_the_argmax_with_its_raw_log_softmax():
    logits = torch.tensor([[1.0, 3.0, 2.0]])
    token, log_prob = sample_next(logits, SamplingParams(temperature=0.0))
    expected = 3.0 - math.log(math.exp(1) + math.exp(3) + math.exp(2))  # log softmax, by hand
    assert token.tolist() == [1]
    assert log_prob.item() == pytest.approx(expected, abs=1e-6)


def test_sampled_log_prob_is_under_the_temperature_scaled_full_distribution():
    # top_k=1 forces the argmax token, but its log-prob stays the one of softmax(logits / T) over all tokens.
    logits = torch.tensor([[0.0, 2.0, 1.0]])
    token, log_prob = sample_next(logits, SamplingParams(temperature=0.5, top_k=1))
    scaled = [0.0, 4.0, 2.0]
    expected = 4.0 - math.log(sum(math.exp(v) for v in scaled))
    assert token.tolist() == [1]
    assert log_prob.item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("top_k", "top_p", "kept"),
    [
        (-1, 1.0, [True, True, True, True]),  # no truncation
        (2, 1.0, [True, True, False, False]),  # the two largest
        (-1, 0.5, [True, False, False, False]),  # p = .6 alone reaches 0.5
        (-1, 0.7, [True, True, False, False]),  # .6 < .7: the next one (.25) is needed
        (-1, 0.01, [True, False, False, False]),  # always at least one token
        (3, 0.7, [True, True, False, False]),  # both limits
    ],
)
def test_top_k_top_p_keep_the_documented_sets(top_k, top_p, kept):
    probs = torch.tensor([[0.6, 0.25, 0.1, 0.05]])
    filtered = filter_top_k_top_p(probs.log(), top_k, top_p)
    assert torch.isfinite(filtered).tolist() == [kept]


def test_sampling_draws_only_kept_tokens_and_follows_their_probabilities():
    logits = torch.tensor([[0.6, 0.3, 0.1]]).log().repeat(4000, 1)
    generator = torch.Generator().manual_seed(0)
    tokens, _ = sample_next(logits, SamplingParams(temperature=1.0, top_k=2), generator)
    counts = torch.bincount(tokens, minlength=3).tolist()
    assert counts[2] == 0
    assert counts[0] / 4000 == pytest.approx(0.6 / 0.9, abs=0.03)  # renormalised over the kept two


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"repetition_penalty": 1.2}, "repetition_penalty"),
        ({"temperature": -1}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
    ],
)
def test_unsupported_sampling_values_are_refused(params, message):
    with pytest.raises(ValueError, match=message):
        SamplingParams.from_request(params, max_tokens=4)


@pytest.mark.parametrize(
    ("prompt_tokens", "requested", "expected"),
    [(10, None, 8), (10, 3, 3), (10, 50, 22), (28, None, 4)],  # context: 24 + 8 = 32 tokens
)
def test_token_budget_defaults_to_response_length_and_stays_in_the_context(prompt_tokens, requested, expected):
    assert max_new_tokens(prompt_tokens, 24, 8, requested) == expected


def test_a_prompt_that_fills_the_context_is_an_error():
    with pytest.raises(ValueError, match="no room"):
        max_new_tokens(32, 24, 8, None)


# ---------------------------------------------------------------- generation with a real tiny Qwen2
@pytest.fixture(scope="module")
def tiny_model():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=50,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        tie_word_embeddings=True,
    )
    return Qwen2ForCausalLM(config).eval()


def _greedy_one_by_one(model, prompt: list[int], steps: int) -> list[int]:
    ids = torch.tensor([prompt])
    out = []
    for _ in range(steps):
        next_token = int(model(input_ids=ids).logits[0, -1].argmax())
        out.append(next_token)
        ids = torch.cat([ids, torch.tensor([[next_token]])], dim=-1)
    return out


def test_batched_left_padded_decoding_matches_unbatched_full_recompute(tiny_model):
    prompts = [[5, 6, 7, 8, 9], [11, 12]]
    results = generate_batch(
        tiny_model, prompts, SamplingParams(temperature=0.0, max_tokens=6), eos_ids=set(), pad_id=0
    )
    for prompt, result in zip(prompts, results, strict=True):
        assert result.token_ids == _greedy_one_by_one(tiny_model, prompt, 6)
        assert result.finish_reason == "length"


def test_log_probs_are_what_a_full_forward_pass_gives(tiny_model):
    prompt = [3, 4, 5]
    (result,) = generate_batch(
        tiny_model, [prompt], SamplingParams(temperature=0.7, max_tokens=5), set(), 0, torch.Generator().manual_seed(1)
    )
    ids = torch.tensor([prompt + result.token_ids])
    logits = tiny_model(input_ids=ids).logits[0, len(prompt) - 1 : -1] / 0.7
    expected = torch.log_softmax(logits, -1).gather(-1, torch.tensor(result.token_ids)[:, None]).squeeze(-1)
    assert result.log_probs == pytest.approx(expected.tolist(), abs=1e-4)


def test_generation_stops_at_eos_and_keeps_it(tiny_model):
    prompt = [5, 6, 7, 8, 9]
    first = _greedy_one_by_one(tiny_model, prompt, 1)[0]
    (result,) = generate_batch(tiny_model, [prompt], SamplingParams(temperature=0.0, max_tokens=6), {first}, 0)
    assert result.token_ids == [first]
    assert result.finish_reason == "stop"


def test_left_pad_right_aligns_prompts():
    ids, mask = left_pad([[1, 2, 3], [4]], pad_id=0)
    assert ids.tolist() == [[1, 2, 3], [0, 0, 4]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]


# ---------------------------------------------------------------- weights from veRL's sync
def test_server_loads_synced_weights_and_rejects_unknown_names(tiny_model, tmp_path):
    from verl_ext.verl.cpu.server import HFRolloutServer

    tiny_model.save_pretrained(tmp_path)
    server = HFRolloutServer.__new__(HFRolloutServer)
    server.model = type(tiny_model).from_pretrained(tmp_path)
    server._lock = asyncio.Lock()
    server.weight_updates = 0
    new = {name: torch.full_like(value, 0.5) for name, value in server.model.state_dict().items()}
    assert asyncio.run(server.load_weights(new)) == len(new)
    assert all(torch.equal(value, new[name]) for name, value in server.model.state_dict().items())
    with pytest.raises(KeyError, match="model.layers.9.mlp.up_proj.weight"):
        asyncio.run(server.load_weights({"model.layers.9.mlp.up_proj.weight": torch.zeros(1)}))


# ---------------------------------------------------------------- veRL version and hooks
def test_installed_verl_passes_the_checks():
    compat.check_verl()


def test_unsupported_verl_version_is_named_in_the_error(monkeypatch):
    import verl

    monkeypatch.setattr(verl, "__version__", "0.10.0")
    with pytest.raises(compat.UnsupportedVerlError, match=r"supports veRL >=0\.9\.1,<0\.10.*0\.10\.0 is installed"):
        compat.check_verl()


def test_a_moved_internal_is_named_in_the_error():
    hooks = (("verl.workers.rollout.base", "_NO_SUCH_REGISTRY", callable, "maps the rollout name"),)
    with pytest.raises(compat.UnsupportedVerlError, match="verl.workers.rollout.base._NO_SUCH_REGISTRY"):
        compat.check_verl(hooks)


def _run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env={**os.environ, **env}
    )


# Three probes of a process without VERL_PLATFORM share one fresh interpreter (one veRL import instead of three),
# in this order: what `import verl` loaded (before anything else runs), veRL's worker model patch with the plugin's
# TRL fix, then the same patch with the fix undone (veRL's own check: "TRL importable"). Each prints its outcome.
_WITHOUT_PLATFORM_PROBES = """
import importlib.util, json, sys
import verl
from verl.workers.rollout.replica import RolloutReplicaRegistry as R
results = {"loaded": ['hf' in R._registry, any(m.startswith('verl_ext.verl.cpu.') for m in sys.modules)]}
from transformers import Qwen2Config, Qwen2ForCausalLM
import verl.models.transformers.monkey_patch as mp

def patch():
    m = Qwen2ForCausalLM(Qwen2Config(vocab_size=32, hidden_size=16, intermediate_size=32,
                                     num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1))
    try:
        mp.apply_monkey_patch(m, use_remove_padding=False)
        return "patched"
    except Exception as error:
        return f"raised {type(error).__name__}: {error}"

results["with_fix"] = patch()
mp.is_trl_available = lambda: importlib.util.find_spec('trl') is not None
results["without_fix"] = patch()
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def without_platform() -> dict:
    import json

    result = _run_python(_WITHOUT_PLATFORM_PROBES, VERL_PLATFORM="")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_without_verl_platform_cpu_nothing_of_the_backend_loads(without_platform):
    assert without_platform["loaded"] == [False, False]


def test_with_verl_platform_cpu_the_backend_registers_everything():
    probe = (
        "import verl; from verl.utils.device import get_device_name;"
        "from verl.workers.rollout.replica import RolloutReplicaRegistry as R;"
        "from verl.workers.rollout.base import _ROLLOUT_REGISTRY as A;"
        "from verl.workers.engine.base import EngineRegistry as E;"
        "import verl.workers.engine_workers as W;"
        "print(get_device_name(), 'hf' in R._registry, ('hf', 'async') in A,"
        " E._engines['language_model']['fsdp2']['cpu'].__name__,"
        " getattr(W.initialize_global_process_group_ray, 'verl_ext_cpu', False))"
    )
    result = _run_python(probe, VERL_PLATFORM="cpu")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["cpu", "True", "True", "SelfCertaintyFSDPEngine", "True"]  # veRL's, extended


def test_a_backend_that_cannot_load_fails_loudly_at_platform_selection():
    # An unsupported veRL version (simulated before the plugin loads) must surface, not "Unknown platform".
    code = (
        "import sys, types\n"
        "import verl_ext.verl.cpu.compat as c\n"
        "from packaging.version import Version\n"
        "c.SUPPORTED_VERL = (Version('0.9.2'), Version('0.10'))\n"
        "import verl\n"
        "from verl.utils.device import get_device_name\n"
        "get_device_name()\n"
    )
    result = _run_python(code, VERL_PLATFORM="cpu", VERL_USE_EXTERNAL_PLUGINS="auto")
    assert result.returncode != 0
    assert "the CPU backend (VERL_PLATFORM=cpu) cannot load" in result.stderr
    assert "supports veRL >=0.9.1,<0.10" in result.stderr


# ---------------------------------------------------------------- TRL >= 1.16 beside veRL
def test_trl_is_installed_here():
    assert importlib.util.find_spec("trl") is not None, "CI installs the [trl] extra: this file tests the clash"


def test_verl_worker_model_patch_runs_with_trl_installed(without_platform):
    assert without_platform["with_fix"] == "patched"


def test_without_the_fix_verl_worker_model_patch_crashes_on_trl(without_platform):
    # The negative control: veRL's own check (TRL importable) reaches the import TRL 1.16 no longer has.
    assert without_platform["without_fix"].startswith("raised ")
    assert "AutoModelForCausalLMWithValueHead" in without_platform["without_fix"]


# ---------------------------------------------------------------- launch clean-up
def test_kill_ray_under_ends_only_the_processes_naming_the_temp_dir(tmp_path):
    from verl_ext.verl.cpu.launcher import kill_ray_under

    ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(tmp_path / "ray")])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(tmp_path / "other")])
    try:
        assert kill_ray_under(tmp_path / "ray") == 1
        assert ours.wait(timeout=10) != 0
        assert other.poll() is None
    finally:
        other.kill()
        ours.kill()
