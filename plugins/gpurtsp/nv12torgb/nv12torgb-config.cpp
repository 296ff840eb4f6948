// SPDX-License-Identifier: MIT
#include "nv12torgb/nv12torgb-config.h"

#include <algorithm>
#include <cmath>

namespace gpurtsp::rgb {

namespace {

/* GST_CAPS_FEATURE_MEMORY_CUDA_MEMORY, spelled out: gst-cuda's headers need
 * CUDA's, and this file builds without them. */
constexpr const char *kCudaFeature = "memory:CUDAMemory";
constexpr const char *kInputFormats[] = {"NV12", "I420"};
constexpr const char *kOutputFormats[] = {"RGB", "BGR", "RGBA", "BGRA", "RGBx", "BGRx", "RGBP"};

bool has_kr_kb(GstVideoColorMatrix matrix) {
  gdouble kr, kb;
  return gst_video_color_matrix_get_Kr_Kb(matrix, &kr, &kb);
}

bool is_hd(const GstVideoInfo &info) {
  return GST_VIDEO_INFO_HEIGHT(&info) > 576;
}

Axis make_axis(int in_size, int out_size, bool cosited) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double luma_radius = std::max(1.0, scale);
  const double chroma_radius = std::max(1.0, scale / 2);
  return Axis{static_cast<float>(scale),
              static_cast<float>(luma_radius),
              static_cast<float>(1.0 / luma_radius),
              cosited ? 0.0f : 0.5f,
              static_cast<float>(chroma_radius),
              static_cast<float>(1.0 / chroma_radius)};
}

void set_format_list(GstStructure *s, const char *const *formats, size_t count) {
  GValue list = G_VALUE_INIT;
  gst_value_list_init(&list, count);
  for (size_t i = 0; i < count; i++) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_TYPE_STRING);
    g_value_set_static_string(&v, formats[i]);
    gst_value_list_append_and_take_value(&list, &v);
  }
  gst_structure_take_value(s, "format", &list);
}

/* @s limited to @formats (NV12 and I420, say), or nullptr when it allows
 * none of them. A structure without a format field allows them all. */
GstStructure *restrict_formats(const GstStructure *s, const char *const *formats, size_t count) {
  GstStructure *only = gst_structure_new_empty(gst_structure_get_name(s));
  set_format_list(only, formats, count);
  GstStructure *result = gst_structure_intersect(s, only);
  gst_structure_free(only);
  return result;
}

bool allows_any(const GstStructure *s, const char *const *formats, size_t count) {
  GstStructure *restricted = restrict_formats(s, formats, count);
  if (!restricted)
    return false;
  gst_structure_free(restricted);
  return true;
}

bool is_passthrough_structure(const GstStructure *s) {
  return !allows_any(s, kOutputFormats, G_N_ELEMENTS(kOutputFormats));
}

bool fixed_int(const GstStructure *s, const char *field, int &value) {
  const GValue *v = gst_structure_get_value(s, field);
  if (!v || !G_VALUE_HOLDS_INT(v))
    return false;
  value = g_value_get_int(v);
  return true;
}

bool fixed_fraction(const GstStructure *s, const char *field, int &n, int &d) {
  const GValue *v = gst_structure_get_value(s, field);
  if (!v || !GST_VALUE_HOLDS_FRACTION(v))
    return false;
  n = gst_value_get_fraction_numerator(v);
  d = gst_value_get_fraction_denominator(v);
  return true;
}

/* The other dimension that keeps display aspect ratio @dar_n/@dar_d with
 * pixel aspect ratio @par_n/@par_d: height from width (or, swapping the
 * ratios, width from height). */
int dimension_for_dar(int other, int dar_n, int dar_d, int par_n, int par_d) {
  const double value =
      static_cast<double>(other) * dar_d * par_n / (static_cast<double>(dar_n) * par_d);
  return static_cast<int>(std::clamp(std::lround(value), 1L, static_cast<long>(kMaxDimension)));
}

/* Chooses output width, height and pixel-aspect-ratio in @out so the
 * display aspect ratio of the input (@in, fixed) is kept: the input size
 * when @out allows it, else whatever @out fixes with the rest derived. */
