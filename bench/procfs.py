"""What /proc says about a process (CPU seconds, memory) and about the machine (steal, busy).

On a machine with two or more CPUs the fan-out workloads pin the server under
test to CPU 0 and the load (injector, Redis, load generators) to the others, so
that each side's busy share says which one ran out first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

TICKS = os.sysconf("SC_CLK_TCK")
SERVER_CPUS = {0}


def load_cpus() -> set[int]:
    cpus = set(range(os.cpu_count() or 1))
    return cpus - SERVER_CPUS or cpus


def pin(pids: list[int], cpus: set[int]) -> None:
    if (os.cpu_count() or 1) < 2:
        return
    for pid in pids:
        for task in os.listdir(f"/proc/{pid}/task"):  # every thread, not only the main one
            os.sched_setaffinity(int(task), cpus)


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (its own threads; children are measured separately)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) in KiB."""
    found: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0])
    return found


@dataclass(frozen=True)
class CpuTimes:
    """One `cpu…` line of /proc/stat, in ticks."""

    busy: int
    steal: int
    total: int

    @classmethod
    def parse(cls, line: str) -> CpuTimes:
        values = [int(v) for v in line.split()[1:]]
        user, nice, system, idle, iowait, irq, softirq, steal = (values + [0] * 8)[:8]
        total = user + nice + system + idle + iowait + irq + softirq + steal
        return cls(busy=user + nice + system + irq + softirq, steal=steal, total=total)


def machine_times() -> dict[str, CpuTimes]:
    """{"cpu": all CPUs, "cpu0": …, "cpu1": …}."""
    with open("/proc/stat") as f:
        return {line.split()[0]: CpuTimes.parse(line) for line in f if line.startswith("cpu")}


class Meter:
    """CPU seconds of named processes, and the machine's busy and steal shares, over one window."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = pids
        self.start_cpu = self._cpu()
        self.start_machine = machine_times()

    def _cpu(self) -> dict[str, float]:
        return {name: sum(_cpu_or_zero(pid) for pid in pids) for name, pids in self.pids.items()}

    def stop(self) -> dict[str, float]:
        """{name: CPU seconds, …, "steal_pct", "machine_busy_pct", "server_core_busy_pct", "load_cores_busy_pct"}."""
        end_cpu, end = self._cpu(), machine_times()
        used = {name: round(end_cpu[name] - self.start_cpu[name], 3) for name in self.pids}

        def share(names: list[str], field: str) -> float:
            delta = sum(getattr(end[n], field) - getattr(self.start_machine[n], field) for n in names)
            total = sum(end[n].total - self.start_machine[n].total for n in names)
            return round(100 * delta / max(total, 1), 1)

        used["steal_pct"] = share(["cpu"], "steal")
        used["machine_busy_pct"] = share(["cpu"], "busy")
        server = [f"cpu{c}" for c in SERVER_CPUS if f"cpu{c}" in end]
        load = [f"cpu{c}" for c in load_cpus() if f"cpu{c}" in end]
        used["server_core_busy_pct"] = share(server, "busy")
        used["load_cores_busy_pct"] = share(load, "busy")
        return used


def _cpu_or_zero(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
