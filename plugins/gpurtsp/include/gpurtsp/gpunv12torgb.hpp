// SPDX-License-Identifier: MIT
/* gpunv12torgb's names, for applications. Header-only, needs gstreamer-1.0
 * only. Reference: docs/gpunv12torgb.md. */
#pragma once

#include <gpurtsp/cuda-element.hpp>

namespace gpurtsp::gpunv12torgb {

inline constexpr char kFactory[] = "gpunv12torgb";

namespace property {
inline constexpr const char *kCudaDeviceId = kCudaDeviceIdProperty;
/* GstGpuNv12ToRgbMatrix: "auto", "bt601", "bt709" or "bt2020". */
inline constexpr char kMatrix[] = "matrix";
} // namespace property

} // namespace gpurtsp::gpunv12torgb