void fixate_size(const GstStructure *in, GstStructure *out) {
  int in_w = 0, in_h = 0, in_par_n = 1, in_par_d = 1;
  gst_structure_get_int(in, "width", &in_w);
  gst_structure_get_int(in, "height", &in_h);
  fixed_fraction(in, "pixel-aspect-ratio", in_par_n, in_par_d);
  if (in_w <= 0 || in_h <= 0)
    return;

  int dar_n = 0, dar_d = 0;
  if (!gst_util_fraction_multiply(in_w, in_h, in_par_n, in_par_d, &dar_n, &dar_d))
    return;

  /* No pixel-aspect-ratio downstream: any will do. */
  if (!gst_structure_has_field(out, "pixel-aspect-ratio"))
    gst_structure_set(out, "pixel-aspect-ratio", GST_TYPE_FRACTION_RANGE, 1, G_MAXINT, G_MAXINT, 1,
                      nullptr);

  int w = 0, h = 0;
  const bool have_w = fixed_int(out, "width", w), have_h = fixed_int(out, "height", h);
  int par_n = 0, par_d = 0;
  if (have_w && have_h) {
    /* Size imposed: the pixel aspect ratio absorbs the difference. */
    int n = 0, d = 0;
    if (!fixed_fraction(out, "pixel-aspect-ratio", par_n, par_d) &&
        gst_util_fraction_multiply(dar_n, dar_d, h, w, &n, &d))
      gst_structure_fixate_field_nearest_fraction(out, "pixel-aspect-ratio", n, d);
    return;
  }

  gst_structure_fixate_field_nearest_fraction(out, "pixel-aspect-ratio", in_par_n, in_par_d);
  fixed_fraction(out, "pixel-aspect-ratio", par_n, par_d);
  if (have_w) {
    gst_structure_fixate_field_nearest_int(out, "height",
                                           dimension_for_dar(w, dar_n, dar_d, par_n, par_d));
  } else if (have_h) {
    gst_structure_fixate_field_nearest_int(out, "width",
                                           dimension_for_dar(h, dar_d, dar_n, par_d, par_n));
  } else {
    gst_structure_fixate_field_nearest_int(out, "width", in_w);
    fixed_int(out, "width", w);
    gst_structure_fixate_field_nearest_int(out, "height",
                                           dimension_for_dar(w, dar_n, dar_d, par_n, par_d));
  }
}

/* RGB out of YUV in: full range, RGB matrix, primaries and transfer
 * function carried over (the element converts neither). */
void fixate_output_colorimetry(const GstCaps *in_caps, GstStructure *out) {
  const GValue *current = gst_structure_get_value(out, "colorimetry");
  if (current && gst_value_is_fixed(current))
    return;
  GstVideoInfo in_info;
  if (!gst_video_info_from_caps(&in_info, in_caps))
    return;
  GstVideoColorimetry colorimetry = {GST_VIDEO_COLOR_RANGE_0_255, GST_VIDEO_COLOR_MATRIX_RGB,
                                     in_info.colorimetry.transfer, in_info.colorimetry.primaries};
  g_autofree gchar *preferred = gst_video_colorimetry_to_string(&colorimetry);
  if (!preferred)
    return;
  if (current)
    gst_structure_fixate_field_string(out, "colorimetry", preferred);
  else
    gst_structure_set(out, "colorimetry", G_TYPE_STRING, preferred, nullptr);
}

} // namespace

bool video_info_from_caps(GstVideoInfo &info, const GstCaps *caps) {
  if (!gst_video_info_from_caps(&info, caps))
    return false;
  const char *site = gst_structure_get_string(gst_caps_get_structure(caps, 0), "chroma-site");
  if (site && GST_VIDEO_INFO_IS_YUV(&info)) {
    const GstVideoChromaSite parsed = gst_video_chroma_site_from_string(site);
    if (parsed != GST_VIDEO_CHROMA_SITE_UNKNOWN)
      info.chroma_site = parsed;
  }
  return true;
}

