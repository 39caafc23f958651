#!/usr/bin/env bash
# Evaluate a checkpoint on the eval sets: greedy and k-sample generations, then `verl-ext score` and `metrics`.
#
#   examples/eval_checkpoint.sh --model CKPT --out DIR [options]
#
# Generation (GPU) writes DIR/generations/{greedy,sample}/<bench>.parquet, one row per problem with a
# `responses` list; scoring and metrics (CPU) write DIR/scored_<mode>.jsonl and DIR/metrics_<mode>.{md,json}.
# Run with --skip-generation to (re)score generations already in DIR, and with --dry-run to print the commands.
# Environment: PYTHON (default python), VERL_EXT (default verl-ext; e.g. "python -m verl_ext.cli").
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python}"
read -r -a VERL_EXT <<< "${VERL_EXT:-verl-ext}"  # e.g. VERL_EXT="python -m verl_ext.cli"

usage() {
  cat <<'USAGE'
usage: eval_checkpoint.sh --model CKPT --out DIR [options]

  --model PATH            checkpoint (Hugging Face format) to evaluate; also counts tokens for --engine verl
  --out DIR               output folder
  --data-dir DIR          eval parquet files <bench>.parquet (default: data, as written by data_prep/prepare.py)
  --benchmarks "B ..."    eval sets (default: "aime2024 amc2023 math500")
  --modes "M ..."         greedy and/or sample (default: "greedy sample")
  --k K                   samples per problem in sample mode (default 16)
  --temperature T         sample-mode temperature (default 0.6); greedy mode always uses 0
  --top-p P               sample-mode top-p (default 0.95)
  --max-response-length N max response tokens (default 3072)
  --max-prompt-length N   max prompt tokens, veRL engine (default 1024)
  --tp N                  tensor parallel size (default 1)
  --gpus N                GPUs per node for the veRL engine (default 1)
  --engine vllm|verl      vLLM directly (examples/generate_vllm.py, default) or veRL's
                          verl.trainer.main_generation_server
  --reward NAME           reward for `verl-ext score` (default correctness)
  --workers N             scoring processes (default: every core)
  --seed N                sampling seed (default 0)
  --skip-generation       score the generations already in DIR/generations
  --dry-run               print the commands instead of running them
  -h, --help              this help
USAGE
}

die() { echo "eval_checkpoint.sh: error: $*" >&2; exit 2; }
is_int() { [[ "$1" =~ ^[0-9]+$ ]] && (( 10#$1 >= 1 )); }
is_number() { [[ "$1" =~ ^([0-9]+([.][0-9]*)?|[.][0-9]+)$ ]]; }

MODEL="" OUT="" DATA_DIR="data" BENCHMARKS="aime2024 amc2023 math500" MODES="greedy sample"
K=16 TEMPERATURE=0.6 TOP_P=0.95 MAX_LEN=3072 MAX_PROMPT=1024 TP=1 GPUS=1 ENGINE=vllm REWARD=correctness
WORKERS="" SEED=0 SKIP_GEN=0 DRY_RUN=0

need_value() { [[ $# -ge 2 && -n "$2" && "$2" != --* ]] || die "$1 needs a value"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) need_value "$@"; MODEL="$2"; shift 2 ;;
    --out) need_value "$@"; OUT="$2"; shift 2 ;;
    --data-dir) need_value "$@"; DATA_DIR="$2"; shift 2 ;;
    --benchmarks) need_value "$@"; BENCHMARKS="$2"; shift 2 ;;
    --modes) need_value "$@"; MODES="$2"; shift 2 ;;
    --k) need_value "$@"; K="$2"; shift 2 ;;
    --temperature) need_value "$@"; TEMPERATURE="$2"; shift 2 ;;
    --top-p) need_value "$@"; TOP_P="$2"; shift 2 ;;
    --max-response-length) need_value "$@"; MAX_LEN="$2"; shift 2 ;;
    --max-prompt-length) need_value "$@"; MAX_PROMPT="$2"; shift 2 ;;
    --tp) need_value "$@"; TP="$2"; shift 2 ;;
    --gpus) need_value "$@"; GPUS="$2"; shift 2 ;;
    --engine) need_value "$@"; ENGINE="$2"; shift 2 ;;
    --reward) need_value "$@"; REWARD="$2"; shift 2 ;;
    --workers) need_value "$@"; WORKERS="$2"; shift 2 ;;
    --seed) need_value "$@"; SEED="$2"; shift 2 ;;
    --skip-generation) SKIP_GEN=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

[[ -n "$OUT" ]] || die "--out is required"
[[ -n "$MODEL" || $SKIP_GEN -eq 1 ]] || die "--model is required (unless --skip-generation)"
for pair in "k:$K" "max-response-length:$MAX_LEN" "max-prompt-length:$MAX_PROMPT" "tp:$TP" "gpus:$GPUS"; do
  is_int "${pair#*:}" || die "--${pair%%:*} must be a whole number >= 1, got '${pair#*:}'"
