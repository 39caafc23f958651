#!/usr/bin/env bash
# Smoke test of a node (one GPU, Qwen2.5-0.5B, 2 short GRPO steps, validation and a checkpoint) before a
# 7B run: run_grpo.sh scale=smoke, whose scale file (config/scale/smoke.yaml) gives the model, the node count
# and the GPUs per node.
#   bash recipe/format_length/run_smoke.sh [hydra overrides...]
# Same environment variables as run_grpo.sh; only the run name's default differs.
set -euo pipefail
export EXPERIMENT="${EXPERIMENT:-smoke-${REWARD:-format_length}}"
exec bash "$(dirname "${BASH_SOURCE[0]}")/run_grpo.sh" scale=smoke "$@"
