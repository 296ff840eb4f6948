# SPDX-License-Identifier: MIT
"""gpurtsp-launch as a subprocess, for the tests that talk to it over HTTP:
it listens on a port of the kernel's choosing, which the process learns from
its log line "http: listening on http://127.0.0.1:PORT/"; the log is kept
for the tests' failure messages."""

import re
import signal
import subprocess
import threading

LISTENING = re.compile(r'http: listening on http://127\.0\.0\.1:(\d+)/')


class LauncherProcess:
    def __init__(self, argv, env=None, timeout=30):
        self.process = subprocess.Popen([*argv, '--listen', '127.0.0.1:0'],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True, env=env)
        self.log = []
        self.port = None
        found = threading.Event()

        def read_log():
            for line in self.process.stderr:
                self.log.append(line.rstrip())
                match = LISTENING.search(line)
                if match:
                    self.port = int(match.group(1))
                    found.set()

        threading.Thread(target=read_log, daemon=True).start()
        if not found.wait(timeout):
            self.kill()
            raise AssertionError('no "http: listening on" line in:\n' + self.text())

    def text(self):
        return '\n'.join(self.log)

    def stop(self):
        """SIGTERM, as systemd stops it; returns the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)

    def kill(self):
        self.process.kill()
        self.process.wait(30)
