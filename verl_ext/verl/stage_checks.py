"""What a veRL 0.9.1 run of verl-ext cannot honour, found from its config before anything starts.

verl-ext's post-rollout reward stage (group-level and token-level presets, :mod:`verl_ext.verl.trainer`) runs in its
own trainer mode, ``trainer.v1.trainer_mode=verl_ext_sync``: veRL's sync trainer with the stage right after the
old-log-prob pass and before advantages. :func:`stage_problems` lists, for a config and the run's reward preset,
every setting under which the stage's rewards (or the per-token statistics they read, or verl-ext's sampler) would
be wrong, missing or silently ignored, each with the setting named and what to do instead. Empty: the run can
start. Pure: a function of veRL's config (DictConfig or nested dicts) and the preset registry, no veRL import.

What a preset needs comes from the registry (``verl_ext.rewards.registry``), data-driven:

* the stage writes its training reward unless it is a text preset (``RewardPreset.is_text``);
* it needs whole groups when it is group-level (``RewardPreset.is_group``);
* the per-token fields it reads: ``RewardPreset.token_statistics`` (names among ``self_certainty``, ``entropy``,
  ``old_log_probs``: :mod:`verl_ext.verl.token_stats`), plus ``rollout_log_probs`` when ``needs_logprobs``.
  :func:`needs_self_certainty` and :func:`needs_entropy` answer from it; the trainer switches the actor's
  self-certainty on exactly when the preset needs it or ``trainer.v1.sampler.sampler_kwargs.self_certainty=true``
  asks for it (monitoring).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from verl_ext.verl.token_stats import ENTROPY, ROLLOUT_LOG_PROBS, SELF_CERTAINTY

TRAINER_MODE = "verl_ext_sync"
SAMPLER_NAME = "DiagnosticsReplayBuffer"
SAMPLER_MODULE = "diagnostics_sampler"
FSDP_STRATEGIES = ("fsdp", "fsdp2")  # veRL's FSDPEngineWithLMHead, which verl-ext's actor engine extends
VERL_TRAINER_MODES = ("sync", "colocate_async", "separate_async")


@dataclass(frozen=True)
class StageNeeds:
    """What a preset asks of the run (see the module doc)."""

    rewrites: bool
    group: bool
    statistics: frozenset[str]


def stage_needs(preset_name: str | None) -> StageNeeds:
    """The needs of the registry's preset ``preset_name`` (None: no verl-ext preset: nothing). ValueError for a name
    the registry does not hold."""
    if not preset_name:
        return StageNeeds(False, False, frozenset())
    from verl_ext.rewards.registry import get_preset

    preset = get_preset(preset_name)
    statistics = set(getattr(preset, "token_statistics", ()) or ())
    if getattr(preset, "needs_logprobs", False):
        statistics.add(ROLLOUT_LOG_PROBS)
    return StageNeeds(not preset.is_text, bool(preset.is_group), frozenset(statistics))


def needs_self_certainty(preset_name: str | None) -> bool:
    """Whether the preset's reward reads the actor's per-token self-certainty."""
    return SELF_CERTAINTY in stage_needs(preset_name).statistics


def needs_entropy(preset_name: str | None) -> bool:
    """Whether the preset's reward reads the actor's per-token entropy."""
    return ENTROPY in stage_needs(preset_name).statistics


def _select(config: Any, path: str, default: Any = None) -> Any:
    node = config
    for part in path.split("."):
        if node is None:
            return default
        getter = getattr(node, "get", None)
        if not callable(getter):
            return default
        node = getter(part)
    return default if node is None else node


def sampler_kwargs(config: Any) -> Mapping[str, Any]:
    return _select(config, "trainer.v1.sampler.sampler_kwargs", {}) or {}


def wants_self_certainty(config: Any, preset_name: str | None) -> bool:
    """Whether the run's actor computes self-certainty: the preset needs it, or ``sampler_kwargs.self_certainty``."""
    return needs_self_certainty(preset_name) or bool(sampler_kwargs(config).get("self_certainty", False))


def _rewrites(name: Any) -> bool:
    """Whether ``name`` is a registry preset whose training reward the stage writes (False for other names)."""
    from verl_ext.rewards.registry import preset_names

    return isinstance(name, str) and name in preset_names() and stage_needs(name).rewrites


def uses_verl_ext_sampler(config: Any) -> bool:
    custom = _select(config, "trainer.v1.sampler.custom_sampler", {}) or {}
    return custom.get("name") == SAMPLER_NAME and SAMPLER_MODULE in str(custom.get("path") or "")


