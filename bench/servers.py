"""gunicorn for the benchmark: any app module, logs to a file, stopped by its PID."""
import os
import subprocess
import sys

from tests.servers import ROOT, free_port, stop, wait_for_port


class Gunicorn:
    """`gunicorn -w N APP` on a free loopback port, for a `with` block."""

    def __init__(self, app: str, env: dict, workers: int, log_path: str):
        self.app, self.env, self.workers, self.log_path = app, env, workers, log_path
        self.port = free_port()
        self.process = None

    def __enter__(self) -> "Gunicorn":
        # gunicorn.conf.py applies (production's settings) except worker recycling: a worker stays the same
        # process through a run, so its CPU can be read from /proc and no restart lands in one app's numbers.
        command = [sys.executable, "-m", "gunicorn", "-c", os.path.join(ROOT, "gunicorn.conf.py"),
                   "-w", str(self.workers), "-b", f"127.0.0.1:{self.port}", "--max-requests", "0",
                   "--timeout", "120", "--error-logfile", "-", self.app]
        self.log = open(self.log_path, "a")
        self.process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **self.env}, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        try:
            wait_for_port(self.port, timeout=30)
        except TimeoutError:
            self.__exit__()
            raise RuntimeError(f"gunicorn {self.app} did not start; see {self.log_path}") from None
        return self

    def worker_pids(self) -> list[int]:
        """The PIDs of the worker processes."""
        path = f"/proc/{self.process.pid}/task/{self.process.pid}/children"
        with open(path) as children:
            return [int(pid) for pid in children.read().split()]

    def __exit__(self, *exc) -> None:
        stop(self.process)
        self.log.close()


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status if line.startswith(("VmRSS", "VmHWM")))
    return {name: int(value.split()[0]) for name, value in fields.items()}


__all__ = ["Gunicorn", "free_port", "memory_kib"]
