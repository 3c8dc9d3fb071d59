"""gunicorn for the benchmark: any app module, started and stopped by the tests' own helpers, logs to a file."""
import subprocess
import sys

from tests.servers import free_port, start_gunicorn, start_server, stop, wait_for_output

# gunicorn.conf.py applies (production's settings) except worker recycling: a worker stays the same process
# through a run, so its CPU can be read from /proc and no restart lands in one app's numbers. A long timeout:
# a worker starved of CPU by the load must not be killed mid-run.
BENCH_OPTIONS = ("--max-requests", "0", "--timeout", "120")


class Gunicorn:
    """`gunicorn -w N APP` on a free loopback port, for a `with` block; its output is appended to `log_path`.

    `works_the_leads`: whether the server routes the leads it stores and sends their mails (the benchmark waits
    for that work after each run); the baseline apps mark their leads as routed long ago."""

    def __init__(self, app: str, env: dict, workers: int, log_path: str, works_the_leads: bool = False):
        self.app, self.env, self.workers, self.log_path = app, env, workers, log_path
        self.works_the_leads = works_the_leads
        self.port = free_port()
        self.process = None

    def __enter__(self) -> "Gunicorn":
        self.process = start_gunicorn(self.port, self.env, self.workers, BENCH_OPTIONS, app=self.app)  # all ready
        return self

    def worker_pids(self) -> list[int]:
        """The PIDs of the worker processes."""
        return children_of(self.process.pid)

    def __exit__(self, *exc) -> None:
        output, self.process = stop(self.process), None
        with open(self.log_path, "a") as log:
            log.write(f"--- gunicorn {self.app} on port {self.port}\n{output}")


class GunicornWithSideProcesses(Gunicorn):
    """The web service with no router and no mail sender thread (ROUTE_INTERVAL=0, MAIL_INTERVAL=0), beside
    `flask leads route-work` and `flask mail work`: each a process of its own, as docs/scaling.md describes.
    Their CPU counts as the workers'."""

    SIDES = ((("leads", "route-work"), "routing waiting leads every"), (("mail", "work"), "sending mails every"))

    def __init__(self, app: str, env: dict, workers: int, log_path: str):
        super().__init__(app, {**env, "ROUTE_INTERVAL": "0", "MAIL_INTERVAL": "0"}, workers, log_path,
                         works_the_leads=True)
        self.side_env = {**env, "ROUTE_INTERVAL": "1", "MAIL_INTERVAL": "1"}
        self.sides: list[subprocess.Popen] = []

    def __enter__(self) -> "GunicornWithSideProcesses":
        super().__enter__()
        self.sides = [start_server(f"flask {' '.join(args)}", [sys.executable, "-m", "flask", "--app", "run", *args],
                                   None, self.side_env) for args, _ in self.SIDES]
        for side, (_, ready) in zip(self.sides, self.SIDES):
            wait_for_output(side, ready)  # booted before the run: their start is not the run's CPU
        return self

    def worker_pids(self) -> list[int]:
        """The web workers' PIDs and the side processes'."""
        return super().worker_pids() + [process.pid for process in self.sides]

    def __exit__(self, *exc) -> None:
        with open(self.log_path, "a") as log:
            for (args, _), process in zip(self.SIDES, self.sides):
                log.write(f"--- flask {' '.join(args)}\n{stop(process)}")
        self.sides = []
        super().__exit__(*exc)


def children_of(pid: int) -> list[int]:
    """The PIDs of a process's children (a gunicorn master's workers)."""
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return [int(child) for child in children.read().split()]


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status if line.startswith(("VmRSS", "VmHWM")))
    return {name: int(value.split()[0]) for name, value in fields.items()}


__all__ = ["Gunicorn", "GunicornWithSideProcesses", "free_port", "memory_kib"]
