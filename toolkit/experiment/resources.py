"""Check each stage's resource request against this machine before anything runs."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from toolkit.cpus import usable_cpus
from toolkit.errors import ResourceError
from toolkit.experiment.plan import STAGES, RunPlan


@dataclass(frozen=True)
class Machine:
    cpus: int
    memory_bytes: int
    gpus: list[str] = field(default_factory=list)


def detect(need_gpus: bool) -> Machine:
    """CPU count (affinity-aware) and memory always; GPUs via torch.cuda only when a stage asks for them.

    Importing torch costs ~1 s, which a no-op `pitlane run` on a CPU-only spec must not pay.
    """
    cpus = usable_cpus()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    gpus: list[str] = []
    if need_gpus:
        import torch

        if torch.cuda.is_available():
            gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return Machine(cpus=cpus, memory_bytes=memory, gpus=gpus)


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f}GB"


def check(plan: RunPlan, machine: Machine, allow_cpu: bool = False) -> list[str]:
    """Raise ResourceError naming the stage, what is missing and how to override; return warnings."""
    warnings: list[str] = []
    for stage in STAGES:
        want = plan.resources[stage]
        key = f"resources.{stage}"
        if want.cpu > machine.cpus:
            raise ResourceError(
                f"stage '{stage}' requests {want.cpu} CPUs but this machine has {machine.cpus}; "
                f"lower it with -S {key}.cpu={machine.cpus}"
            )
        if want.memory_bytes > machine.memory_bytes:
            raise ResourceError(
                f"stage '{stage}' requests {want.memory} memory but this machine has {_gb(machine.memory_bytes)}; "
                f"lower it with -S {key}.memory=..."
            )
        if want.gpus > len(machine.gpus):
            if allow_cpu:
                warnings.append(f"stage '{stage}' requests {want.gpus} GPU(s); running on CPU (--allow-cpu)")
                continue
            have = f"{len(machine.gpus)} ({', '.join(machine.gpus)})" if machine.gpus else "none"
            raise ResourceError(
                f"stage '{stage}' requests {want.gpus} GPU(s) but this machine has {have}; "
                f"pass --allow-cpu to run it on CPU, or set -S {key}.gpus=0"
            )
        if want.gpus and want.gpu_type and not any(want.gpu_type.lower() in g.lower() for g in machine.gpus):
            if allow_cpu:
                warnings.append(f"stage '{stage}' requests {want.gpu_type}; running on CPU (--allow-cpu)")
                continue
            raise ResourceError(
                f"stage '{stage}' requests gpu_type {want.gpu_type} but this machine has {', '.join(machine.gpus)}; "
                f"pass --allow-cpu, or set -S {key}.gpu_type=null"
            )
    return warnings


def needs_cpu_fallback(plan: RunPlan, machine: Machine) -> bool:
    want = plan.resources["train"]
    if want.gpus > len(machine.gpus):
        return True
    return bool(want.gpus and want.gpu_type and not any(want.gpu_type.lower() in g.lower() for g in machine.gpus))
