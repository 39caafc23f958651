#!/usr/bin/env python
"""Generate k responses per prompt of a veRL eval parquet with vLLM (used by eval_checkpoint.sh).

    python examples/generate_vllm.py --model CKPT --data data/aime2024.parquet --out gen/aime2024.parquet \
        [--n 16] [--temperature 0.6] [--top-p 0.95] [--max-tokens 3072] [--tp 1] [--seed 0]

Writes the input rows plus ``responses`` (k texts), ``response_token_lens`` (the number of token ids
vLLM generated) and ``finish_reasons``: the layout ``verl-ext score`` reads as
generation lists. The prompt column holds chat messages, rendered with the model's chat template.
Needs vLLM and a GPU; argument checks run without them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="checkpoint folder (Hugging Face format) or model id")
    parser.add_argument("--data", required=True, help="eval parquet (veRL schema: prompt as chat messages)")
    parser.add_argument("--out", required=True, help="output parquet")
    parser.add_argument("--n", type=int, default=1, help="samples per prompt (default 1)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--max-tokens", type=int, default=3072, help="max response tokens (default 3072)")
    parser.add_argument("--tp", type=int, default=1, help="tensor parallel size (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prompt-key", default="prompt")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.85)
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n must be >= 1, got {args.n}")
    if args.temperature < 0:
        parser.error(f"--temperature must be >= 0, got {args.temperature}")
    if args.temperature == 0 and args.n > 1:
        parser.error("--temperature 0 (greedy) gives the same response every time: use --n 1")
    if not 0 < args.top_p <= 1:
        parser.error(f"--top-p must lie in (0, 1], got {args.top_p}")
    if args.max_tokens < 1 or args.tp < 1:
        parser.error("--max-tokens and --tp must be >= 1")
    if not Path(args.data).is_file():
        parser.error(f"--data {args.data}: no such file")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import pandas as pd
    from vllm import LLM, SamplingParams

    frame = pd.read_parquet(args.data)
    if args.prompt_key not in frame.columns:
        raise SystemExit(f"{args.data}: no column {args.prompt_key!r} (columns: {', '.join(frame.columns)})")
    conversations = [[dict(message) for message in messages] for messages in frame[args.prompt_key]]
    llm = LLM(
        model=args.model,
        tensor_parallel_size=args.tp,
        seed=args.seed,
        gpu_memory_utilization=args.gpu_memory_utilization,
    )
    params = SamplingParams(
        n=args.n, temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens, seed=args.seed
    )
    outputs = llm.chat(conversations, params, use_tqdm=True)
    frame["responses"] = [[o.text for o in out.outputs] for out in outputs]
    frame["response_token_lens"] = [[len(o.token_ids) for o in out.outputs] for out in outputs]
    frame["finish_reasons"] = [[str(o.finish_reason) for o in out.outputs] for out in outputs]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(args.out)
    print(f"wrote {len(frame)} prompts x {args.n} samples to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
