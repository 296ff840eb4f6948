// SPDX-License-Identifier: MIT
/* gpurtsp-nvdec-probe: what one NVDEC session costs, how many a process, a
 * CUDA context and the GPU allow, and how fast one session decodes keyframes
 * (docs/nvdec-sessions.md explains the questions and how to read the answers).
 *
 *   gpurtsp-nvdec-probe sessions   [options]   create decoders until --max or failure
 *   gpurtsp-nvdec-probe throughput [options]   decode keyframes as fast as possible
 *
 * Every result line starts with "probe:"; the verdicts with "probe: RESULT". */
#include "clip.h"
#include "cuda-driver.h"
#include "keyframedec/nvcuvid-loader.h"
#include "keyframedec/nvdec-session-pool.h"

#include <gst/gst.h>

#include <dirent.h>
#include <poll.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace nv = gpurtsp::nvcuvid;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string mode;
  int max = 1024;          /* sessions: stop after this many */
  int contexts = 1;        /* sessions: spread over this many CUDA contexts */
  int processes = 1;       /* sessions: run this many probes at once */
  int decode_surfaces = 0; /* 0 = the parser's minimum for the clip */
  int output_surfaces = 1;
  int intra_only = 1; /* ulIntraDecodeOnly */
  int streams = 0;    /* sessions: one CUDA stream per session, as nvh264dec does */
  int device = 0;
  int report_every = 16;
  int timeout = 110; /* seconds until the probe gives up */
  int decode = 1;    /* sessions: decode a keyframe on every session */
  int rounds = 1;    /* sessions: create and destroy them this many times */
  int buffers = 0;   /* sessions: NV12 frames cuMemAlloc'd per session, as a decoder's pool */
  int threads = 1;   /* throughput: sessions decoding in parallel */
  int frames = 2000; /* throughput: keyframes per thread */
  std::string clip;  /* Annex-B file; generated when empty */
  std::string codec = "h264";
  int width = 1280, height = 720;
  int keyint = 5;
  std::string pattern = "smpte";
};

std::string g_prefix = "probe:";

void say(const char *format, ...) G_GNUC_PRINTF(1, 2);
void say(const char *format, ...) {
  char line[2048];
  va_list args;
  va_start(args, format);
  vsnprintf(line, sizeof(line), format, args);
  va_end(args);
  /* One write per line: lines of concurrent probes stay whole on a pipe. */
  std::string out = g_prefix + " " + line + "\n";
  fwrite(out.data(), 1, out.size(), stdout);
  fflush(stdout);
}

void on_alarm(int) {
  static const char msg[] = "probe: TIMEOUT: gave up (raise --timeout)\n";
  ssize_t ignored = write(STDOUT_FILENO, msg, sizeof(msg) - 1);
  (void)ignored;
  _exit(124);
}

bool parse_options(int argc, char **argv, Options &opt) {
  if (argc < 2)
    return false;
  opt.mode = argv[1];
  if (opt.mode != "sessions" && opt.mode != "throughput")
    return false;
  std::map<std::string, int *> ints = {
      {"max", &opt.max},
      {"contexts", &opt.contexts},
      {"processes", &opt.processes},
      {"decode-surfaces", &opt.decode_surfaces},
      {"output-surfaces", &opt.output_surfaces},
      {"intra-only", &opt.intra_only},
      {"streams", &opt.streams},
      {"device", &opt.device},
      {"report-every", &opt.report_every},
      {"timeout", &opt.timeout},
      {"decode", &opt.decode},
      {"rounds", &opt.rounds},
      {"buffers", &opt.buffers},
      {"threads", &opt.threads},
      {"frames", &opt.frames},
      {"width", &opt.width},
      {"height", &opt.height},
      {"keyint", &opt.keyint},
  };
  std::map<std::string, std::string *> strings = {
      {"clip", &opt.clip}, {"codec", &opt.codec}, {"pattern", &opt.pattern}};
  for (int i = 2; i < argc; i++) {
    std::string arg = argv[i];
    auto eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos) {
      fprintf(stderr, "bad argument %s (expected --name=value)\n", arg.c_str());
      return false;
    }
    std::string name = arg.substr(2, eq - 2), value = arg.substr(eq + 1);
    if (auto it = ints.find(name); it != ints.end()) {
      char *end = nullptr;
      long v = strtol(value.c_str(), &end, 10);
      if (!end || *end || v < 0 || v > 1000000) {
        fprintf(stderr, "bad value for --%s: %s\n", name.c_str(), value.c_str());
        return false;
      }
      *it->second = static_cast<int>(v);
    } else if (auto st = strings.find(name); st != strings.end()) {
      *st->second = value;
    } else {
      fprintf(stderr, "unknown option --%s\n", name.c_str());
      return false;
    }
  }
  if (opt.codec != "h264" && opt.codec != "h265") {
    fprintf(stderr, "--codec must be h264 or h265\n");
    return false;
  }
  opt.contexts = std::max(1, opt.contexts);
  opt.processes = std::max(1, opt.processes);
  opt.threads = std::max(1, opt.threads);
  opt.report_every = std::max(1, opt.report_every);
  opt.rounds = std::max(1, opt.rounds);
  return true;
}

