"""An all-reduce across this node's GPUs, one process per GPU (``verl-ext doctor --nccl``).

    python -m verl_ext.nccl_check --world N [--backend nccl|gloo] [--mib MIB]

Rank r fills a tensor of MIB MiB (float32) with r + 1 and all-reduces it (sum): every element must then equal
N (N + 1) / 2. One all-reduce warms up, the next is timed. Prints one JSON line: correct, expected, got, mib,
seconds, busbw_gbps (bus bandwidth as nccl-tests defines it for all-reduce: bytes / time * 2 (N - 1) / N).
``--backend gloo`` runs the same on CPU processes (no GPU needed: how the mechanism is tested).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rank(rank: int, world: int, port: int, backend: str, mib: int, results) -> None:
    import torch
    import torch.distributed as dist

    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        device = torch.device("cuda", rank) if backend == "nccl" else torch.device("cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        elements = mib * 2**20 // 4
        tensor = torch.full((elements,), float(rank + 1), dtype=torch.float32, device=device)
        dist.all_reduce(tensor.clone())  # warm-up: communicator set-up and first-call costs
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        dist.all_reduce(tensor)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        expected = world * (world + 1) / 2
        got = sorted({tensor.min().item(), tensor.max().item()})
        if rank == 0:
            results.put({"correct": got == [expected], "expected": expected, "got": got, "seconds": seconds})
    finally:
        dist.destroy_process_group()


def all_reduce(world: int, backend: str = "nccl", mib: int = 256) -> dict:
    """The result of the all-reduce above across ``world`` processes (module docstring)."""
    import torch.multiprocessing as mp

    results = mp.get_context("spawn").SimpleQueue()
    mp.spawn(_rank, args=(world, _free_port(), backend, mib, results), nprocs=world, join=True)
    result = results.get()
    size = mib * 2**20
    busbw = size / result["seconds"] * 2 * (world - 1) / world / 1e9 if result["seconds"] > 0 else 0.0
    return {**result, "mib": mib, "busbw_gbps": busbw}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=int, required=True)
    parser.add_argument("--backend", choices=("nccl", "gloo"), default="nccl")
    parser.add_argument("--mib", type=int, default=256)
    args = parser.parse_args(argv)
    if args.world < 1 or args.mib < 1:
        parser.error("--world and --mib must be at least 1")
    print(json.dumps(all_reduce(args.world, args.backend, args.mib)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
