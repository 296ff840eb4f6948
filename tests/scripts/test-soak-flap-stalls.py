# SPDX-License-Identifier: MIT
"""tools/scripts/soak's flap_stalls(): a load generator whose flap batches
stop coming on time is reported as stalled, naming the gap; batches on time
(within 1.5 periods plus the time a batch is down) are not."""
import argparse
import importlib.machinery
import importlib.util
import sys
import threading
import unittest

SOAK = sys.argv.pop(1)
loader = importlib.machinery.SourceFileLoader("soak", SOAK)
spec = importlib.util.spec_from_loader("soak", loader)
soak = importlib.util.module_from_spec(spec)
loader.exec_module(soak)


class FakeServer:
    def __init__(self, stops, started_at=100.0, max_load=31.5):
        self.lock = threading.Lock()
        self.started_at = started_at
        self.max_load = max_load
        self.flaps = []
        for t in stops:
            self.flaps += [(started_at + t, "stopped", [0]), (started_at + t + 5, "started", [0])]


ARGS = argparse.Namespace(flap_every=30, flap_down=5)


class FlapStalls(unittest.TestCase):
    def test_on_time(self):
        server = FakeServer([31, 61, 91, 121, 151])
        self.assertEqual(soak.flap_stalls(server, ARGS, end=server.started_at + 180), [])

    def test_a_late_batch(self):
        # The GPU host's: batches every 30 s, then none from 301 s to 455 s.
        server = FakeServer([30, 60, 90, 120, 150, 180, 210, 240, 270, 301, 455, 485])
        failures = soak.flap_stalls(server, ARGS, end=server.started_at + 500)
        self.assertEqual(len(failures), 1, failures)
        self.assertIn("gpurtsp-loadgen stalled: no flap batch for 154 s from 301 s on", failures[0])
        self.assertIn("load average reached 31.5", failures[0])

    def test_none_after_a_point(self):
        server = FakeServer([30, 60, 90])
        failures = soak.flap_stalls(server, ARGS, end=server.started_at + 300)
        self.assertEqual(len(failures), 1, failures)
        self.assertIn("no flap batch for 210 s from 90 s on", failures[0])


if __name__ == "__main__":
    unittest.main(verbosity=2)
