#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs tools/scripts/gpurtsp-bench with the software decoder at small camera counts
and checks its JSON: every field there, every camera streaming, frames
flowing, frames sent beside frames decoded (never fewer), the decode-only baseline counting decoded frames and gpurtsp full's
ratio to it, and the processes it started gone. Then a run whose cameras all
fail for good (the launcher cannot find the plugin) must end at once, naming
the first error.

Usage: test-gpurtsp-bench.py BENCH LAUNCH LOADGEN WORKDIR
"""

import json
import os
import shutil
import subprocess
import sys
import time

CAMERAS = [1, 4]
RUN_FIELDS = {
    "kind", "mode", "cameras", "decoder", "pid", "failures", "exit_status", "shutdown_s",
    "measured_s", "cameras_streaming", "time_to_all_streaming_s", "jpeg_per_s", "decoded_per_s",
    "cpu_cores", "cpu_cores_per_camera", "rss_mib", "rss_per_camera_mib", "threads",
    "threads_per_camera", "fds", "fds_per_camera", "vram_process_mib", "vram_device_delta_mib",
    "vram_per_camera_mib", "age_p50_ms", "age_p99_ms", "age_max_ms", "reconnects",
    "cameras_failed", "keyframe_decoder", "jpeg_encoder", "rtp_filter", "logs", "settle_s",
    "frames_sent_per_s", "decoded_limit_per_s", "reader_cpu_cores",
}
SETTLE_S = 1
RUNS = (("gpurtsp", "full"), ("gpurtsp", "keyframes"), ("baseline", "full"),
        ("baseline", "decode"))


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


def main():
    bench, launch, loadgen, workdir = sys.argv[1:5]
    out = os.path.join(workdir, "bench-out")
    shutil.rmtree(out, ignore_errors=True)
    # A small clip keeps the one-off encode short; the cache outlives runs.
    argv = [sys.executable, bench, "--decoder", "software",
            "--cameras", ",".join(map(str, CAMERAS)), "--duration", "4",
            "--settle", str(SETTLE_S), "--baseline-modes", "full,decode",
            "--launch", launch, "--loadgen", loadgen, "--out", out,
            "--width", "320", "--height", "240", "--cache-dir", os.path.join(workdir, "cache"),
            "--budget", "150"]
    print(" ".join(argv), flush=True)
    done = subprocess.run(argv, timeout=170)
    if done.returncode != 0:
        fail(f"gpurtsp-bench exited with {done.returncode}")

    with open(os.path.join(out, "bench.json")) as f:
        report = json.load(f)
    for key in ("schema", "host", "source", "settings", "results", "elapsed_s"):
        if key not in report:
            fail(f"bench.json has no {key}")
    results = report["results"]
    expected = {(kind, mode, n) for n in CAMERAS for kind, mode in RUNS}
    got = {(r["kind"], r["mode"], r["cameras"]) for r in results}
    if got != expected:
        fail(f"runs {sorted(got)}, expected {sorted(expected)}")

    for r in results:
        name = f"{r['kind']} {r['mode']} N={r['cameras']}"
        if r.get("skipped"):
            fail(f"{name} skipped: {r['skipped']}")
        missing = RUN_FIELDS - r.keys()
        if missing:
            fail(f"{name} lacks {sorted(missing)}")
        if r["cameras_streaming"] != r["cameras"]:
            fail(f"{name}: {r['cameras_streaming']} of {r['cameras']} cameras streaming")
        if r["failures"]:
            fail(f"{name}: failures {r['failures']}")
        if not r["cpu_cores"] > 0 or not r["threads"] > 0:
            fail(f"{name}: no CPU or threads measured: {r}")
        # rtspsrc's TCP reader threads ("taskN"): part of the process's CPU
        # (a camera's can be under one clock tick in a window: all runs
        # together must show some, below).
        reader = r["reader_cpu_cores"]
        if not isinstance(reader, (int, float)) or not 0 <= reader <= 1.05 * r["cpu_cores"] + 0.01:
            fail(f"{name}: reader_cpu_cores {reader} of cpu_cores {r['cpu_cores']}")
        # Cores by thread name (digits folded): they add up to at most the
        # process's, and the readers are among them.
        groups = r.get("thread_cpu_cores")
        if not isinstance(groups, dict) or sum(
                g["cores"] for g in groups.values()) > 1.05 * r["cpu_cores"] + 0.01 \
                or any("0" <= c <= "9" for name in groups for c in name) \
                or any(not 0 <= g["sys"] <= g["cores"] + 0.01 for g in groups.values()):
            fail(f"{name}: thread_cpu_cores {groups} of cpu_cores {r['cpu_cores']}")
        # The load generator's count over the same window: 30 fps per camera.
        sent = r["frames_sent_per_s"]
        if not isinstance(sent, (int, float)) or not 20 <= sent / r["cameras"] <= 40:
            fail(f"{name}: frames_sent_per_s {sent}")
        # Within the bench's own limit (checked above through failures),
        # and that limit no looser than half a second's frames over the window.
        limit = r["decoded_limit_per_s"]
        if not isinstance(limit, (int, float)) or not sent < limit <= (
                1.02 * sent + 1 + 0.5 * sent / r["measured_s"] + 0.1):
            fail(f"{name}: decoded_limit_per_s {limit} for {sent}/s over {r['measured_s']} s")
        if not SETTLE_S <= r["settle_s"] < SETTLE_S + 1:
            fail(f"{name}: settled {r['settle_s']} s, asked for {SETTLE_S} s")
        if r["mode"] == "decode":
            # Decoding only: the sink counts decoded frames, there are no JPEGs.
            if r["jpeg_per_s"] is not None:
                fail(f"{name}: jpeg_per_s {r['jpeg_per_s']}, expected null")
            if not isinstance(r["decoded_per_s"], (int, float)) or not r["decoded_per_s"] > 0:
                fail(f"{name}: decoded_per_s {r['decoded_per_s']}")
            # Every frame of the 30 fps source, not the 5 JPEGs a second.
            per_camera = r["decoded_per_s"] / r["cameras"]
            if not 20 <= per_camera <= 40:
                fail(f"{name}: {per_camera:.1f} decoded frames/s per camera")
        elif not r["jpeg_per_s"] > 0:
            fail(f"{name}: no JPEGs: {r}")
        if r["kind"] == "gpurtsp":
            # 30 fps source, GOP 30: all frames or one keyframe a second.
            per_camera = r["decoded_per_s"] / r["cameras"]
            low, high = (20, 40) if r["mode"] == "full" else (0.5, 1.5)
            if not low <= per_camera <= high:
                fail(f"{name}: {per_camera:.1f} decoded frames/s per camera")
            if r["age_p50_ms"] is None or r["age_p99_ms"] is None:
                fail(f"{name}: no snapshot age")
            if "vs_baseline" not in r:
                fail(f"{name}: no ratios to the baseline")
            if r["vs_baseline"]["baseline_mode"] != "full":
                fail(f"{name}: compared with baseline {r['vs_baseline']['baseline_mode']}")
            decode_ratio = r["vs_baseline"].get("decoded_vs_decode_only", "absent")
            if r["mode"] == "full":
                # Both decode every frame of the same real-time sources: ~1.
                if not isinstance(decode_ratio, (int, float)) or not decode_ratio > 0:
                    fail(f"{name}: vs_baseline.decoded_vs_decode_only {decode_ratio}")
            elif decode_ratio != "absent":
                fail(f"{name}: decoded_vs_decode_only {decode_ratio} in {r['mode']} mode")
            # Keyframe mode drops P frames' packets before the jitterbuffer.
            f = r["rtp_filter"]
            if r["mode"] == "keyframes":
                if not f or f["instances"] != r["cameras"] or not f["dropped_share"] > 0.5:
                    fail(f"{name}: rtp_filter {f}")
            elif f is not None:
                fail(f"{name}: rtp_filter {f} in {r['mode']} mode")
        try:
            os.kill(r["pid"], 0)
            fail(f"{name}: process {r['pid']} still runs")
        except ProcessLookupError:
            pass
    if not sum(r["reader_cpu_cores"] for r in results) > 0:
        fail("no run measured any CPU in its reader threads: are they still named taskN?")
    print(f"OK: {len(results)} runs")
    check_gives_up_on_failed_cameras(bench, launch, loadgen, workdir)


def check_gives_up_on_failed_cameras(bench, launch, loadgen, workdir):
    """A launcher whose cameras all fail for good (here: the plugin is
    not found) ends its run at once with the first error, instead of
    waiting out --startup-timeout."""
    registry = os.path.join(workdir, "no-plugin-registry.bin")
    env = dict(os.environ, GST_PLUGIN_PATH="", GST_REGISTRY=registry)
    found = subprocess.run(["gst-inspect-1.0", "latestframesink"], env=env,
                           capture_output=True)
    if found.returncode == 0:
        print("skip: gpurtsp is installed system-wide; cannot hide it from the launcher")
        return
    wrapper = os.path.join(workdir, "launch-without-plugin")
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\nGST_PLUGIN_PATH= GST_REGISTRY={registry} exec {launch} \"$@\"\n")
    os.chmod(wrapper, 0o755)
    out = os.path.join(workdir, "bench-out-failed")
    shutil.rmtree(out, ignore_errors=True)
    argv = [sys.executable, bench, "--decoder", "software", "--cameras", "2",
            "--modes", "keyframes", "--baseline-modes", "", "--startup-timeout", "90",
            "--duration", "2", "--settle", "0", "--launch", wrapper, "--loadgen", loadgen,
            "--out", out, "--width", "320", "--height", "240",
            "--cache-dir", os.path.join(workdir, "cache"), "--budget", "150"]
    started = time.monotonic()
    subprocess.run(argv, timeout=170)
    took = time.monotonic() - started
    with open(os.path.join(out, "bench.json")) as f:
        (result,) = json.load(f)["results"]
    failures = " ".join(result["failures"])
    if "2 of 2 cameras failed for good" not in failures or "latestframesink" not in failures:
        fail(f"failed cameras: failures {result['failures']}")
    if took > 60:
        fail(f"failed cameras: the run took {took:.0f} s, as if waiting out the start-up")
    print(f"OK: every camera failed: run ended after {took:.1f} s: {failures[:120]}")


if __name__ == "__main__":
    main()
