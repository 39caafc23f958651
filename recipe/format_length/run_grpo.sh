#!/usr/bin/env bash
# One GRPO run of the paper on stock veRL 0.9 (python -m verl.trainer.main_ppo + this recipe's Hydra config).
#
#   REWARD=format_length TRAIN_SET=deepscaler_17k bash recipe/format_length/run_grpo.sh [hydra overrides...]
#   bash recipe/format_length/run_grpo.sh --cfg job        # print the composed config and exit
#
# Environment (defaults in brackets):
#   REWARD         correctness | format | format_length | length | random        [format_length]
#                  | majority | semantic_frequency | format_gated_majority | format_gated_semantic_frequency
#                  | self_confidence | self_certainty | token_entropy | probability | format_gated_self_confidence
#                  | format_gated_self_certainty | format_gated_token_entropy | format_gated_probability
#                  (group- and token-level: scored by the reward stage of trainer mode verl_ext_sync, after the
#                  old-log-prob pass)
#   TRAIN_SET      deepscaler_17k | math_train: the file $DATA_DIR/$TRAIN_SET.parquet [deepscaler_17k]
#   MODEL_PATH     local model directory or Hugging Face hub id                  [the scale file's]
#                  (scale=cpu: a tiny Qwen2 built locally, and VERL_PLATFORM=cpu)
#   DATA_DIR       prepared parquet files (data_prep/prepare.py)                 [<repo>/data]
#                  (scale=cpu: the release's parquet files carried in <repo>/release_data/datasets)
#   CKPT_DIR       checkpoints go to $CKPT_DIR/$EXPERIMENT                        [<repo>/checkpoints]
#   LOG_DIR        veRL file logger: $LOG_DIR/format_length/$EXPERIMENT.jsonl     [$CKPT_DIR/logs]
#                  (a rerun that resumes keeps the earlier log as $EXPERIMENT.jsonl.part<N>); scale=cpu also
#                  appends main_ppo's whole output to $LOG_DIR/format_length/$EXPERIMENT.log
#   VERBOSE=1      scale=cpu: main_ppo's output on the terminal instead of the progress view (a line per
#                  step: reward, format rate, length, seconds)                                       [0]
#   NNODES         nodes; above 1 the run is submitted to a running Ray cluster  [the scale file's]
#   GPUS_PER_NODE  GPUs per node                                                 [the scale file's]
#   EXPERIMENT     run name (wandb, logs, checkpoints)     [grpo-$TRAIN_SET-<model dir name>-$REWARD]
#   RAY_ADDRESS    Ray dashboard address for NNODES > 1                          [http://127.0.0.1:8265]
#   PYTHON         interpreter that runs main_ppo, the pre-flight and `ray job`  [python3]
#   FORWARD_ENV    more variable names (space-separated) to forward to every Ray worker, beside those
#                  always forwarded when set: HF_* WANDB_* NCCL_* HUGGING_FACE_HUB_TOKEN. Secrets (a name
#                  with KEY, TOKEN, SECRET, PASSWORD or CREDENTIAL) are passed by name, never on a command
#                  line, in a Hydra override or in anything printed (verl_ext/verl/forward_env.py)
#   DRY_RUN=1      check everything, print the command instead of running it; writes nothing
#   CHECK_VERL=0   skip the pre-flight's veRL import (about 5 s: veRL 0.9.x imports in $PYTHON and loads
#                  verl-ext's plugin); a broken plugin then shows only when veRL starts   [1]
#   CHECK_DOCTOR=0 skip the pre-flight's `verl-ext doctor` warnings, which follow the veRL import on a GPU
#                  scale (run_smoke.sh sets it: it has run the doctor just before)       [1]
#
# A run whose checkpoint folder already holds its last step (trainer.total_training_steps) trains nothing:
# it says so in one line (the step, how to train on, how to start afresh) and exits 0 (run_state.py).
#
# Trailing arguments are Hydra overrides (e.g. eval=avg16 scale=smoke trainer.logger=[console,wandb]).
# scale=<name> (config/scale/<name>.yaml, default paper) also gives MODEL_PATH, NNODES and GPUS_PER_NODE
# their defaults. Hydra's own flags (--cfg job, --resolve, --info, --help) print and exit after checking
# REWARD, TRAIN_SET and the scale only (no data, model, GPU or Ray needed).
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
# PROJECT, absolute and run_paths: the run's folders and log, as run_smoke.sh reads them.
source "$RECIPE_DIR/paths.sh"

