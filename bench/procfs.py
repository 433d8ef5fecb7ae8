"""What /proc says about a process (CPU seconds, memory) and about the machine (steal, busy)."""

from __future__ import annotations

import os
from dataclasses import dataclass

TICKS = os.sysconf("SC_CLK_TCK")


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
class MachineTimes:
    """The `cpu` line of /proc/stat, in ticks."""

    busy: int
    steal: int
    total: int

    @classmethod
    def now(cls) -> MachineTimes:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        user, nice, system, idle, iowait, irq, softirq, steal = (values + [0] * 8)[:8]
        total = user + nice + system + idle + iowait + irq + softirq + steal
        return cls(busy=user + nice + system + irq + softirq, steal=steal, total=total)


class Meter:
    """CPU seconds of named processes and the machine's busy/steal shares over one window."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = pids
        self.start_cpu = self._cpu()
        self.start_machine = MachineTimes.now()

    def _cpu(self) -> dict[str, float]:
        return {name: sum(_cpu_or_zero(pid) for pid in pids) for name, pids in self.pids.items()}

    def stop(self) -> dict[str, float]:
        """{name: CPU seconds in the window, ..., "steal_pct", "machine_busy_pct"}."""
        end_cpu, end = self._cpu(), MachineTimes.now()
        start = self.start_machine
        total = max(end.total - start.total, 1)
        used = {name: round(end_cpu[name] - self.start_cpu[name], 3) for name in self.pids}
        used["steal_pct"] = round(100 * (end.steal - start.steal) / total, 2)
        used["machine_busy_pct"] = round(100 * (end.busy - start.busy) / total, 1)
        return used


def _cpu_or_zero(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
