# SPDX-License-Identifier: MIT
"""gpurtsp.Cameras on the CPU: cameras against gpurtsp-loadgen (a subprocess
RTSP server looping a static test clip), frames against a CPU reference
decode of the same clip, JPEG, status transitions, every bad input, frame
lifetime past stop/remove/close/exit, and 8 threads reading frames while
cameras come and go.

Needs $GPURTSP_LOADGEN, gst-launch-1.0 with x264enc/avdec_h264/jpegdec (the
CPU reference) and numpy; no PyGObject. Run: python3 test_cameras.py [NAME...]
"""
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import traceback

import numpy

import gpurtsp

WIDTH, HEIGHT = 320, 240
TMP = tempfile.mkdtemp(prefix="gpurtsp-test-cameras-")
GST_LAUNCH = shutil.which("gst-launch-1.0")


def gst_launch(description):
    subprocess.run([GST_LAUNCH, "-q"] + description.split(), check=True, timeout=60,
                   stdout=subprocess.DEVNULL)


def make_clip():
    """The SMPTE pattern, H.264 without B-frames, as loadgen loops it."""
    clip = os.path.join(TMP, "smpte.h264")
    gst_launch(f"videotestsrc pattern=smpte num-buffers=30 ! "
               f"video/x-raw,width={WIDTH},height={HEIGHT},framerate=15/1 ! "
               f"x264enc key-int-max=15 bframes=0 speed-preset=veryfast qp-max=20 ! "
               f"video/x-h264,stream-format=byte-stream ! filesink location={clip}")
    return clip


def reference_rgb(clip):
    """The clip's last frame decoded and converted on the CPU: H x W x 3."""
    raw = os.path.join(TMP, "reference.rgb")
    gst_launch(f"filesrc location={clip} ! h264parse ! avdec_h264 ! videoconvert ! "
               f"video/x-raw,format=RGB ! filesink location={raw}")
    frames = numpy.fromfile(raw, dtype=numpy.uint8).reshape(-1, HEIGHT, WIDTH, 3)
    return frames[-1]


def decode_jpeg(jpeg):
    """RGB pixels of @jpeg, decoded by jpegdec; its size from the byte count."""
    path = os.path.join(TMP, "frame.jpg")
    raw = os.path.join(TMP, "frame.rgb")
    with open(path, "wb") as file:
        file.write(jpeg)
    gst_launch(f"filesrc location={path} ! jpegdec ! videoconvert ! video/x-raw,format=RGB ! "
               f"filesink location={raw}")
    return numpy.fromfile(raw, dtype=numpy.uint8)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Loadgen:
    """gpurtsp-loadgen serving @cameras mounts of @clip on @port."""

    def __init__(self, clip, port, cameras=4):
        self.args = [os.environ["GPURTSP_LOADGEN"], "--cameras", str(cameras), "--clip", clip,
                     "--width", str(WIDTH), "--height", str(HEIGHT), "--fps", "15",
                     "--port", str(port), "--stats-interval", "3600"]
        self.port = port
        self.process = None
        self.start()

    def start(self):
        self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        for line in self.process.stdout:
            if "URL pattern" in line:
                return
        raise RuntimeError("gpurtsp-loadgen did not start")

    def stop(self):
        if self.process:
            self.process.kill()
            self.process.wait()
            self.process = None

    def url(self, index=0):
        return f"rtsp://127.0.0.1:{self.port}/cam{index}"


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_frame(camera, timeout=30.0):
    return wait_for(camera.latest_frame, timeout, f"a frame of {camera.id}")


# videotestsrc's SMPTE pattern: colour bars above, and noise that changes every
# frame in the bottom right; only the bars are compared.
STATIC_ROWS = slice(0, 150)


def assert_close(actual, expected, what, mean_limit=2.0, p99_limit=12):
    actual, expected = actual[STATIC_ROWS], expected[STATIC_ROWS]
    difference = numpy.abs(actual.astype(numpy.int16) - expected.astype(numpy.int16))
    mean, p99 = difference.mean(), numpy.percentile(difference, 99)
    print(f"  {what}: mean |diff| {mean:.2f}, p99 {p99:.0f}")
    assert mean <= mean_limit and p99 <= p99_limit, \
        f"{what}: mean |diff| {mean:.2f} > {mean_limit} or p99 {p99} > {p99_limit}"


