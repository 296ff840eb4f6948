#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""latestframesink from Python (PyGObject): action signals, new-frame, properties.

Exits 77 (skipped) when PyGObject or its GStreamer bindings are missing.
"""
import sys
import threading
import unittest

try:
    import gi

    gi.require_version('Gst', '1.0')
    from gi.repository import GLib, Gst
except (ImportError, ValueError) as error:
    print(f'skipped: no GStreamer Python bindings ({error})')
    sys.exit(77)

CAPS = 'video/x-raw, format=GRAY8, width=4, height=2, framerate=30/1'


class LatestFrameSinkTest(unittest.TestCase):
    def setUp(self):
        self.pipeline = Gst.parse_launch(
            f'appsrc name=src format=time caps="{CAPS}" '
            '! latestframesink name=sink sync=false buffer-size=3')
        self.src = self.pipeline.get_by_name('src')
        self.sink = self.pipeline.get_by_name('sink')
        self.new_frames = 0
        self.new_frames_lock = threading.Lock()

    def tearDown(self):
        self.pipeline.set_state(Gst.State.NULL)

    def on_new_frame(self, sink):
        self.assertIs(sink, self.sink)
        with self.new_frames_lock:
            self.new_frames += 1

    def play(self, count):
        """Pushes frames 0..count-1 (offset and payload = index), then EOS."""
        self.assertNotEqual(self.pipeline.set_state(Gst.State.PLAYING), Gst.StateChangeReturn.FAILURE)
        for index in range(count):
            buffer = Gst.Buffer.new_wrapped(bytes([index]) * 8)
            buffer.offset = index
            buffer.pts = index * Gst.SECOND // 30
            self.assertEqual(self.src.emit('push-buffer', buffer), Gst.FlowReturn.OK)
        self.src.emit('end-of-stream')
        message = self.pipeline.get_bus().timed_pop_filtered(
            10 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
        self.assertIsNotNone(message, 'no EOS')
        self.assertEqual(message.type, Gst.MessageType.EOS)

    @staticmethod
    def offsets(samples):
        return [sample.get_buffer().offset for sample in samples]

    def test_empty(self):
        self.assertIsNone(self.sink.emit('get-latest-sample'))
        self.assertEqual(self.sink.emit('get-samples', 5), [])
        self.assertEqual(self.sink.props.frames_received, 0)
        self.assertEqual(self.sink.props.last_frame_time, 0)

    def test_get_samples_is_a_list_newest_first(self):
        self.play(5)
        samples = self.sink.emit('get-samples', 10)
        self.assertIsInstance(samples, list)
        self.assertTrue(all(isinstance(sample, Gst.Sample) for sample in samples))
        self.assertEqual(self.offsets(samples), [4, 3, 2])
        self.assertEqual(self.offsets(self.sink.emit('get-samples', 2)), [4, 3])
        self.assertEqual(self.sink.emit('get-samples', 0), [])

        ok, mapped = samples[0].get_buffer().map(Gst.MapFlags.READ)
        self.assertTrue(ok)
        self.assertEqual(bytes(mapped.data), bytes([4]) * 8)
        samples[0].get_buffer().unmap(mapped)

    def test_latest_sample(self):
        self.play(5)
        latest = self.sink.emit('get-latest-sample')
        self.assertEqual(latest.get_buffer().offset, 4)
        self.assertTrue(latest.get_caps().is_equal(Gst.Caps.from_string(CAPS)))
        info = latest.get_info()
        self.assertEqual(info.get_name(), 'latestframesink-frame')
        self.assertEqual(info.get_value('sequence'), 5)
        self.assertEqual(info.get_value('arrival-time'), self.sink.props.last_frame_time)

    def test_properties(self):
        before = GLib.get_monotonic_time() * 1000
        self.play(5)
        self.assertEqual(self.sink.props.frames_received, 5)
        self.assertEqual(self.sink.props.frames_dropped, 0)
        self.assertTrue(before <= self.sink.props.last_frame_time <= GLib.get_monotonic_time() * 1000)
        self.sink.props.buffer_size = 2
        self.assertEqual(self.offsets(self.sink.emit('get-samples', 10)), [4, 3])

    def test_clear(self):
        self.play(3)
        self.sink.emit('clear')
        self.assertIsNone(self.sink.emit('get-latest-sample'))
        self.assertEqual(self.sink.emit('get-samples', 10), [])
        self.assertEqual(self.sink.props.frames_received, 3)

    def test_new_frame_only_with_emit_signals(self):
        self.sink.connect('new-frame', self.on_new_frame)
        self.play(2)
        self.assertEqual(self.new_frames, 0)

        self.pipeline.set_state(Gst.State.NULL)
        self.sink.props.emit_signals = True
        self.play(4)
        self.assertEqual(self.new_frames, 4)


if __name__ == '__main__':
    Gst.init(None)
    if not Gst.ElementFactory.find('latestframesink'):
        sys.exit('latestframesink not found: is GST_PLUGIN_PATH set to the build?')
    unittest.main(verbosity=2)
