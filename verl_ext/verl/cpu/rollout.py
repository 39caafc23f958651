"""veRL rollout backend ``hf``: the replica that starts a CPU rollout server and the adapter that feeds it.

* :class:`CPUReplica` (``RolloutReplicaRegistry`` name ``hf``): one :class:`HFRolloutServer` Ray actor per
  replica, colocated with the training workers ("hybrid" mode, like vLLM's).
* :class:`CPUServerAdapter` (``_ROLLOUT_REGISTRY[("hf", "async")]``): lives in the training worker; veRL's
  colocated ("naive") weight sync hands it the actor's full weights after every update, and it loads them
  into the server, then stamps the server with the step number.

``VERL_EXT_CPU_WEIGHT_SYNC=0`` makes the adapter drop the weights (the step number still advances): a
negative control for tests, never for training.
"""

from __future__ import annotations

import os
from typing import Any

import ray
import torch
from verl.workers.rollout.base import BaseRollout
from verl.workers.rollout.replica import RolloutReplica

from verl_ext.verl.cpu.server import HFRolloutServer, server_name

ROLLOUT_NAME = "hf"
WEIGHT_SYNC_ENV = "VERL_EXT_CPU_WEIGHT_SYNC"


def weight_sync_enabled() -> bool:
    return os.environ.get(WEIGHT_SYNC_ENV, "1").strip() != "0"


class CPUReplica(RolloutReplica):
    """A rollout replica served by one CPU :class:`HFRolloutServer` actor."""

    async def launch_servers(self) -> None:
        if self.nnodes != 1:
            raise ValueError(f"the CPU rollout runs a replica on one node; got {self.nnodes} nodes per replica")
        server = (
            ray.remote(HFRolloutServer)
            .options(name=server_name(self.replica_rank), max_concurrency=self.max_concurrency, num_cpus=0)
            .remote(config=self.config, model_config=self.model_config, replica_rank=self.replica_rank)
        )
        await server.wait_for_requests_to_drain.remote()  # returns once the model is loaded
        self.servers = [server]
        self._server_handle = server
        self._server_address = f"cpu-hf-server-{self.replica_rank}"

    def rollout_worker_use_gpu(self) -> bool:
        return False


def _to_cpu_tensor(tensor: torch.Tensor) -> torch.Tensor:
    full = tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor
    return full.detach().to("cpu", copy=True)


class CPUServerAdapter(BaseRollout):
    """The training worker's handle on its replica's server (weights in, lifecycle calls through)."""

    def __init__(self, config: Any, model_config: Any, device_mesh: Any, replica_rank: int = -1, **_: Any) -> None:
        super().__init__(config, model_config, device_mesh)
        rank = int(os.environ.get("RANK", "0"))
        replica_size = (
            self.config.tensor_model_parallel_size
            * self.config.data_parallel_size
            * self.config.pipeline_model_parallel_size
        )
        self.replica_rank = rank // replica_size if replica_rank == -1 else replica_rank
        self.is_leader_rank = rank % replica_size == 0
        self._server = None

    def _server_handle(self):
        if self._server is None:
            self._server = ray.get_actor(server_name(self.replica_rank))
        return self._server

    async def resume(self, tags: list[str]) -> None:
        return None

    async def release(self) -> None:
        return None

    @torch.no_grad()
    async def update_weights(self, weights, global_steps: int | None = None, wire_format: str = "named_tensors", **_):
        """Load ``weights`` ((name, tensor) pairs, HF names) into the server; every rank drains the generator."""
        if wire_format != "named_tensors":
            raise ValueError(f"the CPU rollout takes full named tensors, not wire_format={wire_format!r}")
        if hasattr(weights, "__aiter__"):
            state = {name: _to_cpu_tensor(tensor) async for name, tensor in weights}
        else:
            state = {name: _to_cpu_tensor(tensor) for name, tensor in weights}
        if not self.is_leader_rank:
            return
        server = self._server_handle()
        if weight_sync_enabled():
            await server.load_weights.remote(state)
        if global_steps is not None:
            await server.set_global_steps.remote(global_steps)
