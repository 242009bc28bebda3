"""A one-node Slurm cluster on 127.0.0.1 for tests: munged, slurmctld and slurmd in a temp
folder, no accounting database (so ``sacct`` fails, as on many small clusters).

Debian's ``slurm-wlm`` and ``munge`` are installed with apt-get when missing and this process
may (root with apt); otherwise :func:`skip_reason` says why in one line.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
NODE = "kpnode"


def skip_reason() -> str | None:
    """None when the daemons are here (installing them if possible), else why not."""
    if all(shutil.which(d) or Path(f"/usr/sbin/{d}").is_file() for d in DAEMONS):
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "slurm-wlm and munge are not installed and cannot be (needs root and apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    proc = subprocess.run(
        ["apt-get", "install", "-y", "-q", "slurm-wlm", "munge"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return f"apt-get install slurm-wlm munge failed: {last}"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _conf(root: Path) -> str:
    return f"""ClusterName=kptest
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={root}/munge.sock
CredType=cred/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName={NODE} NodeAddr=127.0.0.1 NodeHostname={socket.gethostname()} CPUs={os.cpu_count()} RealMemory=2048 State=UNKNOWN
PartitionName=debug Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
"""


class Cluster:
    """Start with :meth:`start`, stop every daemon by its PID with :meth:`stop`."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.conf = self.root / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.procs: list[subprocess.Popen] = []

    def _spawn(self, *argv: str) -> None:
        log = (self.root / f"{Path(argv[0]).name}.out").open("w")
        self.procs.append(
            subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        )

    def start(self, timeout_s: float = 60) -> Cluster:
        for sub in ("state", "spool"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        key = self.root / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self.conf.write_text(_conf(self.root))
        self._spawn(
            "munged", "-F", "-f", f"--socket={self.root}/munge.sock", f"--key-file={key}",
            f"--pid-file={self.root}/munged.pid", f"--log-file={self.root}/munged.log",
            f"--seed-file={self.root}/munged.seed",
        )  # fmt: skip
        self._wait(lambda: (self.root / "munge.sock").exists(), timeout_s, "munged")
        self._spawn("slurmctld", "-D", "-i", "-f", str(self.conf))
        self._spawn("slurmd", "-D", "-N", NODE, "-f", str(self.conf))
        self._wait(self._idle, timeout_s, "slurmd to register as idle")
        return self

    def _idle(self) -> bool:
        out = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True, env=self.env
        )
        return out.returncode == 0 and out.stdout.strip().startswith("idle")

    def _wait(self, ready, timeout_s: float, what: str) -> None:
        end = time.monotonic() + timeout_s
        while not ready():
            dead = [p.args[0] for p in self.procs if p.poll() is not None]
            if dead or time.monotonic() > end:
                self.stop()
                logs = {p.name: p.read_text()[-1500:] for p in self.root.glob("*.log")}
                raise RuntimeError(f"waiting for {what}: exited {dead}; logs {logs}")
            time.sleep(0.3)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs.clear()
