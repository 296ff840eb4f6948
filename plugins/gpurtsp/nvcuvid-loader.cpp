#include "nvcuvid-loader.h"

#include <dlfcn.h>

#include <mutex>

namespace gpurtsp::nvcuvid {

namespace {

template <typename Fn>
bool resolve(void *library, const char *name, Fn &out, bool required, std::string &why) {
  out = reinterpret_cast<Fn>(dlsym(library, name));
  if (!out && required) {
    why = std::string("symbol ") + name + " is missing from the NVDECODE library";
    return false;
  }
  return true;
}

} // namespace

bool load(const char *library, Api &out, std::string &why) {
  /* RTLD_LOCAL: nothing else in the process should bind to these symbols. */
  void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *err = dlerror();
    why = std::string("cannot load ") + library +
          " (the NVIDIA driver's NVDECODE library): " + (err ? err : "unknown error");
    return false;
  }

  Api api{};
  bool ok = resolve(handle, "cuvidCreateVideoParser", api.create_video_parser, true, why) &&
            resolve(handle, "cuvidParseVideoData", api.parse_video_data, true, why) &&
            resolve(handle, "cuvidDestroyVideoParser", api.destroy_video_parser, true, why) &&
            resolve(handle, "cuvidCreateDecoder", api.create_decoder, true, why) &&
            resolve(handle, "cuvidDestroyDecoder", api.destroy_decoder, true, why) &&
            resolve(handle, "cuvidDecodePicture", api.decode_picture, true, why) &&
            resolve(handle, "cuvidMapVideoFrame64", api.map_video_frame, true, why) &&
            resolve(handle, "cuvidUnmapVideoFrame64", api.unmap_video_frame, true, why) &&
            resolve(handle, "cuvidCtxLockCreate", api.ctx_lock_create, true, why) &&
            resolve(handle, "cuvidCtxLockDestroy", api.ctx_lock_destroy, true, why) &&
            resolve(handle, "cuvidGetDecoderCaps", api.get_decoder_caps, true, why) &&
            resolve(handle, "cuvidReconfigureDecoder", api.reconfigure_decoder, false, why) &&
            resolve(handle, "cuvidGetDecodeStatus", api.get_decode_status, false, why);
  if (!ok) {
    why += std::string(" (") + library + ")";
    dlclose(handle);
    return false;
  }
  /* The handle is deliberately never closed: decoders and parsers may live
   * until the process exits. */
  out = api;
  return true;
}

const Api *api(std::string &why) {
  static std::once_flag once;
  static Api loaded{};
  static bool ok = false;
  static std::string failure;
  std::call_once(once, [] { ok = load("libnvcuvid.so.1", loaded, failure); });
  if (!ok) {
    why = failure;
    return nullptr;
  }
  return &loaded;
}

} // namespace gpurtsp::nvcuvid
