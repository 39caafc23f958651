#!/usr/bin/env bash
# One GRPO run of the paper on stock veRL 0.9 (python -m verl.trainer.main_ppo + this recipe's Hydra config).
#
#   REWARD=format_length TRAIN_SET=deepscaler_17k bash recipe/format_length/run_grpo.sh [hydra overrides...]
#   bash recipe/format_length/run_grpo.sh --cfg job        # print the composed config and exit
#
# Environment (defaults in brackets):
#   REWARD         correctness | format | format_length | length | random        [format_length]
#   TRAIN_SET      deepscaler_17k | math_train: the file $DATA_DIR/$TRAIN_SET.parquet [deepscaler_17k]
#   MODEL_PATH     local model directory or Hugging Face hub id                  [Qwen/Qwen2.5-Math-7B]
#   DATA_DIR       prepared parquet files (data_prep/prepare.py)                 [<repo>/data]
#   CKPT_DIR       checkpoints go to $CKPT_DIR/$EXPERIMENT                        [<repo>/checkpoints]
#   LOG_DIR        veRL file logger: $LOG_DIR/format_length/$EXPERIMENT.jsonl     [$CKPT_DIR/logs]
#   NNODES         nodes; above 1 the run is submitted to a running Ray cluster  [1]
#   GPUS_PER_NODE  GPUs per node                                                 [8]
#   EXPERIMENT     run name (wandb, logs, checkpoints)     [grpo-$TRAIN_SET-<model dir name>-$REWARD]
#   RAY_ADDRESS    Ray dashboard address for NNODES > 1                          [http://127.0.0.1:8265]
#   PYTHON         interpreter                                                   [python3]
#   DRY_RUN=1      check everything, print the command instead of running it
#
# Trailing arguments are Hydra overrides (e.g. eval=avg16 scale=smoke trainer.logger=[console,wandb]);
# Hydra's own flags (--cfg job, --resolve, --info, --help) print and exit without checks and without Ray.
set -euo pipefail

RECIPE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$RECIPE_DIR/../.." && pwd)"
CONFIG_DIR="$RECIPE_DIR/config"
# The job's working directory on a Ray cluster is a copy of REPO_ROOT: the same config, relative to it.
CONFIG_DIR_IN_REPO="recipe/format_length/config"
CONFIG_NAME="format_length_grpo"
# Module of verl-ext's verl.plugins entry point (setup.py); imported by `import verl` in every process.
PLUGIN_MODULE="verl_ext.verl.plugin"
VAL_SETS=(aime2024 amc2023 math500)

REWARD="${REWARD:-format_length}"
TRAIN_SET="${TRAIN_SET:-deepscaler_17k}"
MODEL_PATH="${MODEL_PATH:-Qwen/Qwen2.5-Math-7B}"
DATA_DIR="${DATA_DIR:-$REPO_ROOT/data}"
CKPT_DIR="${CKPT_DIR:-$REPO_ROOT/checkpoints}"
NNODES="${NNODES:-1}"
GPUS_PER_NODE="${GPUS_PER_NODE:-8}"
PYTHON="${PYTHON:-python3}"
RAY_ADDRESS="${RAY_ADDRESS:-http://127.0.0.1:8265}"

die() {
    echo "run_grpo.sh: error: $*" >&2
    exit 2
}

warn() {
    echo "run_grpo.sh: warning: $*" >&2
}

# POSIX single-quoting of one word (survives /bin/sh, which runs a Ray job's entrypoint).
shell_quote() {
    local squote="'" escaped="'\\''"
    printf "'%s'" "${1//$squote/$escaped}"
}

# A Hydra override value that stays one string: plain paths and names as they are, anything else
# (, = [ ] spaces, or a word Hydra would read as a bool, null or number) as a quoted Hydra string.
hydra_quote() {
    local lower
    lower="$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')"
    if [[ "$1" =~ ^[A-Za-z_./~][A-Za-z0-9_./@+~-]*$ && ! "$lower" =~ ^(true|false|null|nan|inf)$ ]]; then
        printf '%s' "$1"
        return
    fi
    [[ "$1" != *"'"* ]] || die "a single quote cannot appear in a value given to Hydra: $1"
    printf "'%s'" "$1"
}

