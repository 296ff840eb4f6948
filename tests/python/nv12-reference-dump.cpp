// SPDX-License-Identifier: MIT
/* Writes one NV12 test picture and gpunv12torgb's CPU reference conversion
 * of it, for test_nv12_reference.py to check the NumPy reference that the
 * GPU tests of the Python package compare camera frames with.
 *
 *   nv12-reference-dump CAPS PATTERN OUT.nv12 OUT.rgb
 *
 * CAPS: NV12 caps with width and height (colorimetry, chroma-site optional);
 * OUT.nv12: the luma rows then the chroma rows, each 2 * ceil(W / 2) bytes;
 * OUT.rgb: H rows of W * 3 bytes. */
#include "nv12torgb/nv12torgb-reference.h"

#include <gst/app/app.h>

#include <cstdio>
#include <string>

namespace {
bool write_rows(FILE *file, const GstVideoFrame &frame, guint plane, gint rows, gsize bytes) {
  for (gint r = 0; r < rows; r++) {
    auto *row = static_cast<const guint8 *>(GST_VIDEO_FRAME_PLANE_DATA(&frame, plane)) +
                r * GST_VIDEO_FRAME_PLANE_STRIDE(&frame, plane);
    if (std::fwrite(row, 1, bytes, file) != bytes)
      return false;
  }
  return true;
}
} // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  if (argc != 5) {
    std::fprintf(stderr, "usage: nv12-reference-dump CAPS PATTERN OUT.nv12 OUT.rgb\n");
    return 2;
  }
  GstCaps *caps = gst_caps_from_string(argv[1]);
  GstVideoInfo in;
  if (!caps || !gst_video_info_from_caps(&in, caps) ||
      GST_VIDEO_INFO_FORMAT(&in) != GST_VIDEO_FORMAT_NV12) {
    std::fprintf(stderr, "not NV12 caps: %s\n", argv[1]);
    return 2;
  }
  gst_caps_unref(caps);
  const std::string description = "videotestsrc num-buffers=1 pattern=" + std::string(argv[2]) +
                                  " ! video/x-raw,format=NV12,width=" + std::to_string(in.width) +
                                  ",height=" + std::to_string(in.height) +
                                  " ! capssetter replace=true caps=\"" + argv[1] +
                                  "\" ! appsink name=sink";
  GError *error = nullptr;
  GstElement *pipeline = gst_parse_launch(description.c_str(), &error);
  if (!pipeline) {
    std::fprintf(stderr, "%s\n", error->message);
    return 1;
  }
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  GstSample *sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 10 * GST_SECOND);
  if (!sample) {
    std::fprintf(stderr, "no frame from %s\n", description.c_str());
    return 1;
  }
  /* The info the element would derive from these caps. */
  gst_video_info_from_caps(&in, gst_sample_get_caps(sample));
  GstVideoInfo out;
  gst_video_info_set_format(&out, GST_VIDEO_FORMAT_RGB, in.width, in.height);
  GstBuffer *rgb = gst_buffer_new_allocate(nullptr, out.size, nullptr);
  GstVideoFrame nv12_frame, rgb_frame;
  if (!gst_video_frame_map(&nv12_frame, &in, gst_sample_get_buffer(sample), GST_MAP_READ) ||
      !gst_video_frame_map(&rgb_frame, &out, rgb, GST_MAP_WRITE)) {
    std::fprintf(stderr, "cannot map the frames\n");
    return 1;
  }
  std::string why;
  if (!gpurtsp::rgb::convert_reference(nv12_frame, rgb_frame, gpurtsp::rgb::MatrixChoice::Auto,
                                       why)) {
    std::fprintf(stderr, "reference refused the frame: %s\n", why.c_str());
    return 1;
  }
  FILE *nv12_file = std::fopen(argv[3], "wb");
  FILE *rgb_file = std::fopen(argv[4], "wb");
  const gsize row = (in.width + 1) / 2 * 2;
  const bool ok = nv12_file && rgb_file && write_rows(nv12_file, nv12_frame, 0, in.height, row) &&
                  write_rows(nv12_file, nv12_frame, 1, (in.height + 1) / 2, row) &&
                  write_rows(rgb_file, rgb_frame, 0, in.height, in.width * 3u);
  if (nv12_file)
    std::fclose(nv12_file);
  if (rgb_file)
    std::fclose(rgb_file);
  gst_video_frame_unmap(&nv12_frame);
  gst_video_frame_unmap(&rgb_frame);
  gst_buffer_unref(rgb);
  gst_sample_unref(sample);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
  return ok ? 0 : 1;
}
