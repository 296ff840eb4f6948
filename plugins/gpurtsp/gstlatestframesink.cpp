/* latestframesink: placeholder, replaced by the full element (issue 2). */
#include "gstlatestframesink.h"

struct _GstLatestFrameSink {
  GstBaseSink parent;
};

G_DEFINE_TYPE(GstLatestFrameSink, gst_latest_frame_sink, GST_TYPE_BASE_SINK)

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

static GstFlowReturn gst_latest_frame_sink_render(GstBaseSink *, GstBuffer *) { return GST_FLOW_OK; }

static void gst_latest_frame_sink_class_init(GstLatestFrameSinkClass *klass) {
  auto element_class = GST_ELEMENT_CLASS(klass);
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_set_static_metadata(element_class, "Latest frame sink", "Sink/Video",
                                        "Keeps the newest frames for any number of readers",
                                        "gpurtsp developers");
  GST_BASE_SINK_CLASS(klass)->render = gst_latest_frame_sink_render;
}

static void gst_latest_frame_sink_init(GstLatestFrameSink *) {}