void usage() {
  fprintf(stderr, "usage: gpurtsp-nvdec-probe sessions|throughput [--name=value ...]\n"
                  "  sessions:   --max=1024 --contexts=1 --processes=1 --streams=0 --decode=1\n"
                  "              --rounds=1 --buffers=0 (NV12 frames allocated per session)\n"
                  "  throughput: --threads=1 --frames=2000\n"
                  "  both:       --clip=FILE (Annex-B; generated when absent) --codec=h264|h265\n"
                  "              --width=1280 --height=720 --keyint=5 --pattern=smpte\n"
                  "              --decode-surfaces=0 (0 = the clip's minimum) --output-surfaces=1\n"
                  "              --intra-only=1 --device=0 --timeout=110 --report-every=16\n");
}

/* --- process resources ---------------------------------------------------- */

struct ProcCounters {
  long maps = 0, threads = 0, fds = 0, rss_kib = 0;
};

ProcCounters proc_counters() {
  ProcCounters c;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    c.maps++;
  std::ifstream status("/proc/self/status");
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0)
      c.threads = atol(line.c_str() + 8);
    else if (line.rfind("VmRSS:", 0) == 0)
      c.rss_kib = atol(line.c_str() + 6);
  }
  if (DIR *dir = opendir("/proc/self/fd")) {
    while (readdir(dir))
      c.fds++;
    closedir(dir);
    c.fds -= 3; /* ".", "..", and the directory's own fd */
  }
  return c;
}

