// SPDX-License-Identifier: MIT
/* Fewer system calls for rtspsrc's RTSP-over-TCP reader: a read buffer
 * between GstRTSPConnection and its socket, put there through GIO's proxy
 * extension points, so rtspsrc itself is unchanged.
 *
 * Why: GStreamer's GstRTSPConnection reads each interleaved RTP packet in
 * pieces straight from the socket (the '$' byte, the rest of its 4-byte
 * header, the payload: 3 recv() a packet) and, when the socket runs dry, a
 * fourth recv() that fails with EAGAIN, a poll() and a GCancellable eventfd
 * made and closed for that poll. At 1,000 cameras (~180,000 packets a
 * second) that reader was ~80 % of a keyframe camera's CPU (docs/scale.md).
 * With the buffer one recv() takes everything the socket holds (64 KiB at
 * most) and the packets are cut out of it: the syscalls per packet drop
 * from ~4 to well under one, and the replies, keep-alives and RTCP that
 * come in between are read from the same buffer in order.
 *
 * How: a GProxyResolver that answers "gpurtsp-read-ahead://HOST:PORT" for
 * rtsp:// URLs (and whatever the system's resolver says for everything
 * else, and for rtsp:// URLs that the system sends through a real proxy),
 * and a GProxy of that name whose "handshake" wraps the TCP connection's
 * input in the read buffer. GSocketClient connects the socket to HOST:PORT
 * itself, as without a proxy; GstRTSPConnection gets a GSocketConnection
 * (GIO's TCP wrapper) whose input stream is the buffered one and whose
 * socket is the real one. Only plain rtsp://: rtsps:// goes through TLS,
 * which reads whole records already, and no URL with a real proxy.
 *
 * Keyframe cameras (RtspUrlUse): the buffer also drops the RTP packets of
 * delta frames before GstRTSPConnection sees them (rtp/rtsp-interleaved-
 * filter.h), so rtspsrc makes no message, buffer or push for ~94 % of a
 * camera's packets; rtpkeyframefilter in rtpbin drops them otherwise.
 *
 * Process-wide, like the malloc arena cap: installed by gpurtsp-launch (and
 * the Python API) before any connection is made; an application that embeds
 * the plugin is not changed. GPURTSP_RTSP_READ_AHEAD=0 turns it off. */
#pragma once

#include <gio/gio.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace gpurtsp::launch {

/* Bytes one read takes from the socket at most. */
inline constexpr std::size_t kRtspReadAheadBytes = 64 * 1024;

/* GPURTSP_RTSP_COALESCE_MS=N: after a small read (under
 * kRtspCoalesceBelowBytes: the socket had only a trickle), the next read
 * waits N ms from it, so that the packets arriving meanwhile come in one
 * wakeup of the reader thread rather than one a frame. A larger read never
 * waits, so no camera is held to a TCP window per interval. Off by default:
 * at 50 ms the reader threads' CPU was 0.77x on 2 oversubscribed cores but
 * unchanged (1.03x) with 1,000 cameras on the GPU host's 16, while packets
 * arrive up to N ms later (docs/scale.md). */
inline constexpr unsigned kDefaultRtspCoalesceMs = 0;
inline constexpr unsigned kMaxRtspCoalesceMs = 1000;
/* 16 KiB in 50 ms is 2.6 Mbit/s: a 720p camera at 2 Mbit/s waits. */
inline constexpr std::size_t kRtspCoalesceBelowBytes = 16 * 1024;

/* GPURTSP_RTSP_KEYFRAME_COALESCE_MS=N: the same wait for the connections
 * of keyframe-only cameras, after a small read that dropped packets only:
 * those are delta frames nobody waits for, and a keyframe is a large read
 * that never waits, so only a keyframe that starts during a wait arrives up
 * to N ms later; replies during set-up come at once. At 200 ms, 1,000
 * cameras took 1.62 / 1.76 cores against 2.38 / 2.49 without it, age p99
 * +~50 ms (H200; docs/scale.md). */
inline constexpr unsigned kDefaultRtspKeyframeCoalesceMs = 200;

/* The name of the GProxy, and the scheme of the proxy URIs it answers. */
inline constexpr const char *kRtspReadAheadProtocol = "gpurtsp-read-ahead";

/* Registers the resolver and the proxy, unless GPURTSP_RTSP_READ_AHEAD=0;
 * returns whether it is in use, with @why when not (when it is: a setting
 * of the environment that was ignored, or empty). Call before the first
 * network connection of the process (g_proxy_resolver_get_default() picks
 * its resolver once); calling it again changes nothing. */
bool install_rtsp_read_ahead(std::string &why);

/* The coalescing interval in use (kDefaultRtspCoalesceMs unless the
 * environment or a test changed it), and a change of it for the
 * connections' next reads, capped at kMaxRtspCoalesceMs. */
unsigned rtsp_read_ahead_coalesce_ms();
void set_rtsp_read_ahead_coalesce_ms(unsigned ms);
/* The same for keyframe-only cameras' connections. */
unsigned rtsp_read_ahead_keyframe_coalesce_ms();
void set_rtsp_read_ahead_keyframe_coalesce_ms(unsigned ms);

/* Whether install_rtsp_read_ahead() put it in place. */
bool rtsp_read_ahead_installed();

/* Whether keyframe cameras' delta packets are dropped in the buffer:
 * GPURTSP_RTSP_KEYFRAME_FILTER=0 (read at install) or a test turns it off. */
bool rtsp_read_ahead_filters_keyframes();
void set_rtsp_read_ahead_filters_keyframes(bool on);

/* A camera's use of an RTSP server, for as long as it lives. With
 * @keyframes_only, the read buffers of connections made to that server
 * (host and port: GIO asks the resolver without the path) drop the delta
 * frames' packets, unless a camera that needs every packet uses the same
 * server: an NVR serving both kinds gets no filtering in the buffer (then
 * rtpkeyframefilter drops them in rtpbin). A location that is not
 * rtsp://, rtspt:// or rtspu:// registers nothing. */
class RtspUrlUse {
public:
  RtspUrlUse(const std::string &location, bool keyframes_only);
  ~RtspUrlUse();
  RtspUrlUse(const RtspUrlUse &) = delete;
  RtspUrlUse &operator=(const RtspUrlUse &) = delete;

private:
  std::string key_; /* empty: not registered */
  bool keyframes_only_;
};

/* Delta frames' packets the read buffers dropped, process-wide. */
std::uint64_t rtsp_read_ahead_packets_dropped();

/* For tests: @base_input wrapped in the read buffer (transfer full). */
GInputStream *rtsp_read_ahead_stream_new(GInputStream *base_input);

/* For tests: how many reads of the base stream the buffered streams made,
 * process-wide. */
std::size_t rtsp_read_ahead_base_reads();

} // namespace gpurtsp::launch
