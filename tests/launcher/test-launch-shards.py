#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Shards as separate gpurtsp-launch processes over one 200-camera config:
4 shards serve every camera exactly once, as the published hash says;
5 shards move at most a quarter of the cameras; a shard killed with SIGKILL
and started again serves the same set.

  test-launch-shards.py GPURTSP_LAUNCH GPURTSP_SHARD_SCRIPT
The cameras point at a closed port: they only have to exist, not stream."""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

launcher, shard_script = sys.argv[1:3]
proxy_script = os.path.join(os.path.dirname(shard_script), "gpurtsp-shard-proxy")
CAMERAS = 200
TIMEOUT_S = 30 * float(os.environ.get("CK_TIMEOUT_MULTIPLIER", "1"))


def write_config(directory):
    path = os.path.join(directory, "cameras.yaml")
    with open(path, "w") as out:
        out.write("http:\n  listen: 127.0.0.1:0\ndefaults:\n  decoder: software\ncameras:\n")
        for i in range(CAMERAS):
            out.write(f"  - id: cam-{i:04d}\n    url: rtsp://127.0.0.1:9/cam{i}\n")
    return path


class Shard:
    def __init__(self, config, index, count):
        self.index, self.count = index, count
        env = dict(os.environ, GPURTSP_SHARD=f"{index}/{count}")
        self.process = subprocess.Popen([launcher, "--config", config, "--start-window", "0.2"],
                                        env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + TIMEOUT_S
        self.url = None
        for line in self.process.stderr:
            match = re.search(r"http: listening on (http://\S+/)", line)
            if match:
                self.url = match.group(1)
                break
            assert time.monotonic() < deadline, "no listening line"
        assert self.url, f"shard {index}/{count} exited: {self.process.wait()}"
        # Keep draining stderr so the launcher never blocks on a full pipe.
        self.drain = subprocess.Popen(["cat"], stdin=self.process.stderr,
                                      stdout=subprocess.DEVNULL)
        while True:
            try:
                with urllib.request.urlopen(self.url + "readyz", timeout=5) as response:
                    if response.status == 200:
                        break
            except urllib.error.HTTPError as error:
                assert error.code == 503, error
            assert time.monotonic() < deadline, "never ready"
            time.sleep(0.1)

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return response.headers, json.loads(response.read())

    def camera_ids(self):
        headers, cameras = self.get("api/cameras")
        assert headers["X-Gpurtsp-Shard"] == f"{self.index}/{self.count}", headers
        assert headers["X-Gpurtsp-Shard-Cameras"] == str(len(cameras)), headers
        return {camera["id"] for camera in cameras}

    def stop(self, sig=signal.SIGTERM):
        self.process.send_signal(sig)
        code = self.process.wait(timeout=TIMEOUT_S)
        self.drain.wait(timeout=TIMEOUT_S)
        return code


def run(config, count):
    shards = [Shard(config, i, count) for i in range(count)]
    try:
        return shards, [shard.camera_ids() for shard in shards]
    except BaseException:
        for shard in shards:
            shard.stop(signal.SIGKILL)
        raise


def main():
    with tempfile.TemporaryDirectory() as directory:
        config = write_config(directory)
        everything = {f"cam-{i:04d}" for i in range(CAMERAS)}

        shards, served = run(config, 4)
        try:
            union = set().union(*served)
            assert union == everything, f"missing {sorted(everything - union)[:5]}"
            assert sum(map(len, served)) == CAMERAS, "a camera is served twice"
            # Where each camera is, the published script and /api/shard agree.
            script = subprocess.run([sys.executable, shard_script, "4"] + sorted(everything),
                                    check=True, capture_output=True, text=True).stdout
            for line in script.splitlines():
                camera_id, index = line.split()
                assert camera_id in served[int(index)], f"{camera_id}: script says {index}"
            _, answer = shards[0].get("api/shard?id=cam-0042")
            assert camera_ids_holder(served, "cam-0042") == answer["shard"], answer
            assert answer["here"] == (answer["shard"] == 0) and answer["count"] == 4, answer
            _, info = shards[1].get("api/shard")
            assert info == {"index": 1, "count": 4, "cameras": len(served[1]),
                            "config_cameras": CAMERAS}, info
            with urllib.request.urlopen(shards[2].url + "metrics", timeout=10) as response:
                metrics = response.read().decode()
            assert 'gpurtsp_shard_info{index="2",count="4"} 1' in metrics
            assert f"gpurtsp_shard_cameras {len(served[2])}" in metrics

            check_proxy(shards, served, everything)

            # SIGKILL, then the same shard again: the same cameras.
            assert shards[3].stop(signal.SIGKILL) == -signal.SIGKILL
            shards[3] = Shard(config, 3, 4)
            assert shards[3].camera_ids() == served[3], "a restarted shard serves other cameras"
        finally:
            for shard in shards:
                if shard.process.poll() is None:
                    assert shard.stop() == 0, "shard did not exit 0 on SIGTERM"

        five, served5 = run(config, 5)
        try:
            assert set().union(*served5) == everything and sum(map(len, served5)) == CAMERAS
            moved = sum(1 for c in everything
                        if camera_ids_holder(served, c) != camera_ids_holder(served5, c))
            assert moved <= CAMERAS // 4, f"{moved} of {CAMERAS} cameras moved from 4 to 5 shards"
            print(f"4 shards: {[len(s) for s in served]}; 5 shards: {[len(s) for s in served5]}; "
                  f"{moved} of {CAMERAS} moved")
        finally:
            for shard in five:
                shard.stop()
    print("ok")


def check_proxy(shards, served, everything):
    """gpurtsp-shard-proxy in front of the shards: one address for all."""
    urls = ",".join(shard.url for shard in shards)
    proxy = subprocess.Popen([sys.executable, proxy_script, "--count", str(len(shards)),
                              "--shard-url", urls, "--listen", "127.0.0.1:0"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proxy.stdout.readline()
        url = re.search(r"(http://\S+/)", line).group(1)
        with urllib.request.urlopen(url + "api/cameras", timeout=10) as response:
            listed = json.loads(response.read())
        assert {c["id"] for c in listed} == everything and len(listed) == len(everything)
        for camera_id in ("cam-0000", "cam-0042", "cam-0199"):
            with urllib.request.urlopen(url + "api/cameras/" + camera_id, timeout=10) as response:
                assert json.loads(response.read())["id"] == camera_id
        try:
            urllib.request.urlopen(url + "api/cameras/no-such-camera", timeout=10)
            raise AssertionError("unknown camera answered")
        except urllib.error.HTTPError as error:
            assert error.code == 404, error.code
    finally:
        proxy.kill()
        proxy.wait()


def camera_ids_holder(served, camera_id):
    return next(i for i, ids in enumerate(served) if camera_id in ids)


if __name__ == "__main__":
    main()