std::string first_line(const char *path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string rlimit_text(int resource) {
  struct rlimit rl;
  if (getrlimit(resource, &rl) != 0)
    return "?";
  return rl.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(rl.rlim_cur);
}

/* --- statistics --------------------------------------------------------- */

double percentile(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

/* --- NVDECODE helpers --------------------------------------------------- */

probe::CudaDriver cuda;
const nv::Api *nvdec = nullptr;

/* A cuvid parser calling std::functions. */
class Parser {
public:
  std::function<int(CUVIDEOFORMAT *)> on_sequence = [](CUVIDEOFORMAT *) { return 1; };
  std::function<int(CUVIDPICPARAMS *)> on_decode = [](CUVIDPICPARAMS *) { return 1; };

  ~Parser() {
    if (parser_)
      nvdec->cuvidDestroyVideoParser(parser_);
  }
  CUresult create(cudaVideoCodec codec) {
    CUVIDPARSERPARAMS params = gpurtsp::nvdec_keyframe_parser_params(
        codec, this,
        [](void *self, CUVIDEOFORMAT *f) { return static_cast<Parser *>(self)->on_sequence(f); },
        [](void *self, CUVIDPICPARAMS *p) { return static_cast<Parser *>(self)->on_decode(p); },
        [](void *, CUVIDPARSERDISPINFO *) { return 1; });
    return nvdec->cuvidCreateVideoParser(&parser_, &params);
  }
  CUresult parse(const std::vector<uint8_t> &access_unit) {
    CUVIDSOURCEDATAPACKET packet{};
    packet.flags = CUVID_PKT_ENDOFPICTURE;
    packet.payload = access_unit.data();
    packet.payload_size = access_unit.size();
    return nvdec->cuvidParseVideoData(parser_, &packet);
  }

private:
  CUvideoparser parser_ = nullptr;
};

struct SessionSpec {
  cudaVideoCodec codec = cudaVideoCodec_H264;
  unsigned width = 0, height = 0; /* coded size */
  unsigned decode_surfaces = 0;
  unsigned output_surfaces = 1;
  bool intra_only = true;
};

/* The plugin's own create info (the shared sessions' settings), with the
 * probe's surface counts and intra-only choice. */
CUresult create_decoder(const SessionSpec &spec, CUvideodecoder *decoder) {
  gpurtsp::NvdecFormat format;
  format.codec = spec.codec;
  format.coded_width = spec.width;
  format.coded_height = spec.height;
  format.num_decode_surfaces = spec.decode_surfaces;
  CUVIDDECODECREATEINFO info =
      gpurtsp::nvdec_create_info(format, spec.intra_only, spec.output_surfaces);
  return nvdec->cuvidCreateDecoder(decoder, &info);
}

/* Decodes @params on @decoder, maps the picture and copies it to @dst (NV12,
 * pitch = width) on @stream, then unmaps. Returns the failed call or nullptr. */
const char *decode_picture(CUvideodecoder decoder, CUVIDPICPARAMS *params, const SessionSpec &spec,
                           CUstream stream, CUdeviceptr dst, CUresult &ret) {
  ret = nvdec->cuvidDecodePicture(decoder, params);
  if (ret != CUDA_SUCCESS)
    return "cuvidDecodePicture";
  CUVIDPROCPARAMS proc{};
  proc.progressive_frame = 1;
  proc.output_stream = stream;
  unsigned long long surface = 0;
  unsigned int pitch = 0;
  ret = nvdec->cuvidMapVideoFrame64(decoder, params->CurrPicIdx, &surface, &pitch, &proc);
  if (ret != CUDA_SUCCESS)
    return "cuvidMapVideoFrame64";
  CUDA_MEMCPY2D copy{};
  copy.srcMemoryType = CU_MEMORYTYPE_DEVICE;
  copy.srcDevice = surface;
  copy.srcPitch = pitch;
  copy.dstMemoryType = CU_MEMORYTYPE_DEVICE;
  copy.dstDevice = dst;
  copy.dstPitch = spec.width;
  copy.WidthInBytes = spec.width;
  copy.Height = spec.height * 3 / 2; /* luma then chroma rows, contiguous in both */
  const char *failed = nullptr;
  ret = cuda.memcpy_2d_async(&copy, stream);
  if (ret != CUDA_SUCCESS)
    failed = "cuMemcpy2DAsync";
  else if ((ret = cuda.stream_synchronize(stream)) != CUDA_SUCCESS)
    failed = "cuStreamSynchronize";
  CUresult unmap = nvdec->cuvidUnmapVideoFrame64(decoder, surface);
  if (!failed && unmap != CUDA_SUCCESS) {
    ret = unmap;
    failed = "cuvidUnmapVideoFrame64";
  }
  return failed;
}

/* FNV-1a of the luma plane, and its mean. */
uint64_t luma_hash(const std::vector<uint8_t> &luma, double &mean) {
  uint64_t h = 1469598103934665603ull;
  uint64_t sum = 0;
  for (uint8_t b : luma) {
    h = (h ^ b) * 1099511628211ull;
    sum += b;
  }
  mean = luma.empty() ? 0 : static_cast<double>(sum) / luma.size();
  return h;
}

/* Loads (or makes) the clip and learns its coded size and surface needs. */
bool prepare_clip(const Options &opt, probe::Clip &clip, SessionSpec &spec) {
  std::string why;
  std::string path = opt.clip;
  if (path.empty()) {
    path = "/tmp/gpurtsp-nvdec-probe-" + std::to_string(getpid()) + "." + opt.codec;
    if (!probe::make_clip(path, opt.codec, opt.width, opt.height, 250, opt.keyint, opt.pattern,
                          why)) {
      say("ERROR: cannot make a test clip: %s (pass --clip=FILE)", why.c_str());
      return false;
    }
  }
  const bool ok = probe::read_clip(path, opt.codec, clip, why);
  if (opt.clip.empty())
    unlink(path.c_str());
  if (!ok) {
    say("ERROR: %s", why.c_str());
    return false;
  }
  size_t bytes = 0;
  for (const auto &k : clip.keyframes)
    bytes += k.size();
  say("clip: %s, %zu access units, %zu keyframes, keyframe avg %.1f KiB",
      opt.clip.empty() ? "generated" : opt.clip.c_str(), clip.frames, clip.keyframes.size(),
      bytes / 1024.0 / clip.keyframes.size());

  Parser parser;
  CUVIDEOFORMAT format{};
  bool have_format = false;
  parser.on_sequence = [&](CUVIDEOFORMAT *f) {
    format = *f;
    have_format = true;
    return 1;
  };
  spec.codec = opt.codec == "h265" ? cudaVideoCodec_HEVC : cudaVideoCodec_H264;
  CUresult ret = parser.create(spec.codec);
  if (ret == CUDA_SUCCESS)
    ret = parser.parse(clip.keyframes[0]);
  if (ret != CUDA_SUCCESS || !have_format) {
    say("ERROR: the parser found no sequence header in the first keyframe (%s)",
        cuda.error_name(ret).c_str());
    return false;
  }
  if (format.chroma_format != cudaVideoChromaFormat_420 || format.bit_depth_luma_minus8) {
    say("ERROR: the clip is not 8-bit 4:2:0");
    return false;
  }
  spec.width = format.coded_width;
  spec.height = format.coded_height;
  spec.decode_surfaces = opt.decode_surfaces > 0 ? opt.decode_surfaces
                                                 : std::max(1, (int)format.min_num_decode_surfaces);
  say("clip format: coded %ux%u, display %d,%d-%d,%d, min_num_decode_surfaces %u, progressive %u",
      format.coded_width, format.coded_height, format.display_area.left, format.display_area.top,
      format.display_area.right, format.display_area.bottom, format.min_num_decode_surfaces,
      format.progressive_sequence);
  return true;
}

bool init_gpu(const Options &opt, CUdevice &device) {
  std::string why;
  const probe::CudaDriver *driver = probe::CudaDriver::api(why);
  if (!driver) {
    say("SKIP: %s", why.c_str());
    return false;
  }
  cuda = *driver;
  nvdec = nv::api(why);
  if (!nvdec) {
    say("SKIP: %s", why.c_str());
    return false;
  }
  CUresult ret = cuda.device_get(&device, opt.device);
  if (ret != CUDA_SUCCESS) {
    say("SKIP: cuDeviceGet(%d) failed: %s", opt.device, cuda.error_name(ret).c_str());
    return false;
  }
  return true;
}

void print_environment(CUdevice device) {
  char name[256] = {};
  cuda.device_get_name(name, sizeof(name) - 1, device);
  int version = 0;
  cuda.driver_get_version(&version);
  say("device: %s, CUDA driver API %d.%d, %s", name, version / 1000, version % 1000 / 10,
      first_line("/proc/driver/nvidia/version").c_str());
  say("limits: nofile=%s nproc=%s memlock=%s as=%s vm.max_map_count=%s kernel.threads-max=%s",
      rlimit_text(RLIMIT_NOFILE).c_str(), rlimit_text(RLIMIT_NPROC).c_str(),
      rlimit_text(RLIMIT_MEMLOCK).c_str(), rlimit_text(RLIMIT_AS).c_str(),
      first_line("/proc/sys/vm/max_map_count").c_str(),
      first_line("/proc/sys/kernel/threads-max").c_str());
  CUVIDDECODECAPS caps{};
  caps.eCodecType = cudaVideoCodec_H264;
  caps.eChromaFormat = cudaVideoChromaFormat_420;
  /* cuvidGetDecoderCaps needs a current context; the caller has one. */
  CUresult ret = nvdec->cuvidGetDecoderCaps(&caps);
  say("H.264 caps: %s, supported %u, NVDECs %u, %ux%u..%ux%u, max MBs %u",
      cuda.error_name(ret).c_str(), caps.bIsSupported, caps.nNumNVDECs, caps.nMinWidth,
      caps.nMinHeight, caps.nMaxWidth, caps.nMaxHeight, caps.nMaxMBCount);
}

/* cuMemGetInfo fails without a current context, and the probe keeps none
 * current between its steps: @ctx is pushed for the call. */
size_t free_vram(CUcontext ctx) {
  probe::CtxScope scope(cuda, ctx);
  size_t free = 0, total = 0;
  if (CUresult ret = cuda.mem_get_info(&free, &total); ret != CUDA_SUCCESS) {
    say("ERROR: cuMemGetInfo failed: %s", cuda.error_name(ret).c_str());
    exit(1);
  }
  return free;
}

/* --- sessions mode ------------------------------------------------------ */

struct Session {
  CUvideodecoder decoder = nullptr;
  CUcontext ctx = nullptr;
  CUstream stream = nullptr;
  std::vector<CUdeviceptr> buffers; /* --buffers */
};

constexpr int kSkip = -2; /* no GPU, driver or NVDECODE library */
constexpr int kError = -1;

/* @ready_fd / @go_fd: with --processes, tell the parent how many sessions we
 * hold, then hold them until it says go. Returns sessions created, kSkip or
 * kError. */
int run_sessions(const Options &opt, int ready_fd, int go_fd) {
  CUdevice device;
  if (!init_gpu(opt, device))
    return kSkip;

  std::vector<CUcontext> contexts(1);
  CUresult ctx_ret = cuda.ctx_create(&contexts[0], 0, device); /* current while we set up */
  if (ctx_ret != CUDA_SUCCESS) {
    say("ERROR: cuCtxCreate failed: %s", cuda.error_name(ctx_ret).c_str());
    return kError;
  }
  print_environment(device);

  probe::Clip clip;
  SessionSpec spec;
  spec.output_surfaces = opt.output_surfaces;
  spec.intra_only = opt.intra_only != 0;
  if (opt.decode) {
    if (!prepare_clip(opt, clip, spec))
      return kError;
  } else {
    spec.codec = opt.codec == "h265" ? cudaVideoCodec_HEVC : cudaVideoCodec_H264;
    spec.width = (opt.width + 15) & ~15;
    spec.height = (opt.height + 15) & ~15;
    spec.decode_surfaces = opt.decode_surfaces > 0 ? opt.decode_surfaces : 4;
  }
  CUcontext popped;
  cuda.ctx_pop_current(&popped);

  for (int k = 1; k < opt.contexts; k++) {
    CUcontext ctx;
    size_t before = free_vram(contexts[0]);
    CUresult ret = cuda.ctx_create(&ctx, 0, device);
    if (ret != CUDA_SUCCESS) {
      say("ERROR: cuCtxCreate #%d failed: %s", k + 1, cuda.error_name(ret).c_str());
      return kError;
    }
    cuda.ctx_pop_current(&popped);
    contexts.push_back(ctx);
    if (k == 1)
      say("context: one more CUDA context costs %.1f MiB VRAM",
          (before - free_vram(contexts[0])) / 1048576.0);
  }
  say("config: %s %ux%u, %u decode + %u output surfaces, intra-only %d, %d context(s), "
      "stream per session %d, max %d",
      opt.codec.c_str(), spec.width, spec.height, spec.decode_surfaces, spec.output_surfaces,
      spec.intra_only, opt.contexts, opt.streams, opt.max);

  /* VRAM free before the first round: what a round leaves allocated after
   * destroying its sessions is measured against it, so a figure that grows
   * round after round is a leak and one that stays put a driver cache. */
  const size_t free_baseline = free_vram(contexts[0]);
  int created = 0;
  for (int round = 1; round <= opt.rounds; round++) {
    std::vector<Session> sessions;
    std::vector<double> create_ms;
    const ProcCounters proc_start = proc_counters();
    const size_t free_before = free_vram(contexts[0]);
    std::string failure;
    for (int i = 0; i < opt.max; i++) {
      Session s;
      s.ctx = contexts[i % contexts.size()];
      probe::CtxScope scope(cuda, s.ctx);
      if (opt.streams) {
        CUresult ret = cuda.stream_create(&s.stream, 0);
        if (ret != CUDA_SUCCESS) {
          failure = "cuStreamCreate -> " + cuda.error_name(ret);
          break;
        }
      }
      auto t0 = Clock::now();
      CUresult ret = create_decoder(spec, &s.decoder);
      create_ms.push_back(ms_since(t0));
      if (ret != CUDA_SUCCESS) {
        failure = "cuvidCreateDecoder -> " + cuda.error_name(ret);
        if (s.stream)
          cuda.stream_destroy(s.stream);
        create_ms.pop_back();
        break;
      }
      const size_t nv12 = static_cast<size_t>(spec.width) * spec.height * 3 / 2;
      for (int b = 0; b < opt.buffers && failure.empty(); b++) {
        CUdeviceptr buffer = 0;
        if (CUresult alloc = cuda.mem_alloc(&buffer, nv12); alloc != CUDA_SUCCESS)
          failure = "cuMemAlloc -> " + cuda.error_name(alloc);
        else
          s.buffers.push_back(buffer);
      }
      sessions.push_back(s);
      if (!failure.empty())
        break;
      const int n = static_cast<int>(sessions.size());
      if (n % opt.report_every == 0 || n == 1) {
        ProcCounters c = proc_counters();
        say("progress: sessions=%d create_ms=%.2f vram_used_mib=%.1f maps=%ld threads=%ld fds=%ld "
            "rss_mib=%.1f",
            n, create_ms.back(), (free_before - free_vram(contexts[0])) / 1048576.0, c.maps,
            c.threads, c.fds, c.rss_kib / 1024.0);
      }
    }

    const int n = static_cast<int>(sessions.size());
    const ProcCounters proc_end = proc_counters();
    const double vram_mib = (free_before - free_vram(contexts[0])) / 1048576.0;
    if (!failure.empty())
      say("FAILED at session %d: %s (maps=%ld threads=%ld fds=%ld, VRAM free %.0f MiB)", n + 1,
          failure.c_str(), proc_end.maps, proc_end.threads, proc_end.fds,
          free_vram(contexts[0]) / 1048576.0);
    const double per = n ? 1.0 / n : 0;
    say("RESULT sessions created=%d limit_hit=%s error=\"%s\" contexts=%d create_ms p50=%.2f "
        "p99=%.2f max=%.2f vram_per_session_mib=%.2f maps_per_session=%.1f "
        "threads_per_session=%.2f fds_per_session=%.2f rss_per_session_kib=%.0f",
        n, failure.empty() ? "no" : "yes", failure.c_str(), opt.contexts, percentile(create_ms, 50),
        percentile(create_ms, 99), percentile(create_ms, 100), vram_mib * per,
        (proc_end.maps - proc_start.maps) * per, (proc_end.threads - proc_start.threads) * per,
        (proc_end.fds - proc_start.fds) * per, (proc_end.rss_kib - proc_start.rss_kib) * per);

    if (opt.decode && n > 0 && round == 1) {
      /* One parse of the first keyframe; its decode callback decodes the
       * picture on every session in turn. */
      const size_t nv12 = static_cast<size_t>(spec.width) * spec.height * 3 / 2;
      std::map<CUcontext, CUdeviceptr> buffers;
      std::map<CUcontext, CUstream> streams;
      for (CUcontext ctx : contexts) {
        probe::CtxScope scope(cuda, ctx);
        CUdeviceptr buffer = 0;
        CUstream stream = nullptr;
        cuda.mem_alloc(&buffer, nv12);
        cuda.stream_create(&stream, 0);
        buffers[ctx] = buffer;
        streams[ctx] = stream;
      }
      std::vector<double> decode_ms;
      int ok = 0, identical = 0;
      uint64_t reference = 0;
      double mean = 0;
      std::string first_error;
      std::vector<uint8_t> luma(static_cast<size_t>(spec.width) * spec.height);
      Parser parser;
      parser.on_sequence = [&](CUVIDEOFORMAT *) { return (int)spec.decode_surfaces; };
      parser.on_decode = [&](CUVIDPICPARAMS *params) {
        for (int i = 0; i < n; i++) {
          probe::CtxScope scope(cuda, sessions[i].ctx);
          CUresult ret;
          auto t0 = Clock::now();
          const char *failed =
              decode_picture(sessions[i].decoder, params, spec, streams[sessions[i].ctx],
                             buffers[sessions[i].ctx], ret);
          if (!failed) {
            decode_ms.push_back(ms_since(t0));
            ret = cuda.memcpy_dtoh(luma.data(), buffers[sessions[i].ctx], luma.size());
            if (ret != CUDA_SUCCESS)
              failed = "cuMemcpyDtoH";
          }
          if (failed) {
            if (first_error.empty())
              first_error = "session " + std::to_string(i + 1) + ": " + failed + " -> " +
                            cuda.error_name(ret);
            continue;
          }
          ok++;
          double m = 0;
          uint64_t h = luma_hash(luma, m);
          if (i == 0) {
            reference = h;
            mean = m;
          }
          identical += h == reference ? 1 : 0;
        }
        return 1;
      };
      CUresult ret;
      {
        probe::CtxScope scope(cuda, contexts[0]);
        ret = parser.create(spec.codec);
        if (ret == CUDA_SUCCESS)
          ret = parser.parse(clip.keyframes[0]);
      }
      if (ret != CUDA_SUCCESS && first_error.empty())
        first_error = "cuvidParseVideoData -> " + cuda.error_name(ret);
      say("RESULT decode ok=%d/%d identical=%d/%d luma_mean=%.1f decode_map_copy_ms p50=%.2f "
          "p99=%.2f first_error=\"%s\"",
          ok, n, identical, n, mean, percentile(decode_ms, 50), percentile(decode_ms, 99),
          first_error.c_str());
      for (CUcontext ctx : contexts) {
        probe::CtxScope scope(cuda, ctx);
        cuda.mem_free(buffers[ctx]);
        cuda.stream_destroy(streams[ctx]);
      }
    }

    if (ready_fd >= 0 && round == 1) {
      /* Hold every session until all probes have made theirs. */
      ssize_t w = write(ready_fd, &n, sizeof(n));
      (void)w;
      char go;
      ssize_t r = read(go_fd, &go, 1);
      (void)r;
    }

    std::vector<double> destroy_ms;
    for (auto &s : sessions) {
      probe::CtxScope scope(cuda, s.ctx);
      auto t0 = Clock::now();
      nvdec->cuvidDestroyDecoder(s.decoder);
      destroy_ms.push_back(ms_since(t0));
      if (s.stream)
        cuda.stream_destroy(s.stream);
      for (CUdeviceptr buffer : s.buffers)
        cuda.mem_free(buffer);
    }
    say("destroy_ms p50=%.2f p99=%.2f", percentile(destroy_ms, 50), percentile(destroy_ms, 99));
    say("RESULT round=%d held_after_destroy_mib=%.1f", round,
        (static_cast<double>(free_baseline) - static_cast<double>(free_vram(contexts[0]))) /
            1048576.0);
    created = n;
  }
  for (CUcontext ctx : contexts)
    cuda.ctx_destroy(ctx);
  return created;
}

/* Several probes at once: per process or per GPU limit? */
int run_processes(const Options &opt) {
  Options child_opt = opt;
  if (opt.decode && opt.clip.empty()) {
    /* Make the clip once, in a child: the parent keeps GStreamer out of the
     * processes it forks. */
    child_opt.clip = "/tmp/gpurtsp-nvdec-probe-" + std::to_string(getpid()) + "." + opt.codec;
    pid_t maker = fork();
    if (maker == 0) {
      gst_init(nullptr, nullptr);
      std::string why;
      if (!probe::make_clip(child_opt.clip, opt.codec, opt.width, opt.height, 250, opt.keyint,
                            opt.pattern, why)) {
        say("ERROR: cannot make a test clip: %s (pass --clip=FILE)", why.c_str());
        _exit(1);
      }
      _exit(0);
    }
    int status = 0;
    waitpid(maker, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return 1;
  }

  int ready[2], go[2];
  if (pipe(ready) != 0 || pipe(go) != 0) {
    perror("pipe");
    return 1;
  }
  std::vector<pid_t> children;
  for (int p = 0; p < opt.processes; p++) {
    pid_t pid = fork();
    if (pid == 0) {
      /* Alarms are not inherited; and die with the parent if it gives up. */
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      alarm(opt.timeout);
      close(ready[0]);
      close(go[1]);
      g_prefix = "probe: p" + std::to_string(p + 1);
      gst_init(nullptr, nullptr);
      int n = run_sessions(child_opt, ready[1], go[0]);
      if (n < 0) {
        /* Still report, so the parent does not wait for us. */
        int zero = 0;
        ssize_t w = write(ready[1], &zero, sizeof(zero));
        (void)w;
      }
      _exit(n == kSkip ? 77 : n == kError ? 1 : 0);
    }
    children.push_back(pid);
  }
  close(ready[1]);
  close(go[0]);
  int total = 0;
  for (int p = 0; p < opt.processes; p++) {
    int n = 0;
    struct pollfd pfd = {ready[0], POLLIN, 0};
    if (poll(&pfd, 1, opt.timeout * 1000) <= 0 || read(ready[0], &n, sizeof(n)) != sizeof(n))
      break;
    total += n;
  }
  say("RESULT processes=%d sessions_held_at_once=%d", opt.processes, total);
  close(go[1]); /* every child reads EOF and tears down */
  int failed = 0, skipped = 0;
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    skipped += code == 77 ? 1 : 0;
    failed += code != 0 && code != 77 ? 1 : 0;
  }
  if (!child_opt.clip.empty() && opt.clip.empty())
    unlink(child_opt.clip.c_str());
  return failed ? 1 : skipped == opt.processes ? 77 : 0;
}

/* --- throughput mode ---------------------------------------------------- */

int run_throughput(const Options &opt) {
  CUdevice device;
  if (!init_gpu(opt, device))
    return 77;
  CUcontext ctx;
  CUresult ret = cuda.ctx_create(&ctx, 0, device);
  if (ret != CUDA_SUCCESS) {
    say("ERROR: cuCtxCreate failed: %s", cuda.error_name(ret).c_str());
    return 1;
  }
  print_environment(device);
  probe::Clip clip;
  SessionSpec spec;
  spec.output_surfaces = opt.output_surfaces;
  spec.intra_only = opt.intra_only != 0;
  if (!prepare_clip(opt, clip, spec))
    return 1;
  CUcontext popped;
  cuda.ctx_pop_current(&popped);
  say("config: %d thread(s), one session each, %d keyframes each, %u decode surfaces, "
      "intra-only %d",
      opt.threads, opt.frames, spec.decode_surfaces, spec.intra_only);

  std::barrier start(opt.threads + 1);
  std::vector<std::vector<double>> latencies(opt.threads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < opt.threads; t++) {
    threads.emplace_back([&, t] {
      probe::CtxScope scope(cuda, ctx);
      CUvideodecoder decoder = nullptr;
      CUdeviceptr buffer = 0;
      CUstream stream = nullptr;
      CUresult r = create_decoder(spec, &decoder);
      if (r == CUDA_SUCCESS)
        r = cuda.mem_alloc(&buffer, static_cast<size_t>(spec.width) * spec.height * 3 / 2);
      if (r == CUDA_SUCCESS)
        r = cuda.stream_create(&stream, CU_STREAM_NON_BLOCKING);
      Parser parser;
      if (r == CUDA_SUCCESS)
        r = parser.create(spec.codec);
      if (r != CUDA_SUCCESS) {
        say("ERROR: thread %d setup failed: %s", t, cuda.error_name(r).c_str());
        failures++;
      }
      std::string error;
      parser.on_sequence = [&](CUVIDEOFORMAT *) { return (int)spec.decode_surfaces; };
      parser.on_decode = [&](CUVIDPICPARAMS *params) {
        if (!params->intra_pic_flag)
          return 1;
        CUresult dr;
        if (const char *failed = decode_picture(decoder, params, spec, stream, buffer, dr)) {
          if (error.empty())
            error = std::string(failed) + " -> " + cuda.error_name(dr);
          return 0;
        }
        return 1;
      };
      start.arrive_and_wait();
      for (int i = 0; i < opt.frames && r == CUDA_SUCCESS && error.empty(); i++) {
        auto t0 = Clock::now();
        r = parser.parse(clip.keyframes[i % clip.keyframes.size()]);
        latencies[t].push_back(ms_since(t0));
      }
      if (!error.empty() || r != CUDA_SUCCESS) {
        say("ERROR: thread %d: %s", t, error.empty() ? cuda.error_name(r).c_str() : error.c_str());
        failures++;
      }
      if (stream)
        cuda.stream_destroy(stream);
      if (buffer)
        cuda.mem_free(buffer);
      if (decoder)
        nvdec->cuvidDestroyDecoder(decoder);
    });
  }
  start.arrive_and_wait();
  auto t0 = Clock::now();
  for (auto &th : threads)
    th.join();
  const double wall_s = ms_since(t0) / 1000.0;
  std::vector<double> all;
  for (const auto &l : latencies)
    all.insert(all.end(), l.begin(), l.end());
  say("RESULT throughput threads=%d keyframes=%zu wall_s=%.2f keyframes_per_s=%.0f "
      "per_keyframe_ms p50=%.2f p99=%.2f max=%.2f failures=%d",
      opt.threads, all.size(), wall_s, all.size() / wall_s, percentile(all, 50),
      percentile(all, 99), percentile(all, 100), failures.load());
  cuda.ctx_destroy(ctx);
  return failures ? 1 : 0;
}

} // namespace

int main(int argc, char **argv) {
  Options opt;
  if (!parse_options(argc, argv, opt)) {
    usage();
    return 2;
  }
  signal(SIGALRM, on_alarm);
  alarm(opt.timeout);
  if (opt.mode == "sessions" && opt.processes > 1)
    return run_processes(opt);
  gst_init(&argc, &argv);
  if (opt.mode == "sessions") {
    int n = run_sessions(opt, -1, -1);
    return n == kSkip ? 77 : n == kError ? 1 : 0;
  }
  return run_throughput(opt);
}