is_hub_id() {
    [[ "$1" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$ ]] && [[ ! -e "$1" ]]
}

absolute() {
    case "$1" in
        /*) printf '%s' "$1" ;;
        "~"*) printf '%s' "${HOME}${1:1}" ;;
        *) printf '%s' "$PWD/$1" ;;
    esac
}

# Trailing words: overrides (key=value) go before Hydra's flags, whose argparse takes no override after
# a flag. Hydra's own flags print something and exit: no checks, no Ray.
USER_OVERRIDES=()
HYDRA_FLAGS=()
HYDRA_INFO=0
for arg in "$@"; do
    case "$arg" in
        -*) HYDRA_FLAGS+=("$arg") ;;
        *=*) USER_OVERRIDES+=("$arg") ;;
        *) HYDRA_FLAGS+=("$arg") ;;
    esac
    case "$arg" in
        --cfg | --cfg=* | -c | --resolve | --info | --info=* | -i | --help | -h | --hydra-help | --shell-completion | -sc)
            HYDRA_INFO=1 ;;
    esac
done

DATA_DIR="$(absolute "$DATA_DIR")"
CKPT_DIR="$(absolute "$CKPT_DIR")"
LOG_DIR="$(absolute "${LOG_DIR:-$CKPT_DIR/logs}")"
if ! is_hub_id "$MODEL_PATH"; then
    MODEL_PATH="$(absolute "$MODEL_PATH")"
fi
MODEL_NAME="$(basename "$MODEL_PATH" | tr '[:upper:]' '[:lower:]')"
EXPERIMENT="${EXPERIMENT:-grpo-${TRAIN_SET}-${MODEL_NAME}-${REWARD}}"

# ---------------------------------------------------------------- checks, before anything starts
check_inputs() {
    [[ "$NNODES" =~ ^[1-9][0-9]*$ ]] || die "NNODES must be a positive integer, got '$NNODES'"
    [[ "$GPUS_PER_NODE" =~ ^[1-9][0-9]*$ ]] || die "GPUS_PER_NODE must be a positive integer, got '$GPUS_PER_NODE'"

    local rewards
    rewards="$("$PYTHON" -c 'from verl_ext.rewards.presets import preset_names; print(" ".join(preset_names()))')" \
        || die "cannot import verl_ext with $PYTHON: install it first (pip install -e \".[gpu]\" in $REPO_ROOT)"
    [[ " $rewards " == *" $REWARD "* ]] || die "unknown REWARD '$REWARD' (choose one of: $rewards)"

    local missing=() name
    for name in "$TRAIN_SET" "${VAL_SETS[@]}"; do
        [[ -f "$DATA_DIR/$name.parquet" ]] || missing+=("$DATA_DIR/$name.parquet")
    done
    ((${#missing[@]} == 0)) \
        || die "missing data file(s): ${missing[*]} (TRAIN_SET='$TRAIN_SET', DATA_DIR='$DATA_DIR'; make them with data_prep/prepare.py)"

    if is_hub_id "$MODEL_PATH"; then
        local cache="${HF_HUB_CACHE:-${HF_HOME:-$HOME/.cache/huggingface}/hub}/models--${MODEL_PATH//\//--}"
        if [[ ! -d "$cache" ]]; then
            [[ "${HF_HUB_OFFLINE:-0}" != "1" ]] \
                || die "MODEL_PATH '$MODEL_PATH' is neither a local directory nor in the Hugging Face cache ($cache), and HF_HUB_OFFLINE=1"
            warn "MODEL_PATH '$MODEL_PATH' is not a local directory: every node downloads it from the Hugging Face Hub"
        fi
    else
        [[ -f "$MODEL_PATH/config.json" ]] || die "MODEL_PATH '$MODEL_PATH' is not a model directory (no config.json there)"
    fi
    if ((NNODES > 1)); then
        command -v ray > /dev/null || die "NNODES=$NNODES needs the 'ray' command to submit to the cluster at $RAY_ADDRESS"
    fi
}

# ---------------------------------------------------------------- the Hydra overrides this script sets
val_files="["
for name in "${VAL_SETS[@]}"; do
    val_files+="$(hydra_quote "$DATA_DIR/$name.parquet"),"
done
val_files="${val_files%,}]"

OVERRIDES=(
    "reward.reward_manager.name=$REWARD"
    "data.train_files=$(hydra_quote "$DATA_DIR/$TRAIN_SET.parquet")"
    "data.val_files=$val_files"
    "actor_rollout_ref.model.path=$(hydra_quote "$MODEL_PATH")"
    "trainer.nnodes=$NNODES"
    "trainer.n_gpus_per_node=$GPUS_PER_NODE"
    "trainer.experiment_name=$(hydra_quote "$EXPERIMENT")"
    "trainer.default_local_dir=$(hydra_quote "$CKPT_DIR/$EXPERIMENT")"
)

run() {
    if [[ "${DRY_RUN:-0}" == "1" ]]; then
        local word
        for word in "$@"; do
            printf '%s\n' "$(shell_quote "$word")"
        done
        exit 0
    fi
    exec "$@"
}

if ((HYDRA_INFO)); then
    run "$PYTHON" -m verl.trainer.main_ppo --config-dir="$CONFIG_DIR" --config-name="$CONFIG_NAME" "${OVERRIDES[@]}" ${USER_OVERRIDES[@]+"${USER_OVERRIDES[@]}"} ${HYDRA_FLAGS[@]+"${HYDRA_FLAGS[@]}"}
fi

check_inputs
mkdir -p "$CKPT_DIR" "$LOG_DIR"
export VERL_FILE_LOGGER_ROOT="${VERL_FILE_LOGGER_ROOT:-$LOG_DIR}"

if ((NNODES == 1)); then
    echo "run_grpo.sh: $EXPERIMENT on this node ($GPUS_PER_NODE GPUs), checkpoints in $CKPT_DIR/$EXPERIMENT" >&2
    run "$PYTHON" -m verl.trainer.main_ppo --config-dir="$CONFIG_DIR" --config-name="$CONFIG_NAME" "${OVERRIDES[@]}" ${USER_OVERRIDES[@]+"${USER_OVERRIDES[@]}"} ${HYDRA_FLAGS[@]+"${HYDRA_FLAGS[@]}"}
fi

# ---------------------------------------------------------------- NNODES > 1: a job on a running Ray cluster
# `ray job submit` re-joins the entrypoint words with Windows-style quoting, so every word is passed
# POSIX-quoted and must not hold whitespace or a double quote.
entrypoint=(python3 -m verl.trainer.main_ppo "--config-dir=$CONFIG_DIR_IN_REPO" "--config-name=$CONFIG_NAME" "${OVERRIDES[@]}" ${USER_OVERRIDES[@]+"${USER_OVERRIDES[@]}"} ${HYDRA_FLAGS[@]+"${HYDRA_FLAGS[@]}"})
quoted=()
for word in "${entrypoint[@]}"; do
    [[ "$word" != *[[:space:]\"]* ]] || die "with NNODES > 1 no argument may contain whitespace or '\"': $word"
    quoted+=("$(shell_quote "$word")")
done

# The job runs in a copy of this checkout on every node (so recipe/ and verl_ext/ are the submitter's),
# and `import verl` loads the verl-ext plugin there by module name as well as by entry point.
runtime_env="$("$PYTHON" - "$REPO_ROOT" "$PLUGIN_MODULE" "$VERL_FILE_LOGGER_ROOT" <<'PY'
import json
import sys

repo_root, plugin_module, log_root = sys.argv[1:4]
print(json.dumps({
    "working_dir": repo_root,
    "excludes": [".git", "data", "checkpoints", "outputs", "wandb", "*.parquet", "*.egg-info"],
    "env_vars": {"VERL_USE_EXTERNAL_MODULES": plugin_module, "VERL_FILE_LOGGER_ROOT": log_root},
}))
PY
)"

echo "run_grpo.sh: submitting $EXPERIMENT to the Ray cluster at $RAY_ADDRESS ($NNODES nodes x $GPUS_PER_NODE GPUs)" >&2
run ray job submit --address="$RAY_ADDRESS" --runtime-env-json="$runtime_env" -- "${quoted[@]}"
