// SPDX-License-Identifier: MIT
/* libFuzzer target: malformed RTP/H.264 through the decode chain of a
 * camera, from depayloader to latestframesink, in process:
 *   appsrc ! rtph264depay ! h264parse ! avdec_h264 ! videoconvert ! jpegenc ! latestframesink
 * or, with GPURTSP_FUZZ_DECODER=nvidia (a GPU host), nvh264dec ! gpujpegenc
 * in place of the software decoder and encoder.
 *
 * The input is a stream of RTP packets framed as in RFC 4571: a 16-bit
 * big-endian length, then that many bytes (a length past the end truncates
 * the last packet). The pipeline is built once; every input is pushed,
 * followed by EOS, and the harness waits for EOS or an error before cycling
 * the pipeline through READY for the next input. An element error is a fine
 * answer to garbage; a crash, a sanitizer report, a critical warning or no
 * answer within kInputTimeout is not. Every frame the sink keeps must be a
 * JPEG. */
#include <gpurtsp/latestframesink.hpp>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace sink_signal = gpurtsp::latestframesink::signal_name;

namespace {

constexpr GstClockTime kInputTimeout = 20 * GST_SECOND;

constexpr const char *kCaps =
    "application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96";

struct Harness {
  GstElement *pipeline = nullptr;
  GstAppSrc *src = nullptr;
  GstElement *sink = nullptr;
  GstBus *bus = nullptr;
};

Harness harness;

std::string pipeline_description() {
  const char *decoder = g_getenv("GPURTSP_FUZZ_DECODER");
  const bool nvidia = decoder && std::strcmp(decoder, "nvidia") == 0;
  return std::string("appsrc name=src format=time caps=\"") + kCaps +
         "\" ! rtph264depay ! h264parse ! " +
         (nvidia ? "nvh264dec ! gpujpegenc"
                 : "avdec_h264 max-threads=1 output-corrupt=false ! videoconvert ! jpegenc") +
         " ! latestframesink name=sink sync=false buffer-size=4";
}

void set_state(GstState state) {
  if (gst_element_set_state(harness.pipeline, state) == GST_STATE_CHANGE_FAILURE) {
    std::fprintf(stderr, "fuzz-rtp-h264: cannot set the pipeline to %s\n",
                 gst_element_state_get_name(state));
    std::abort();
  }
}

/* Waits for the input's end: EOS, or an error that stopped the stream. */
void wait_for_end() {
  g_autoptr(GstMessage) message = gst_bus_timed_pop_filtered(
      harness.bus, kInputTimeout, GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  if (!message) {
    std::fprintf(stderr, "fuzz-rtp-h264: no EOS or error within %" GST_TIME_FORMAT "\n",
                 GST_TIME_ARGS(kInputTimeout));
    std::abort();
  }
}

/* The frames the sink kept are JPEGs (SOI marker) or nothing at all. */
void check_frames() {
  GstSample *sample = nullptr;
  g_signal_emit_by_name(harness.sink, sink_signal::kGetLatestSample, &sample);
  if (!sample)
    return;
  GstBuffer *buffer = gst_sample_get_buffer(sample);
  uint8_t soi[2] = {};
  if (!buffer || gst_buffer_extract(buffer, 0, soi, 2) != 2 || soi[0] != 0xff || soi[1] != 0xd8)
    std::abort();
  gst_sample_unref(sample);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  gst_init(nullptr, nullptr);
  /* A critical warning is a precondition that failed: a bug to report. */
  g_log_set_always_fatal(GLogLevelFlags(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR));

  g_autoptr(GError) error = nullptr;
  harness.pipeline = gst_parse_launch(pipeline_description().c_str(), &error);
  if (!harness.pipeline) {
    std::fprintf(stderr, "fuzz-rtp-h264: %s\n", error->message);
    std::exit(1);
  }
  harness.src = GST_APP_SRC(gst_bin_get_by_name(GST_BIN(harness.pipeline), "src"));
  harness.sink = gst_bin_get_by_name(GST_BIN(harness.pipeline), "sink");
  harness.bus = gst_element_get_bus(harness.pipeline);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  set_state(GST_STATE_PLAYING);
  size_t at = 0;
  for (GstClockTime pts = 0; at + 2 <= size; pts += GST_MSECOND) {
    const size_t length = std::min<size_t>((size_t(data[at]) << 8) | data[at + 1], size - at - 2);
    at += 2;
    /* gst_buffer_new_memdup() refuses zero bytes; an empty packet is valid garbage. */
    GstBuffer *packet = length ? gst_buffer_new_memdup(data + at, length) : gst_buffer_new();
    GST_BUFFER_PTS(packet) = pts;
    at += length;
    if (gst_app_src_push_buffer(harness.src, packet) != GST_FLOW_OK)
      break; /* flushing: the pipeline already stopped on an error */
  }
  gst_app_src_end_of_stream(harness.src);
  wait_for_end();
  check_frames();
  set_state(GST_STATE_READY);
  /* Messages posted after the one that ended the input belong to it. */
  gst_bus_set_flushing(harness.bus, TRUE);
  gst_bus_set_flushing(harness.bus, FALSE);
  return 0;
}