REWARD="${REWARD:-format_length}"
TRAIN_SET="${TRAIN_SET:-deepscaler_17k}"
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

# The run size: the last scale=<name> override (config/scale/<name>.yaml) or the config's default.
SCALE="paper"
for arg in ${USER_OVERRIDES[@]+"${USER_OVERRIDES[@]}"}; do
    case "$arg" in
        scale=*) SCALE="${arg#scale=}" ;;
    esac
done

# scale=cpu leaves nothing outside its folders: every temporary file of the launch (torch's, Ray's session folders,
# veRL's checkpoint locks) goes to a private folder under $TMPDIR, short for Ray's socket paths, removed at exit.
if [[ "$SCALE" == "cpu" ]]; then
    RUN_TMP="$(mktemp -d "${TMPDIR:-/tmp}/vx.XXXXXX")" || die "cannot make a temporary folder under ${TMPDIR:-/tmp}"
    trap 'rm -rf -- "$RUN_TMP"' EXIT
    export TMPDIR="$RUN_TMP" RAY_TMPDIR="$RUN_TMP"
fi

# ---------------------------------------------------------------- pre-flight, with the interpreter that runs main_ppo
# First REWARD, TRAIN_SET and the scale (also for --cfg job; prints the scale's defaults for the environment);
# before a run, after the other checks, veRL's import with the plugin: VERL_USE_EXTERNAL_MODULES makes a broken
# plugin raise there (and in every process of the run) instead of being skipped at debug log level.
export VERL_USE_EXTERNAL_MODULES="$PLUGIN_MODULE"
command -v "$PYTHON" > /dev/null || die "PYTHON='$PYTHON' is not an interpreter on this node"
preflight() {
    # On failure the pre-flight has said why on stderr.
    "$PYTHON" "$RECIPE_DIR/preflight.py" --config-dir="$CONFIG_DIR" --scale="$SCALE" --reward="$REWARD" \
        --train-set="$TRAIN_SET" "$@" || exit 2
}
preflight_out="$(preflight)" || exit 2
{ read -r SCALE_MODEL_PATH; read -r SCALE_NNODES; read -r SCALE_GPUS_PER_NODE; read -r CPU_NOTE; } <<< "$preflight_out"
# scale=cpu: veRL on verl-ext's CPU backend (selected by VERL_PLATFORM=cpu) and, unless MODEL_PATH is given,
# the tiny Qwen2 built locally (python -m verl_ext.verl.cpu.tiny_model; cached, nothing downloaded).
if [[ "$SCALE" == "cpu" ]]; then
    export VERL_PLATFORM=cpu
    if [[ -z "${MODEL_PATH:-}" ]]; then
        MODEL_PATH="$("$PYTHON" -m verl_ext.verl.cpu.tiny_model)" || die "cannot build the tiny CPU model with $PYTHON"
    fi
fi
MODEL_PATH="${MODEL_PATH:-$SCALE_MODEL_PATH}"
# scale=cpu reads a few rows of the release's own parquet files, which this repository carries.
if [[ "$SCALE" == "cpu" ]]; then
    DATA_DIR="${DATA_DIR:-$REPO_ROOT/release_data/datasets}"
fi
DATA_DIR="${DATA_DIR:-$REPO_ROOT/data}"
NNODES="${NNODES:-$SCALE_NNODES}"
GPUS_PER_NODE="${GPUS_PER_NODE:-$SCALE_GPUS_PER_NODE}"

DATA_DIR="$(absolute "$DATA_DIR")"
if ! is_hub_id "$MODEL_PATH"; then
    MODEL_PATH="$(absolute "$MODEL_PATH")"
fi
MODEL_NAME="$(basename "$MODEL_PATH" | tr '[:upper:]' '[:lower:]')"
EXPERIMENT="${EXPERIMENT:-grpo-${TRAIN_SET}-${MODEL_NAME}-${REWARD}}"
# CKPT_DIR, LOG_DIR and LOG_FILE, where veRL's file logger writes (VERL_FILE_LOGGER_PATH) with mode "wb".
run_paths "$REPO_ROOT" "$EXPERIMENT"
# scale=cpu's progress view appends main_ppo's whole output here, beside the metrics log.
RUN_LOG="${LOG_FILE%.jsonl}.log"