InputColour resolve_input_colour(const GstVideoInfo &in, MatrixChoice choice) {
  InputColour colour{};
  switch (choice) {
  case MatrixChoice::Bt601:
    colour.matrix = GST_VIDEO_COLOR_MATRIX_BT601;
    break;
  case MatrixChoice::Bt709:
    colour.matrix = GST_VIDEO_COLOR_MATRIX_BT709;
    break;
  case MatrixChoice::Bt2020:
    colour.matrix = GST_VIDEO_COLOR_MATRIX_BT2020;
    break;
  case MatrixChoice::Auto:
    colour.matrix = in.colorimetry.matrix;
    if (!has_kr_kb(colour.matrix))
      colour.matrix = is_hd(in) ? GST_VIDEO_COLOR_MATRIX_BT709 : GST_VIDEO_COLOR_MATRIX_BT601;
    break;
  }
  colour.range = in.colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255 ? GST_VIDEO_COLOR_RANGE_0_255
                                                                     : GST_VIDEO_COLOR_RANGE_16_235;
  GstVideoChromaSite site = in.chroma_site;
  if (site == GST_VIDEO_CHROMA_SITE_UNKNOWN)
    site = is_hd(in) ? GST_VIDEO_CHROMA_SITE_MPEG2 : GST_VIDEO_CHROMA_SITE_JPEG;
  colour.h_cosited = (site & GST_VIDEO_CHROMA_SITE_H_COSITED) != 0;
  colour.v_cosited = (site & GST_VIDEO_CHROMA_SITE_V_COSITED) != 0;
  return colour;
}

ColorMatrix make_color_matrix(GstVideoColorMatrix matrix, GstVideoColorRange in_range,
                              GstVideoColorRange out_range) {
  gdouble kr = 0.2126, kb = 0.0722; /* BT.709 if asked for a matrix without coefficients */
  gst_video_color_matrix_get_Kr_Kb(matrix, &kr, &kb);
  const double kg = 1.0 - kr - kb;

  const bool in_full = in_range == GST_VIDEO_COLOR_RANGE_0_255;
  const double y_offset = in_full ? 0.0 : 16.0;
  const double y_excursion = in_full ? 255.0 : 219.0;
  const double c_excursion = in_full ? 255.0 : 224.0;
  const bool out_limited = out_range == GST_VIDEO_COLOR_RANGE_16_235;
  const double out_offset = out_limited ? 16.0 : 0.0;
  const double out_excursion = out_limited ? 219.0 : 255.0;

  const double y_gain = out_excursion / y_excursion;
  const double c_gain = out_excursion / c_excursion;
  return ColorMatrix{static_cast<float>(y_gain),
                     static_cast<float>(out_offset - y_gain * y_offset),
                     static_cast<float>(2.0 * (1.0 - kr) * c_gain),
                     static_cast<float>(-2.0 * kb * (1.0 - kb) / kg * c_gain),
                     static_cast<float>(-2.0 * kr * (1.0 - kr) / kg * c_gain),
                     static_cast<float>(2.0 * (1.0 - kb) * c_gain)};
}

std::optional<RgbLayout> rgb_layout(GstVideoFormat format) {
  switch (format) {
  case GST_VIDEO_FORMAT_RGB:
    return RgbLayout::RGB;
  case GST_VIDEO_FORMAT_BGR:
    return RgbLayout::BGR;
  case GST_VIDEO_FORMAT_RGBA:
  case GST_VIDEO_FORMAT_RGBx:
    return RgbLayout::RGBA;
  case GST_VIDEO_FORMAT_BGRA:
  case GST_VIDEO_FORMAT_BGRx:
    return RgbLayout::BGRA;
  case GST_VIDEO_FORMAT_RGBP:
    return RgbLayout::RGBP;
  default:
    return std::nullopt;
  }
}