def stage_problems(config: Any, preset_name: str | None) -> list[str]:
    """Every setting of ``config`` under which verl-ext cannot honour the run with reward preset ``preset_name``
    (None: a reward that is not a verl-ext preset), each naming the setting and what to do instead."""
    needs = stage_needs(preset_name)
    mode = str(_select(config, "trainer.v1.trainer_mode", "sync"))
    our_sampler = uses_verl_ext_sampler(config)
    self_certainty = wants_self_certainty(config, preset_name)
    statistics = set(needs.statistics) | ({SELF_CERTAINTY} if self_certainty else set())
    reward = f"reward {preset_name!r}"
    problems = []

    if our_sampler and mode not in ("sync", TRAINER_MODE):
        consequence = {
            "separate_async": "calls get_sampleable_count / wait_for_sampleable, which only veRL's ReplayBufferAsync "
            "has (AttributeError in the run)",
            "colocate_async": "relies on ReplayBufferAsync's staleness eviction (max_off_policy_threshold), which the "
            "sync buffer silently skips",
        }.get(mode, "is not a mode the sync buffer was built for")
        problems.append(
            f"trainer.v1.trainer_mode={mode}: verl-ext's {SAMPLER_NAME} extends veRL's sync ReplayBuffer, and this "
            f"mode {consequence}: use trainer.v1.trainer_mode={TRAINER_MODE} (or sync), or drop "
            "trainer.v1.sampler.custom_sampler"
        )
    if (needs.rewrites or statistics) and mode != TRAINER_MODE:
        what = "its training reward is written" if needs.rewrites else "the per-token statistics are written"
        problems.append(
            f"trainer.v1.trainer_mode={mode}: {reward if preset_name else 'this run'}: {what} by verl-ext's reward "
            f"stage, which runs only in trainer.v1.trainer_mode={TRAINER_MODE} (veRL's sync trainer with the stage "
            "after the old-log-prob pass): set it"
        )

    named = sampler_kwargs(config).get("reward") or None
    manager = _select(config, "reward.reward_manager.name")
    if needs.rewrites and named != preset_name:
        problems.append(
            f"trainer.v1.sampler.sampler_kwargs.reward={named!r}: the stage writes the rewards of the preset named "
            f"there; set it to {preset_name!r} (the recipe sets it to ${{reward.reward_manager.name}})"
        )
    elif named != manager and any(_rewrites(name) for name in (named, manager)):
        problems.append(
            f"reward.reward_manager.name={manager!r} and trainer.v1.sampler.sampler_kwargs.reward={named!r}: the "
            "reward loop records for one preset and the stage writes the rewards of the other: name one preset in "
            "both (the recipe sets sampler_kwargs.reward to ${reward.reward_manager.name})"
        )

    if _select(config, "algorithm.filter_groups.enable", False):
        if needs.rewrites:
            problems.append(
                f"algorithm.filter_groups.enable=true: DAPO's group filter runs in the replay buffer on the reward "
                f"loop's scores, which for {reward} are placeholders (the stage writes the real ones after the "
                "old-log-prob pass): set it to false"
            )
        if our_sampler:
            problems.append(
                f"algorithm.filter_groups.enable=true: veRL builds a custom sampler ({SAMPLER_NAME}) without the "
                "group-filter arguments, so the filter would be skipped without a word: set it to false, or drop "
                "trainer.v1.sampler.custom_sampler"
            )

    n = _select(config, "actor_rollout_ref.rollout.n", 1)
    if needs.group and int(n) < 2:
        problems.append(
            f"actor_rollout_ref.rollout.n={n}: {reward} is computed over each prompt's group of n responses; a group "
            "of one gives every answered sample the same reward and GRPO a zero advantage: set n >= 2"
        )

    if ROLLOUT_LOG_PROBS in statistics and not _select(config, "actor_rollout_ref.rollout.calculate_log_probs"):
        problems.append(
            f"actor_rollout_ref.rollout.calculate_log_probs=false: {reward} is computed from the rollout's token "
            "log-probs: set it to true"
        )

    elif (
        our_sampler
        and sampler_kwargs(config).get("rollout_log_probs")
        and not _select(config, "actor_rollout_ref.rollout.calculate_log_probs")
    ):
        problems.append(
            "trainer.v1.sampler.sampler_kwargs.rollout_log_probs=true with actor_rollout_ref.rollout."
            "calculate_log_probs=false: the stage would read log-probs the rollout never records (for a reward the "
            "stage writes, that fails the step): set both alike (the recipe ties the first to the second)"
        )

    actor_statistics = sorted(statistics & {ENTROPY, SELF_CERTAINTY})
    if actor_statistics and _select(config, "algorithm.rollout_correction.bypass_mode", False):
        problems.append(
            "algorithm.rollout_correction.bypass_mode=true: the old-log-prob pass is skipped (old_log_probs := "
            f"rollout_log_probs), so the actor computes no {' or '.join(actor_statistics)}: set it to false"
        )
    if self_certainty:
        who = reward if needs_self_certainty(preset_name) else "sampler_kwargs.self_certainty=true"
        if _select(config, "actor_rollout_ref.model.use_fused_kernels", False):
            problems.append(
                f"actor_rollout_ref.model.use_fused_kernels=true: {who} needs the per-token self-certainty, computed "
                "from the full logits, which fused kernels never materialise: set it to false"
            )
        strategy = _select(config, "actor_rollout_ref.actor.strategy", "fsdp")
        if strategy not in FSDP_STRATEGIES:
            problems.append(
                f"actor_rollout_ref.actor.strategy={strategy}: {who} needs the per-token self-certainty, which "
                f"verl-ext computes in veRL's FSDP engine only: use strategy fsdp or fsdp2"
            )

    reward_model_enabled = _select(config, "reward.reward_model.enable", False)
    if needs.rewrites and reward_model_enabled and not _select(config, "reward.reward_model.enable_resource_pool"):
        problems.append(
            f"reward.reward_model.enable=true without enable_resource_pool: a colocated reward model scores after "
            f"sampling and the stage would replace its scores with {reward}'s: disable it, or give it a resource pool"
        )
    return problems