def assert_similar(actual, expected, what):
    """JPEG round trips: the same picture, up to JPEG's loss and the encoder's
    range handling (limited-range YUV to full-range JPEG and back)."""
    actual = actual[STATIC_ROWS].astype(numpy.float64).ravel()
    expected = expected[STATIC_ROWS].astype(numpy.float64).ravel()
    correlation = numpy.corrcoef(actual, expected)[0, 1]
    mean = numpy.abs(actual - expected).mean()
    print(f"  {what}: correlation {correlation:.4f}, mean |diff| {mean:.2f}")
    assert correlation >= 0.97 and mean <= 25, f"{what}: not the reference picture"


def nv12_to_rgb(nv12):
    """BT.601 limited range, as videoconvert converts SD frames: the CPU
    reference for NV12 frames."""
    y = nv12[:HEIGHT].astype(numpy.float32) - 16
    uv = nv12[HEIGHT:].reshape(HEIGHT // 2, WIDTH // 2, 2).astype(numpy.float32) - 128
    uv = uv.repeat(2, axis=0).repeat(2, axis=1)
    u, v = uv[..., 0], uv[..., 1]
    r = 1.164 * y + 1.596 * v
    g = 1.164 * y - 0.392 * u - 0.813 * v
    b = 1.164 * y + 2.017 * u
    return numpy.clip(numpy.stack([r, g, b], axis=-1) + 0.5, 0, 255).astype(numpy.uint8)


def expect_value_error(call, *fragments):
    try:
        call()
    except ValueError as error:
        text = str(error)
        print(f"  ValueError: {text}")
        for fragment in fragments:
            assert fragment in text, f"{fragment!r} not in {text!r}"
        return
    raise AssertionError(f"no ValueError (expected one with {fragments})")


# --- tests -----------------------------------------------------------------

def test_formats(server, reference):
    with gpurtsp.Cameras(gpu=0) as cams:
        for fmt in ("RGB", "BGR", "RGBP", "NV12", "JPEG"):
            cams.add(server.url(0), id=fmt.lower(), format=fmt, decoder="software")
        small = cams.add(server.url(1), id="small", format="RGB", width=160, decoder="software")
        assert len(cams) == 6 and [c.id for c in cams][0] == "rgb" and "nv12" in cams

        rgb = numpy.asarray(wait_frame(cams["rgb"]))
        assert rgb.shape == (HEIGHT, WIDTH, 3) and rgb.dtype == numpy.uint8, rgb.shape
        assert_close(rgb, reference, "RGB vs CPU reference")

        bgr = numpy.asarray(wait_frame(cams["bgr"]))
        assert bgr.shape == (HEIGHT, WIDTH, 3)
        assert_close(bgr[..., ::-1], reference, "BGR reversed vs CPU reference")

        frame = wait_frame(cams["rgbp"])
        assert (frame.width, frame.height, frame.format) == (WIDTH, HEIGHT, "RGBP")
        rgbp = numpy.asarray(frame)
        assert rgbp.shape == (3, HEIGHT, WIDTH), rgbp.shape
        assert_close(rgbp.transpose(1, 2, 0), reference, "RGBP vs CPU reference")
        # No copy: the array views the frame's buffer.
        assert rgbp.__array_interface__["data"][0] == frame.__array_interface__["data"][0]
        assert frame.sequence >= 1 and frame.pts is not None

        nv12 = numpy.asarray(wait_frame(cams["nv12"]))
        assert nv12.shape == (HEIGHT * 3 // 2, WIDTH), nv12.shape
        assert_close(nv12_to_rgb(nv12), reference, "NV12 through the CPU conversion",
                     mean_limit=3.0, p99_limit=16)

        jpeg = wait_for(cams["jpeg"].latest_jpeg, what="a JPEG")
        assert jpeg[:2] == b"\xff\xd8", jpeg[:4]
        assert_similar(decode_jpeg(jpeg).reshape(HEIGHT, WIDTH, 3), reference,
                       "JPEG (format JPEG) decoded")
        expect_value_error(cams["jpeg"].latest_frame, "format JPEG")

        # Raw formats encode their newest frame when asked.
        for name in ("rgb", "rgbp", "nv12"):
            jpeg = cams[name].latest_jpeg()
            assert_similar(decode_jpeg(jpeg).reshape(HEIGHT, WIDTH, 3), reference,
                           f"JPEG of a {name} frame decoded")

        scaled = numpy.asarray(wait_frame(small))
        assert scaled.shape == (HEIGHT // 2, WIDTH // 2, 3), scaled.shape

        frames = wait_for(lambda: len(cams["rgb"].latest_frames(5)) == 5 and
                          cams["rgb"].latest_frames(5), what="5 frames")
        sequences = [f.sequence for f in frames]
        assert sequences == sorted(sequences, reverse=True) and len(set(sequences)) == 5, sequences
        assert len(cams["rgb"].latest_frames(1000)) <= cams["rgb"].buffer_size == 30

        # The state follows the frames at the next once-a-second tick.
        wait_for(lambda: cams["rgb"].connected, 3.0, "rgb streaming")
        status = cams["rgb"].status()
        print(f"  status: {status}")
        assert status["state"] == "streaming" and cams["rgb"].connected
        assert (status["width"], status["height"], status["codec"]) == (WIDTH, HEIGHT, "h264")
        assert status["decoder"] == "software" and status["gpu"] is None
        assert status["reconnects"] == 0 and status["last_frame_age_ms"] is not None
        for key in ("fps", "last_error", "frames", "buffer_size", "format"):
            assert key in status, key


def test_bad_inputs(server, reference):
    with gpurtsp.Cameras() as cams:
        url = server.url(0)
        expect_value_error(lambda: cams.add("http://camera/stream"), "url:", "http")
        expect_value_error(lambda: cams.add(""), "url:")
        expect_value_error(lambda: cams.add("rtsp://"), "url:")
        expect_value_error(lambda: cams.add(url, fps=500), "fps:", "out of range (0 to 120)")
        expect_value_error(lambda: cams.add(url, fps="fast"), "fps:", "expected an integer")
        expect_value_error(lambda: cams.add(url, buffer_size=0), "buffer_size:")
        expect_value_error(lambda: cams.add(url, width=8), "width:")
        expect_value_error(lambda: cams.add(url, decode="some"), "decode:", "all or keyframes")
        expect_value_error(lambda: cams.add(url, transport="sctp"), "transport:")
        expect_value_error(lambda: cams.add(url, decoder="cpu"), "decoder:")
        expect_value_error(lambda: cams.add(url, gpu=99), "gpu:")
        expect_value_error(lambda: cams.add(url, fsp=5), "fsp:", 'did you mean "fps"')
        expect_value_error(lambda: cams.add(url, format="YUY2"), "format:", "YUY2")
        expect_value_error(lambda: cams.add(url, format="NV12", width=160), "width:", "NV12")
        expect_value_error(lambda: cams.add(url, id="has space"), "id:", "invalid id")
        expect_value_error(lambda: cams.add(url, latency_ms=[1]), "latency_ms:")
        cams.add(url, id="one", decoder="software")
        expect_value_error(lambda: cams.add(url, id="one"), "id:", "duplicate")
        assert len(cams) == 1, "a refused camera must not be added"

        try:
            cams.remove("nobody")
            raise AssertionError("remove of an unknown id did not raise")
        except KeyError:
            pass
        try:
            cams["nobody"]
            raise AssertionError("lookup of an unknown id did not raise")
        except KeyError:
            pass

        missing = os.path.join(TMP, "missing.yaml")
        expect_value_error(lambda: cams.load(missing), "missing.yaml", "cannot read")
        bad = os.path.join(TMP, "bad.yaml")
        with open(bad, "w") as file:
            file.write(f"cameras:\n  - id: a\n    url: {url}\n    fps: 1000\n")
        expect_value_error(lambda: cams.load(bad), "bad.yaml:4", "cameras[0].fps")
        expect_value_error(lambda: cams.load(bad, format="RGBA"), "format:")
        assert len(cams) == 1

    for gpu in (-1, "0", 1.5):
        expect_value_error(lambda: gpurtsp.Cameras(gpu=gpu), "gpu")


def test_load(server, reference):
    config = os.path.join(TMP, "cameras.yaml")
    with open(config, "w") as file:
        file.write(textwrap.dedent(f"""\
            defaults:
              decoder: software
              buffer_size: 4
            cameras:
              - id: yard
                url: {server.url(2)}
              - id: gate
                url: {server.url(3)}
                fps: 0
            """))
    with gpurtsp.Cameras() as cams:
        loaded = cams.load(config, format="RGB")
        assert [c.id for c in loaded] == ["yard", "gate"] and cams.ids() == ["yard", "gate"]
        assert cams["yard"].buffer_size == 4
        for camera in loaded:
            assert numpy.asarray(wait_frame(camera)).shape == (HEIGHT, WIDTH, 3)
        # All or none: a file naming a camera that exists adds nothing.
        expect_value_error(lambda: cams.load(config), "duplicate id \"yard\"")
        assert len(cams) == 2
        cams.remove("yard")
        assert cams.ids() == ["gate"] and "yard" not in cams


def test_status_transitions(server, reference):
    port = free_port()
    own = Loadgen(server.args[server.args.index("--clip") + 1], port, cameras=1)
    try:
        with gpurtsp.Cameras() as cams:
            camera = cams.add(own.url(0), decoder="software", stall_timeout_s=2)
            assert camera.status()["state"] in ("connecting", "streaming")
            wait_for(lambda: camera.connected, what="streaming")
            own.stop()
            wait_for(lambda: camera.status()["state"] == "reconnecting", what="reconnecting")
            status = camera.status()
            print(f"  server gone: {status}")
            assert status["reconnects"] >= 1 and status["last_error"], status
            assert not camera.connected
            assert camera.latest_frame() is not None, "the newest frame stays served"
            own.start()
            wait_for(lambda: camera.connected, timeout=60, what="streaming again")
            print(f"  server back: {camera.status()}")

            camera.stop()
            assert camera.status()["running"] is False
            held = camera.latest_frame()
            assert held is not None, "frames stay after stop()"
            assert camera.status()["state"] == "stopped" and not camera.connected
            time.sleep(1.0)
            assert camera.latest_frame().sequence == held.sequence, "a frame after stop()"
            camera.start()
            wait_for(lambda: camera.latest_frame().sequence != held.sequence
                     if camera.latest_frame() else False, what="frames after start()")
            assert camera.status()["running"] is True
    finally:
        own.stop()


def test_lifetime(server, reference):
    cams = gpurtsp.Cameras()
    camera = cams.add(server.url(0), decoder="software", format="RGB")
    frame = wait_frame(camera)
    array = numpy.asarray(frame)
    copy = array.copy()
    camera.stop()
    assert numpy.array_equal(array, copy)
    removed = cams.add(server.url(1), id="gone", decoder="software")
    kept = numpy.asarray(wait_frame(removed))
    snapshot = kept.copy()
    cams.remove("gone")
    try:
        removed.latest_frame()
        raise AssertionError("a removed camera still answered")
    except KeyError:
        pass
    cams.close()
    cams.close()  # idempotent
    del frame
    # The arrays still hold their frames' buffers.
    assert numpy.array_equal(array, copy) and numpy.array_equal(kept, snapshot)
    assert_close(array, reference, "a frame after close()")
    for call in (camera.latest_frame, camera.status, camera.start,
                 lambda: cams.add(server.url(0)), cams.ids, lambda: cams.remove("x")):
        try:
            call()
            raise AssertionError(f"{call} after close() did not raise")
        except gpurtsp.CamerasClosed:
            pass

    # Interpreter exit with cameras streaming, frames, arrays and an
    # on_frame thread alive: exit status 0, no crash or hang.
    program = textwrap.dedent(f"""\
        import time, numpy, gpurtsp
        cams = gpurtsp.Cameras()
        held = []
        for url in {[server.url(i) for i in range(3)]!r}:
            camera = cams.add(url, decoder="software", format="RGBP")
            camera.on_frame(held.append)
        while len(held) < 10:
            time.sleep(0.05)
        arrays = [numpy.asarray(f) for f in held[:5]]
        print("frames", len(held), arrays[0].shape)
        """)
    for ending in ("", "cams.close()\n", "import os, sys; sys.stdout.flush(); del cams\n"):
        result = subprocess.run([sys.executable, "-c", program + ending], timeout=60,
                                capture_output=True, text=True)
        print(f"  exit ({ending.strip() or 'open'}): {result.returncode} {result.stdout.strip()}")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "frames" in result.stdout


def test_on_frame(server, reference):
    with gpurtsp.Cameras() as cams:
        camera = cams.add(server.url(0), decoder="software", format="RGB")
        got = []
        threads = set()
        done = threading.Event()

        def on_frame(frame):
            threads.add(threading.current_thread().name)
            got.append(frame.sequence)
            if len(got) >= 5:
                done.set()

        camera.on_frame(on_frame)
        assert done.wait(30), "no frames delivered"
        camera.on_frame(None)
        count = len(got)
        time.sleep(0.5)
        assert len(got) == count, "on_frame(None) did not stop the callbacks"
        assert threads == {f"gpurtsp-on-frame-{camera.id}"}, threads
        assert got == sorted(got), got
        count = camera.wait_frame(0, timeout=5)
        assert count > 0 and camera.wait_frame(count + 10 ** 9, timeout=0.1) <= count + 10 ** 9


def test_threads(server, reference):
    """8 threads read frames while the main thread adds and removes
    cameras: KeyError for a camera just removed, never a crash."""
    with gpurtsp.Cameras() as cams:
        for index in range(2):
            cams.add(server.url(index), id=f"base{index}", decoder="software", format="RGB")
        stop = threading.Event()
        errors = []
        reads = [0] * 8

        def reader(number):
            rng = random.Random(number)
            try:
                while not stop.is_set():
                    cameras = list(cams)
                    if not cameras:
                        continue
                    camera = rng.choice(cameras)
                    try:
                        frame = camera.latest_frame()
                        if frame is not None:
                            assert numpy.asarray(frame).shape == (HEIGHT, WIDTH, 3)
                            reads[number] += 1
                        camera.status()
                    except KeyError:
                        pass
            except Exception:
                errors.append(traceback.format_exc())

        threads = [threading.Thread(target=reader, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 8
        round_number = 0
        while time.monotonic() < deadline:
            camera_id = f"churn{round_number % 3}"
            if camera_id in cams:
                cams.remove(camera_id)
            else:
                cams.add(server.url(2 + round_number % 2), id=camera_id, decoder="software",
                         format="RGB")
            round_number += 1
            time.sleep(0.1)
        stop.set()
        for thread in threads:
            thread.join(30)
        assert not errors, errors[0]
        print(f"  {round_number} adds/removes, reads per thread {reads}")
        assert all(count > 0 for count in reads), reads


TESTS = [test_formats, test_bad_inputs, test_load, test_status_transitions, test_lifetime,
         test_on_frame, test_threads]


def main():
    if not GST_LAUNCH:
        print("gst-launch-1.0 is missing (gstreamer1.0-tools): it makes the CPU reference")
        return 1
    inspect = shutil.which("gst-inspect-1.0")
    if inspect and subprocess.run([inspect, "--exists", "avdec_h264"]).returncode != 0:
        # The GPU host's bundle has no gst-libav: no software decoding there.
        print("SKIP: avdec_h264 (gstreamer1.0-libav) is missing: no software decoding")
        return 77
    clip = make_clip()
    reference = reference_rgb(clip)
    server = Loadgen(clip, free_port())
    selected = [t for t in TESTS if len(sys.argv) < 2 or t.__name__ in sys.argv[1:]]
    failed = 0
    try:
        for test in selected:
            print(f"{test.__name__}")
            started = time.monotonic()
            try:
                test(server, reference)
                print(f"  ok ({time.monotonic() - started:.1f} s)")
            except Exception:
                traceback.print_exc()
                failed += 1
    finally:
        server.stop()
        shutil.rmtree(TMP, ignore_errors=True)
    print(f"{len(selected) - failed}/{len(selected)} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