# ---------------------------------------------------------------- checks, before anything starts
check_inputs() {
    [[ "$NNODES" =~ ^[1-9][0-9]*$ ]] || die "NNODES must be a positive integer, got '$NNODES'"
    [[ "$GPUS_PER_NODE" =~ ^[1-9][0-9]*$ ]] || die "GPUS_PER_NODE must be a positive integer, got '$GPUS_PER_NODE'"

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
}

# The file logger truncates its file: a rerun (resume) first moves the earlier log to the next free
# $LOG_FILE.part<N>; verl_ext.io.logs reads the parts and the log together, later steps winning.
keep_earlier_log() {
    [[ -s "$LOG_FILE" ]] || return 0
    local part=1
    while [[ -e "$LOG_FILE.part$part" ]]; do
        part=$((part + 1))
    done
    mv -- "$LOG_FILE" "$LOG_FILE.part$part"
    echo "run_grpo.sh: kept the earlier log as $LOG_FILE.part$part" >&2
}

# After the run (whatever its exit status $1): where its metrics are and the commands that read them.
say_metrics_log() {
    local log plot
    log="$(printf '%q' "$LOG_FILE")"
    plot="$(printf '%q' "${LOG_FILE%.jsonl}.png")"
    (($1 == 0)) || echo "run_grpo.sh: main_ppo exited with status $1" >&2
    echo "run_grpo.sh: metrics log: $LOG_FILE" >&2
    echo "run_grpo.sh: read it with: verl-ext table $log" >&2
    echo "run_grpo.sh:               verl-ext plot $log -o $plot" >&2
}

# ---------------------------------------------------------------- the Hydra overrides this script sets
val_files="["
for name in "${VAL_SETS[@]}"; do
    val_files+="$(hydra_quote "$DATA_DIR/$name.parquet"),"
done
val_files="${val_files%,}]"

# What the TaskRunner and every worker need in their environment. Shell exports reach only the processes
# this script starts; main_ppo's ray.init() may attach to a Ray cluster that is already up, whose actors
# see only the job's runtime env: so they go there (ray.init's runtime_env here, the job's for NNODES > 1).
RUNTIME_ENV_VARS=(
    "VERL_FILE_LOGGER_PATH=$LOG_FILE"
    "VERL_USE_EXTERNAL_MODULES=$PLUGIN_MODULE"
)
# The user's: HF_* WANDB_* NCCL_* HUGGING_FACE_HUB_TOKEN and FORWARD_ENV's names, when set
# (verl_ext/verl/forward_env.py). A secret's value is never on a command line, in a Hydra override (veRL prints
# its config) or printed: only its name is passed, and Python reads the value from the environment. On one node
# the plain ones are ray.init overrides and Ray's RAY_RUNTIME_ENV_HOOK handles the secrets inside ray.init
# (a fresh Ray instance inherits them; a running cluster gets them in its runtime env); a job carries them all
# in its runtime env file (their values may hold spaces, which its entrypoint may not).
forwarded_out="$("$PYTHON" -m verl_ext.verl.forward_env names)" || exit 2
FORWARDED=()
PLAIN_PAIRS=()
while read -r kind name; do
    [[ -n "$name" ]] || continue
    FORWARDED+=("$name")
    if [[ "$kind" == "plain" ]]; then
        PLAIN_PAIRS+=("$name=${!name}")
    fi
done <<< "$forwarded_out"
# ray.init's address and temp dir when the overrides set them: the hook needs them to tell whether ray.init
# attaches to a running cluster (Ray's own rule), and they are not among the arguments Ray gives it.
for arg in ${USER_OVERRIDES[@]+"${USER_OVERRIDES[@]}"}; do
    key="${arg%%=*}"
    value="${arg#*=}"
    value="${value#\'}"
    value="${value%\'}"
    case "${key#"${key%%[!+]*}"}" in
        ray_kwargs.ray_init.address) export VERL_EXT_RAY_INIT_ADDRESS="$value" ;;
        ray_kwargs.ray_init._temp_dir) export VERL_EXT_RAY_INIT_TEMP_DIR="$value" ;;
    esac
done

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
ray_init_pairs=("${RUNTIME_ENV_VARS[@]}")
if ((HYDRA_INFO)) || [[ "$NNODES" == 1 ]]; then
    ray_init_pairs+=(${PLAIN_PAIRS[@]+"${PLAIN_PAIRS[@]}"})