std::optional<ConvertParams> make_convert_params(const GstVideoInfo &in, const GstVideoInfo &out,
                                                 MatrixChoice choice, std::string &error) {
  const GstVideoFormat in_format = GST_VIDEO_INFO_FORMAT(&in);
  if (in_format != GST_VIDEO_FORMAT_NV12 && in_format != GST_VIDEO_FORMAT_I420) {
    error = std::string("unsupported input format ") + gst_video_format_to_string(in_format);
    return std::nullopt;
  }
  if (!rgb_layout(GST_VIDEO_INFO_FORMAT(&out))) {
    error = std::string("unsupported output format ") +
            gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(&out));
    return std::nullopt;
  }
  for (const GstVideoInfo *info : {&in, &out}) {
    const int w = GST_VIDEO_INFO_WIDTH(info), h = GST_VIDEO_INFO_HEIGHT(info);
    if (w < 1 || h < 1 || w > kMaxDimension || h > kMaxDimension) {
      error = "unsupported frame size " + std::to_string(w) + "x" + std::to_string(h) + " (1.." +
              std::to_string(kMaxDimension) + ")";
      return std::nullopt;
    }
  }
  if (GST_VIDEO_INFO_IS_INTERLACED(&in)) {
    error = "interlaced input is not supported";
    return std::nullopt;
  }

  const InputColour colour = resolve_input_colour(in, choice);
  const GstVideoColorRange out_range = out.colorimetry.range == GST_VIDEO_COLOR_RANGE_16_235
                                           ? GST_VIDEO_COLOR_RANGE_16_235
                                           : GST_VIDEO_COLOR_RANGE_0_255;
  return ConvertParams{
      make_color_matrix(colour.matrix, colour.range, out_range),
      make_axis(GST_VIDEO_INFO_WIDTH(&in), GST_VIDEO_INFO_WIDTH(&out), colour.h_cosited),
      make_axis(GST_VIDEO_INFO_HEIGHT(&in), GST_VIDEO_INFO_HEIGHT(&out), colour.v_cosited)};
}

YuvSource make_source(const GstVideoInfo &in, const guint8 *const planes[], const gint strides[]) {
  const int w = GST_VIDEO_INFO_WIDTH(&in), h = GST_VIDEO_INFO_HEIGHT(&in);
  const int cw = GST_VIDEO_INFO_COMP_WIDTH(&in, 1), ch = GST_VIDEO_INFO_COMP_HEIGHT(&in, 1);
  YuvSource src{};
  src.y = Plane{planes[0], strides[0], 1, w, h};
  if (GST_VIDEO_INFO_FORMAT(&in) == GST_VIDEO_FORMAT_NV12) {
    src.cb = Plane{planes[1], strides[1], 2, cw, ch};
    src.cr = Plane{planes[1] + 1, strides[1], 2, cw, ch};
  } else {
    src.cb = Plane{planes[1], strides[1], 1, cw, ch};
    src.cr = Plane{planes[2], strides[2], 1, cw, ch};
  }
  return src;
}

RgbTarget make_target(const GstVideoInfo &out, guint8 *const planes[], const gint strides[]) {
  RgbTarget dst{};
  for (guint i = 0; i < GST_VIDEO_INFO_N_PLANES(&out) && i < 3; i++) {
    dst.data[i] = planes[i];
    dst.stride[i] = strides[i];
  }
  dst.width = GST_VIDEO_INFO_WIDTH(&out);
  dst.height = GST_VIDEO_INFO_HEIGHT(&out);
  return dst;
}

