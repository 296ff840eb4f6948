// SPDX-License-Identifier: MIT
/* --stats-interval: one JSON object per line on stdout summing up every
 * camera, for benchmarks and scripts that run without the HTTP API
 * (tools/scripts/gpurtsp-bench reads it). Fields, all for the whole process:
 *
 *   t               seconds since the cameras were started
 *   cameras         cameras configured
 *   connecting, streaming, reconnecting, unauthorized, untrusted, failed
 *                   cameras in each state
 *   reconnects      reconnections so far, all cameras
 *   frames          JPEG frames stored so far
 *   decoded_frames  frames out of the decoders so far (before the rate limit)
 *   fps             JPEG frames/s now (sum of the cameras' rates)
 *   age_ms          {p50, p99, max} of the newest JPEG's age over streaming
 *                   cameras; null while none streams
 *   keyframe_decoder  only while cameras decode with gpukeyframedec:
 *                   {instances, decoded, dropped_busy, dropped_non_intra}
 *                   summed over the running decoders (counts restart with a
 *                   camera's pipeline), and of the shared NVDEC session pool
 *                   {pool_users, pool_sessions, pool_max_sessions,
 *                   pool_creation_failures, pool_waits, pool_timeouts,
 *                   pool_output_frames} summed over
 *                   the GPUs' pools (one per GPU, so pool_users ==
 *                   instances means every camera shares its GPU's pool)
 *   jpeg_encoder    only while cameras encode with gpujpegenc: {instances
 *                   (cameras), encodes, dropped_busy} summed over the running
 *                   encoders, and of the shared nvJPEG encoder pool
 *                   {pool_users (encoders), pool_sessions (slots),
 *                   pool_max_sessions, pool_creation_failures, pool_waits,
 *                   pool_timeouts} summed over
 *                   the GPUs' pools
 *   rtp_filter      only while cameras run rtpkeyframefilter (decode:
 *                   keyframes): {instances, packets_passed, packets_dropped,
 *                   keyframes_cut} summed over the running filters (the
 *                   drops include the TCP read buffer's and the UDP gaps
 *                   closed up), socket_filters (UDP sockets filtered in the
 *                   kernel now), socket_filters_removed (since the start)
 *   gpus            only while cameras decode on GPUs: per GPU {gpu,
 *                   cameras, keyframe_cameras, decoders_in_use,
 *                   keyframe_decoder, jpeg_encoder (as above, that GPU's)}
 *
 * /metrics reports the same figures from the same Totals (metrics.h).
 */
#pragma once

#include <string>
#include <vector>

#include "camera-registry.h"
#include "totals.h"

namespace gpurtsp::launch {

/* The line (without newline) for @cameras, @elapsed_s after the start. */
std::string stats_line(const std::vector<CameraStatus> &cameras, double elapsed_s,
                       const Totals &totals = {});

} // namespace gpurtsp::launch