fi
for pair in "${ray_init_pairs[@]}"; do
    OVERRIDES+=("+ray_kwargs.ray_init.runtime_env.env_vars.${pair%%=*}=$(hydra_quote "${pair#*=}")")
done

run() {
    if [[ "${DRY_RUN:-0}" == "1" ]]; then
        local word
        for word in "$@"; do
            printf '%s\n' "$(shell_quote "$word")"
        done
        if ((${#FORWARDED[@]})); then
            echo "run_grpo.sh: forwarded to the Ray workers: ${FORWARDED[*]}" >&2
        fi
        exit 0
    fi
    if ((!HYDRA_INFO)); then
        mkdir -p "$CKPT_DIR" "$(dirname "$LOG_FILE")"
        keep_earlier_log
        local status=0
        "$@" || status=$?
        say_metrics_log "$status"
        exit "$status"
    fi
    # Hydra's flags print and exit (not exec: scale=cpu's EXIT trap removes its temporary folder).
    local status=0
    "$@" || status=$?
    exit "$status"
}

if ((HYDRA_INFO)); then
    # Printing the config needs no accelerator: without VERL_PLATFORM, importing veRL probes for one and warns
    # "No supported accelerator detected ... Falling back to 'nvidia'" on a machine without a GPU; 'nvidia' is
    # where that probe ends anyway.
    export VERL_PLATFORM="${VERL_PLATFORM:-nvidia}"
    run "$PYTHON" -m verl.trainer.main_ppo --config-dir="$CONFIG_DIR" --config-name="$CONFIG_NAME" "${OVERRIDES[@]}" ${USER_OVERRIDES[@]+"${USER_OVERRIDES[@]}"} ${HYDRA_FLAGS[@]+"${HYDRA_FLAGS[@]}"}
fi

# A finished run asked to run again: one line, exit 0 (veRL would validate again and train nothing). Also prints
# trainer.total_training_steps, for the progress view.
TOTAL_STEPS="$("$PYTHON" "$RECIPE_DIR/run_state.py" --config-dir="$CONFIG_DIR" --scale="$SCALE" \
    --checkpoints="$CKPT_DIR/$EXPERIMENT" --experiment="$EXPERIMENT" --log="$LOG_FILE" \
    ${USER_OVERRIDES[@]+"${USER_OVERRIDES[@]}"})" || { (($? == 3)) && exit 0; exit 2; }

check_inputs
# Last, as it takes seconds: veRL imports in $PYTHON and registers the plugin (CHECK_VERL=0 skips it), then,
# on a GPU scale, the doctor's warnings (CHECK_DOCTOR=0 skips those).
case "${CHECK_DOCTOR:-1}" in
    1) doctor=() ;;
    0) doctor=(--no-doctor) ;;
    *) die "CHECK_DOCTOR must be 0 or 1, not '$CHECK_DOCTOR'" ;;
esac
# The doctor sees the run as launched: its overrides, and the values resolved above in its environment.
case "${CHECK_VERL:-1}" in
    1) MODEL_PATH="$MODEL_PATH" CKPT_DIR="$CKPT_DIR" NNODES="$NNODES" GPUS_PER_NODE="$GPUS_PER_NODE" \
        preflight --import-verl ${doctor[@]+"${doctor[@]}"} -- ${USER_OVERRIDES[@]+"${USER_OVERRIDES[@]}"} > /dev/null ;;
    0) ;;
    *) die "CHECK_VERL must be 0 or 1, not '$CHECK_VERL'" ;;
esac
export VERL_FILE_LOGGER_PATH="$LOG_FILE"

