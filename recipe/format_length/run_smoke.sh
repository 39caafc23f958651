#!/usr/bin/env bash
# Smoke test of a node (one GPU, Qwen2.5-0.5B, 2 short GRPO steps, validation and a checkpoint) before a
# 7B run: run_grpo.sh with the override scale=smoke.
#   bash recipe/format_length/run_smoke.sh [hydra overrides...]
# Same environment variables as run_grpo.sh; only the defaults below differ.
set -euo pipefail
export MODEL_PATH="${MODEL_PATH:-Qwen/Qwen2.5-0.5B}"
export NNODES="${NNODES:-1}"
export GPUS_PER_NODE="${GPUS_PER_NODE:-1}"
export EXPERIMENT="${EXPERIMENT:-smoke-${REWARD:-format_length}}"
exec bash "$(dirname "${BASH_SOURCE[0]}")/run_grpo.sh" scale=smoke "$@"
