"""What the test suites share about node processes: free ports, killing, log tails."""

from __future__ import annotations

import signal
import socket
import subprocess
from typing import Optional


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ProcessBase:
    """A node process and its log file."""

    process: Optional[subprocess.Popen]
    log: str

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Sends ``sig`` (SIGKILL by default) and waits for the process."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)
        self.process = None

    def tail(self) -> str:
        """The end of the node's log (for failure messages)."""
        try:
            with open(self.log, "rb") as f:
                return f.read()[-2000:].decode(errors="replace")
        except OSError:
            return ""
