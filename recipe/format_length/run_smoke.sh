#!/usr/bin/env bash
# Smoke test of a GPU node before a 7B run, meant to finish in well under 15 minutes on one GPU: `verl-ext
# doctor scale=smoke` (any WRONG stops it), then run_grpo.sh scale=smoke (Qwen2.5-0.5B or --model, 2 GRPO steps
# of 8 prompts x 4 rollouts of <= 512 tokens, validation on 64 problems at steps 0 and 2, one checkpoint), then
# the figures to compare and what to expect of them (python -m verl_ext.verl.smoke_report).
#
#   bash recipe/format_length/run_smoke.sh [--model DIR_OR_HUB_ID] [--data DIR] [--reward NAME] [--ckpt DIR]
#                                          [--dry-run] [hydra overrides...]
#
#   --model    the model (MODEL_PATH)                    [the scale file's: Qwen/Qwen2.5-0.5B]
#   --data     the prepared parquet files (DATA_DIR)     [run_grpo.sh's default]
#   --reward   REWARD                                    [format_length]
#   --ckpt     checkpoints and logs go under it (CKPT_DIR) [run_grpo.sh's default]
#   --dry-run  print run_grpo.sh's command, run nothing (DRY_RUN=1)
# Environment: as run_grpo.sh's (a flag wins over its variable). The run is named
# smoke-<reward>-<UTC time> unless EXPERIMENT is set, so a rerun starts afresh instead of resuming.
set -euo pipefail

SMOKE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SMOKE_DIR/../.." && pwd)"
# run_paths: the run's checkpoint folder and metrics log, named as run_grpo.sh names them.
source "$SMOKE_DIR/paths.sh"

usage() {
    sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

die() {
    echo "run_smoke.sh: error: $*" >&2
    exit 2
}

OVERRIDES=()
while (($#)); do
    case "$1" in
        --model | --data | --reward | --ckpt)
            (($# >= 2)) && [[ -n "$2" && "$2" != --* ]] || die "$1 needs a value"
            case "$1" in
                --model) export MODEL_PATH="$2" ;;
                --data) export DATA_DIR="$2" ;;
                --reward) export REWARD="$2" ;;
                --ckpt) export CKPT_DIR="$2" ;;
            esac
            shift 2
            ;;
        --model=* | --data=* | --reward=* | --ckpt=*)
            value="${1#*=}"
            [[ -n "$value" ]] || die "${1%%=*} needs a value"
            case "$1" in
                --model=*) export MODEL_PATH="$value" ;;
                --data=*) export DATA_DIR="$value" ;;
                --reward=*) export REWARD="$value" ;;
                --ckpt=*) export CKPT_DIR="$value" ;;
            esac
            shift
            ;;
        --dry-run) export DRY_RUN=1; shift ;;
        -h | --help) usage; exit 0 ;;
        --) shift; OVERRIDES+=("$@"); break ;;
        --*) die "unknown option $1 (see --help)" ;;
        *=*) OVERRIDES+=("$1"); shift ;;
        *) die "unexpected argument '$1': options are --model --data --reward --ckpt --dry-run, and Hydra overrides key=value" ;;
    esac
done

export REWARD="${REWARD:-format_length}"
export EXPERIMENT="${EXPERIMENT:-smoke-${REWARD}-$(date -u +%Y%m%d-%H%M%S)}"
PYTHON="${PYTHON:-python3}"

if [[ "${DRY_RUN:-0}" == "1" ]]; then
    exec bash "$SMOKE_DIR/run_grpo.sh" scale=smoke ${OVERRIDES[@]+"${OVERRIDES[@]}"}
fi

# A local model directory needs no hub: say so to every process (a lent device may have no network).
if [[ -n "${MODEL_PATH:-}" && -d "$MODEL_PATH" ]]; then
    export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
fi

# The doctor checks this run: scale=smoke and the overrides, MODEL_PATH / CKPT_DIR / GPUS_PER_NODE as set here.
echo "run_smoke.sh: 1/3 verl-ext doctor scale=smoke" >&2
"$PYTHON" -m verl_ext.cli doctor scale=smoke ${OVERRIDES[@]+"${OVERRIDES[@]}"} \
    || die "verl-ext doctor found a problem (its fixes are above); nothing was run"
export CHECK_DOCTOR=0  # run_grpo.sh's pre-flight need not run it again

echo "run_smoke.sh: 2/3 run_grpo.sh scale=smoke as $EXPERIMENT" >&2
start=$SECONDS
status=0
bash "$SMOKE_DIR/run_grpo.sh" scale=smoke ${OVERRIDES[@]+"${OVERRIDES[@]}"} || status=$?
elapsed=$((SECONDS - start))

run_paths "$REPO_ROOT" "$EXPERIMENT"
echo "run_smoke.sh: 3/3 the figures (run exit status $status, ${elapsed} s)" >&2
"$PYTHON" -m verl_ext.verl.smoke_report --log "$LOG_FILE" --reward "$REWARD" \
    --checkpoints "$CKPT_DIR/$EXPERIMENT" --exit-status "$status" --seconds "$elapsed"