if ((NNODES == 1)); then
    # ray.init in main_ppo calls this hook on its runtime env (after veRL printed it): the forwarded values.
    if ((${#FORWARDED[@]})); then
        if [[ -n "${RAY_RUNTIME_ENV_HOOK:-}" && "$RAY_RUNTIME_ENV_HOOK" != "verl_ext.verl.forward_env.hook" ]]; then
            export VERL_EXT_CHAINED_RUNTIME_ENV_HOOK="$RAY_RUNTIME_ENV_HOOK"
        fi
        export RAY_RUNTIME_ENV_HOOK="verl_ext.verl.forward_env.hook" VERL_EXT_FORWARD_ENV="${FORWARDED[*]}"
    fi
    # On the CPU, main_ppo runs under verl_ext.verl.cpu.supervise: the progress view (VERBOSE=1: none), Ray's
    # token, the processes left under $RUN_TMP ended (Ray's logs kept after a failure). DRY_RUN prints main_ppo's
    # command alone.
    supervise=()
    if [[ "${VERL_PLATFORM:-}" == "cpu" ]]; then
        echo "run_grpo.sh: $EXPERIMENT on this node's CPU (VERL_PLATFORM=cpu, no GPU; $GPUS_PER_NODE training process(es)), checkpoints in $CKPT_DIR/$EXPERIMENT" >&2
        echo "run_grpo.sh: note: $CPU_NOTE" >&2
        case "${VERBOSE:-0}" in
            0) verbose=() ;;
            1) verbose=(--verbose) ;;
            *) die "VERBOSE must be 0 or 1, not '$VERBOSE'" ;;
        esac
        supervise=("$PYTHON" -m verl_ext.verl.cpu.supervise --metrics="$LOG_FILE" --output="$RUN_LOG"
            --total-steps="$TOTAL_STEPS" --reward="$REWARD" ${RUN_TMP:+"--temp-dir=$RUN_TMP"} ${verbose[@]+"${verbose[@]}"} --)
        [[ "${DRY_RUN:-0}" != "1" ]] || supervise=()
    else
        echo "run_grpo.sh: $EXPERIMENT on this node ($GPUS_PER_NODE GPU(s)), checkpoints in $CKPT_DIR/$EXPERIMENT" >&2
    fi
    echo "run_grpo.sh: metrics log: $LOG_FILE" >&2
    run ${supervise[@]+"${supervise[@]}"} "$PYTHON" -m verl.trainer.main_ppo --config-dir="$CONFIG_DIR" --config-name="$CONFIG_NAME" "${OVERRIDES[@]}" ${USER_OVERRIDES[@]+"${USER_OVERRIDES[@]}"} ${HYDRA_FLAGS[@]+"${HYDRA_FLAGS[@]}"}
fi

# ---------------------------------------------------------------- NNODES > 1: a job on a running Ray cluster
# `ray job submit` re-joins the entrypoint words with Windows-style quoting, so every word is passed
# POSIX-quoted and must not hold whitespace or a double quote.
entrypoint=("$PYTHON" -m verl.trainer.main_ppo "--config-dir=$CONFIG_DIR_IN_REPO" "--config-name=$CONFIG_NAME" "${OVERRIDES[@]}" ${USER_OVERRIDES[@]+"${USER_OVERRIDES[@]}"} ${HYDRA_FLAGS[@]+"${HYDRA_FLAGS[@]}"})
quoted=()
for word in "${entrypoint[@]}"; do
    [[ "$word" != *[[:space:]\"]* ]] || die "with NNODES > 1 no argument may contain whitespace or '\"': $word"
    quoted+=("$(shell_quote "$word")")
done

# The job runs in a copy of this checkout on every node (so recipe/ and verl_ext/ are the submitter's),
# and `import verl` loads the verl-ext plugin there by module name as well as by entry point.
# Every forwarded variable, secrets included, goes in the job's runtime env (the job's driver and all its
# actors get it); forward_env is given the names and reads the values from the environment, and the file
# is mode 600, not the command line. DRY_RUN prints it with secrets masked. (Ray logs a runtime env's values:
# see forward_env.RAY_EXPOSURE.) RUNTIME_ENV_VARS' names are exported above.
job_env_names=("${RUNTIME_ENV_VARS[@]%%=*}" ${FORWARDED[@]+"${FORWARDED[@]}"})
echo "run_grpo.sh: submitting $EXPERIMENT to the Ray cluster at $RAY_ADDRESS ($NNODES nodes x $GPUS_PER_NODE GPUs)" >&2
# Ray's CLI from $PYTHON's environment, whichever `ray` is first on PATH.
if [[ "${DRY_RUN:-0}" == "1" ]]; then
    runtime_env="$("$PYTHON" -m verl_ext.verl.forward_env job-env "$REPO_ROOT" --mask "${job_env_names[@]}")" || exit 2
    run "$PYTHON" -m ray.scripts.scripts job submit --address="$RAY_ADDRESS" --runtime-env-json="$runtime_env" -- "${quoted[@]}"
fi
runtime_env_file="$(umask 077 && mktemp "${TMPDIR:-/tmp}/run_grpo.runtime_env.XXXXXX")"
trap 'rm -f -- "$runtime_env_file"' EXIT
"$PYTHON" -m verl_ext.verl.forward_env job-env "$REPO_ROOT" "${job_env_names[@]}" > "$runtime_env_file" || exit 2
run "$PYTHON" -m ray.scripts.scripts job submit --address="$RAY_ADDRESS" --runtime-env="$runtime_env_file" -- "${quoted[@]}"
