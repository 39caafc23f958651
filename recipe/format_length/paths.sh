# The run's folders and metrics log as run_grpo.sh names them; sourced by run_grpo.sh and run_smoke.sh (which
# reads the log run_grpo.sh wrote), so both take the same defaults from the same environment.
#
#   absolute PATH                   PATH made absolute: a leading ~ is $HOME, a relative path is under $PWD
#   run_paths REPO_ROOT EXPERIMENT  sets CKPT_DIR [REPO_ROOT/checkpoints] and LOG_DIR [$CKPT_DIR/logs], both
#                                   absolute, and LOG_FILE, veRL's file log: $LOG_DIR/$PROJECT/$EXPERIMENT.jsonl

# trainer.project_name of the recipe's config: the file logger's folder under LOG_DIR.
PROJECT="format_length"

absolute() {
    case "$1" in
        /*) printf '%s' "$1" ;;
        "~"*) printf '%s' "${HOME}${1:1}" ;;
        *) printf '%s' "$PWD/$1" ;;
    esac
}

run_paths() {
    CKPT_DIR="$(absolute "${CKPT_DIR:-$1/checkpoints}")"
    LOG_DIR="$(absolute "${LOG_DIR:-$CKPT_DIR/logs}")"
    LOG_FILE="$LOG_DIR/$PROJECT/$2.jsonl"
}