done
[[ "$SEED" =~ ^[0-9]+$ ]] || die "--seed must be a whole number, got '$SEED'"
[[ -z "$WORKERS" ]] || is_int "$WORKERS" || die "--workers must be a whole number >= 1, got '$WORKERS'"
is_number "$TEMPERATURE" || die "--temperature must be a number >= 0, got '$TEMPERATURE'"
is_number "$TOP_P" && awk -v p="$TOP_P" 'BEGIN { exit !(p > 0 && p <= 1) }' || die "--top-p must lie in (0, 1], got '$TOP_P'"
case "$ENGINE" in vllm|verl) ;; *) die "--engine must be vllm or verl, got '$ENGINE'" ;; esac
[[ -n "${BENCHMARKS// /}" ]] || die "--benchmarks is empty"
[[ -n "${MODES// /}" ]] || die "--modes is empty"
for mode in $MODES; do
  case "$mode" in greedy|sample) ;; *) die "--modes takes greedy and/or sample, got '$mode'" ;; esac
done
if [[ " $MODES " == *" sample "* ]] && awk -v t="$TEMPERATURE" 'BEGIN { exit !(t == 0) }'; then
  die "sample mode needs --temperature > 0 (greedy mode is the temperature-0 run)"
fi
if [[ $SKIP_GEN -eq 0 && $DRY_RUN -eq 0 ]]; then
  for bench in $BENCHMARKS; do
    [[ -f "$DATA_DIR/$bench.parquet" ]] || die "no eval file $DATA_DIR/$bench.parquet (write it with data_prep/prepare.py, or pass --data-dir)"
  done
fi

run() {
  if [[ $DRY_RUN -eq 1 ]]; then
    printf '%q ' "$@"; echo
  else
    echo "+ $*" >&2
    "$@"
  fi
}

generate() {  # mode bench n temperature top_p out
  local mode="$1" bench="$2" n="$3" temperature="$4" top_p="$5" out="$6"
  if [[ "$ENGINE" == vllm ]]; then
    run "$PYTHON" "$HERE/generate_vllm.py" --model "$MODEL" --data "$DATA_DIR/$bench.parquet" --out "$out" \
      --n "$n" --temperature "$temperature" --top-p "$top_p" --max-tokens "$MAX_LEN" --tp "$TP" --seed "$SEED"
  else
    run "$PYTHON" -m verl.trainer.main_generation_server \
      "data.train_files=[$DATA_DIR/$bench.parquet]" data.prompt_key=prompt "+data.output_path=$out" \
      data.max_prompt_length="$MAX_PROMPT" data.max_response_length="$MAX_LEN" \
      actor_rollout_ref.model.path="$MODEL" actor_rollout_ref.rollout.name=vllm \
      actor_rollout_ref.rollout.n="$n" actor_rollout_ref.rollout.temperature="$temperature" \
      actor_rollout_ref.rollout.top_p="$top_p" actor_rollout_ref.rollout.tensor_model_parallel_size="$TP" \
      trainer.n_gpus_per_node="$GPUS" trainer.nnodes=1
  fi
}

for mode in $MODES; do
  if [[ "$mode" == greedy ]]; then n=1 temperature=0 top_p=1.0; else n="$K" temperature="$TEMPERATURE" top_p="$TOP_P"; fi
  gen_dir="$OUT/generations/$mode"
  files=()
  for bench in $BENCHMARKS; do
    files+=("$gen_dir/$bench.parquet")
    [[ $SKIP_GEN -eq 1 ]] || generate "$mode" "$bench" "$n" "$temperature" "$top_p" "$gen_dir/$bench.parquet"
  done
  if [[ $DRY_RUN -eq 0 ]]; then
    for file in "${files[@]}"; do [[ -f "$file" ]] || die "no generations $file"; done
  fi
  score=("${VERL_EXT[@]}" score "${files[@]}" -o "$OUT/scored_$mode.jsonl" --reward "$REWARD" --max-response-length "$MAX_LEN")
  [[ -z "$WORKERS" ]] || score+=(--workers "$WORKERS")
  # veRL's generation server stores no token counts: count them with the checkpoint's tokenizer.
  [[ "$ENGINE" == vllm || -z "$MODEL" ]] || score+=(--tokenizer "$MODEL")
  run "${score[@]}"
  run "${VERL_EXT[@]}" metrics "$OUT/scored_$mode.jsonl" -o "$OUT/metrics_$mode.md"
  run "${VERL_EXT[@]}" metrics "$OUT/scored_$mode.jsonl" --json -o "$OUT/metrics_$mode.json"
  [[ $DRY_RUN -eq 1 ]] || { echo "== $mode: $OUT/metrics_$mode.md =="; cat "$OUT/metrics_$mode.md"; }
done