GstCaps *transform_caps(GstPadDirection direction, GstCaps *caps, GstCaps *filter) {
  const bool to_src = direction == GST_PAD_SINK;
  GstCaps *result = gst_caps_new_empty();
  g_autoptr(GstCapsFeatures) cuda = gst_caps_features_new(kCudaFeature, nullptr);
  for (guint i = 0; i < gst_caps_get_size(caps); i++) {
    GstCapsFeatures *features = gst_caps_get_features(caps, i);
    if (!features || !gst_caps_features_is_equal(features, cuda))
      continue;
    const GstStructure *s = gst_caps_get_structure(caps, i);
    /* Upstream of an output structure only when it can be RGB: YUV output is
     * the input itself (below). */
    if (to_src || allows_any(s, kOutputFormats, G_N_ELEMENTS(kOutputFormats))) {
      /* First the same size in the other formats, then any size: peers that
       * accept both see the size-preserving structure first. */
      GstStructure *same_size = gst_structure_copy(s);
      if (to_src)
        set_format_list(same_size, kOutputFormats, G_N_ELEMENTS(kOutputFormats));
      else
        set_format_list(same_size, kInputFormats, G_N_ELEMENTS(kInputFormats));
      gst_structure_remove_fields(same_size, "colorimetry", "chroma-site", nullptr);

      GstStructure *any_size = gst_structure_copy(same_size);
      gst_structure_set(any_size, "width", GST_TYPE_INT_RANGE, 1, kMaxDimension, "height",
                        GST_TYPE_INT_RANGE, 1, kMaxDimension, nullptr);
      if (gst_structure_has_field(any_size, "pixel-aspect-ratio"))
        gst_structure_set(any_size, "pixel-aspect-ratio", GST_TYPE_FRACTION_RANGE, 1, G_MAXINT,
                          G_MAXINT, 1, nullptr);

      result = gst_caps_merge_structure_full(result, same_size, gst_caps_features_copy(cuda));
      result = gst_caps_merge_structure_full(result, any_size, gst_caps_features_copy(cuda));
    }
    /* Last, YUV at the same size and colorimetry: first the passthrough
     * (the input itself), then NV12 <-> I420 by de-interleaving the chroma
     * (NV12 in, I420 out; there is no other YUV kernel). Last so RGB stays
     * first for peers that take both. */
    if (GstStructure *same = restrict_formats(s, kInputFormats, G_N_ELEMENTS(kInputFormats)))
      result = gst_caps_merge_structure_full(result, same, gst_caps_features_copy(cuda));
    const char *split_from = to_src ? "NV12" : "I420";
    if (GstStructure *split = restrict_formats(s, &split_from, 1)) {
      gst_structure_set(split, "format", G_TYPE_STRING, to_src ? "I420" : "NV12", nullptr);
      result = gst_caps_merge_structure_full(result, split, gst_caps_features_copy(cuda));
    }
  }
  if (filter) {
    GstCaps *filtered = gst_caps_intersect_full(filter, result, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(result);
    result = filtered;
  }
  return result;
}

bool is_passthrough(const GstVideoInfo &in, const GstVideoInfo &out) {
  return GST_VIDEO_INFO_FORMAT(&in) == GST_VIDEO_INFO_FORMAT(&out) &&
         GST_VIDEO_INFO_WIDTH(&in) == GST_VIDEO_INFO_WIDTH(&out) &&
         GST_VIDEO_INFO_HEIGHT(&in) == GST_VIDEO_INFO_HEIGHT(&out);
}

bool is_chroma_split(const GstVideoInfo &in, const GstVideoInfo &out) {
  return GST_VIDEO_INFO_FORMAT(&in) == GST_VIDEO_FORMAT_NV12 &&
         GST_VIDEO_INFO_FORMAT(&out) == GST_VIDEO_FORMAT_I420 &&
         GST_VIDEO_INFO_WIDTH(&in) == GST_VIDEO_INFO_WIDTH(&out) &&
         GST_VIDEO_INFO_HEIGHT(&in) == GST_VIDEO_INFO_HEIGHT(&out);
}

GstCaps *fixate_caps(GstPadDirection direction, GstCaps *caps, GstCaps *othercaps) {
  if (direction == GST_PAD_SINK) {
    /* RGB whenever downstream takes it, whatever the order of its caps:
     * passthrough only for peers that take nothing we convert to. */
    for (guint i = 0; i < gst_caps_get_size(othercaps); i++) {
      if (is_passthrough_structure(gst_caps_get_structure(othercaps, i)))
        continue;
      if (i > 0) {
        GstCaps *rgb = gst_caps_copy_nth(othercaps, i);
        gst_caps_unref(othercaps);
        othercaps = rgb;
      }
      break;
    }
  }
  GstCaps *result = gst_caps_make_writable(gst_caps_truncate(othercaps));
  if (gst_caps_is_empty(result))
    return result;
  GstStructure *out = gst_caps_get_structure(result, 0);
  const GstStructure *in = gst_caps_get_structure(caps, 0);

  if (is_passthrough_structure(direction == GST_PAD_SINK ? out : in)) {
    /* The other side unchanged where its peer takes it as it is
     * (GstBaseTransform then sees equal caps); else with what the peer
     * added, fixated. */
    if (gst_caps_is_subset(caps, result)) {
      gst_caps_unref(result);
      return gst_caps_copy(caps);
    }
    return gst_caps_fixate(result);
  }

  if (direction == GST_PAD_SINK) {
    /* The first format both sides take, in the order of the caps query's
     * answer: kOutputFormats' order unless downstream reorders it. */
    gst_structure_fixate_field(out, "format");
  } else {
    gst_structure_fixate_field_string(out, "format", "NV12");
  }
  fixate_size(in, out);
  if (direction == GST_PAD_SINK)
    fixate_output_colorimetry(caps, out);
  return gst_caps_fixate(result);
}

} // namespace gpurtsp::rgb
