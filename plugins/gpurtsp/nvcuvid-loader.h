/* gpurtsp: run-time loader for the NVDECODE API (libnvcuvid.so.1).
 *
 * No Video Codec SDK header is packaged for Debian, so this file declares the
 * part of the ABI gpurtsp uses, written from the SDK's documentation (the
 * NVDEC Video Decoder API Programming Guide and the field comments of
 * cuviddec.h / nvcuvid.h). Only the structures we fill or read are declared;
 * every layout is pinned by static_asserts whose numbers were checked against
 * two independent copies of the SDK headers (docs/nvdec-sessions.md, "ABI").
 *
 * The ABI is the 64-bit Linux one (LP64): the SDK's "unsigned long" fields are
 * 8 bytes wide there, and the structures below spell them as unsigned long on
 * purpose so the static_asserts catch any other data model. */
#pragma once

#include <cuda.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace gpurtsp::nvcuvid {

static_assert(sizeof(long) == 8 && sizeof(void *) == 8,
              "the NVDECODE structures below are declared for 64-bit Linux (LP64)");

using Decoder = void *;                 /* CUvideodecoder */
using Parser = void *;                  /* CUvideoparser */
using CtxLock = struct CtxLockOpaque *; /* CUvideoctxlock */
using Timestamp = long long;            /* CUvideotimestamp, 10 MHz unless ulClockRate says */

/* cudaVideoCodec: only the values gpurtsp decodes. */
enum class Codec : int {
  H264 = 4,
  HEVC = 8,
};

/* cudaVideoChromaFormat */
enum class ChromaFormat : int {
  Monochrome = 0,
  Yuv420 = 1,
  Yuv422 = 2,
  Yuv444 = 3,
};

/* cudaVideoSurfaceFormat: only the 8-bit 4:2:0 output gpurtsp produces. */
enum class SurfaceFormat : int {
  NV12 = 0,
};

/* cudaVideoDeinterlaceMode: Weave keeps progressive frames untouched. */
enum class DeinterlaceMode : int {
  Weave = 0,
};

/* cudaVideoCreateFlags: 0 = cudaVideoCreate_Default, the dedicated engines. */
constexpr unsigned long kCreateDefault = 0x00;

/* CUvideopacketflags */
constexpr unsigned long kPacketEndOfStream = 0x01;
constexpr unsigned long kPacketTimestamp = 0x02;
constexpr unsigned long kPacketDiscontinuity = 0x04;
constexpr unsigned long kPacketEndOfPicture = 0x08; /* payload is exactly one frame */

/* cuvidDecodeStatus */
enum class DecodeStatusCode : int {
  Invalid = 0,
  InProgress = 1,
  Success = 2,
  Error = 8,
  ErrorConcealed = 9,
};

struct ShortRect {
  short left, top, right, bottom;
};

/* CUVIDDECODECAPS: cuvidGetDecoderCaps() fills the out fields for the in
 * fields' codec / chroma / bit depth. */
struct DecodeCaps {
  Codec codec;                   /* in: eCodecType */
  ChromaFormat chroma_format;    /* in: eChromaFormat */
  unsigned int bit_depth_minus8; /* in: nBitDepthMinus8 */
  unsigned int reserved1[3];
  unsigned char is_supported;        /* out: bIsSupported */
  unsigned char num_nvdecs;          /* out: nNumNVDECs */
  unsigned short output_format_mask; /* out: bit n = SurfaceFormat n */
  unsigned int max_width;            /* out: nMaxWidth */
  unsigned int max_height;           /* out: nMaxHeight */
  unsigned int max_mb_count;         /* out: nMaxMBCount, coded w * h / 256 must not exceed it */
  unsigned short min_width;          /* out: nMinWidth */
  unsigned short min_height;         /* out: nMinHeight */
  unsigned char reserved2[4];        /* histogram capabilities, unused */
  unsigned int reserved3[10];
};
static_assert(offsetof(DecodeCaps, is_supported) == 24);
static_assert(offsetof(DecodeCaps, num_nvdecs) == 25);
static_assert(offsetof(DecodeCaps, max_width) == 28);
static_assert(offsetof(DecodeCaps, max_mb_count) == 36);
static_assert(offsetof(DecodeCaps, min_width) == 40);
static_assert(offsetof(DecodeCaps, min_height) == 42);
static_assert(sizeof(DecodeCaps) == 88);

/* CUVIDDECODECREATEINFO: cuvidCreateDecoder()'s parameters. Every surface
 * count here is memory: ulNumDecodeSurfaces coded-size surfaces plus
 * ulNumOutputSurfaces target-size surfaces. */
struct DecodeCreateInfo {
  unsigned long width;               /* ulWidth: coded width */
  unsigned long height;              /* ulHeight: coded height */
  unsigned long num_decode_surfaces; /* ulNumDecodeSurfaces */
  Codec codec;                       /* CodecType */
  ChromaFormat chroma_format;        /* ChromaFormat */
  unsigned long creation_flags;      /* ulCreationFlags */
  unsigned long bit_depth_minus8;    /* bitDepthMinus8 */
  unsigned long intra_decode_only;   /* ulIntraDecodeOnly: 1 = intra pictures only, less memory */
  unsigned long max_width;           /* ulMaxWidth: for cuvidReconfigureDecoder */
  unsigned long max_height;          /* ulMaxHeight */
  unsigned long reserved1;
  ShortRect display_area;            /* source crop */
  SurfaceFormat output_format;       /* OutputFormat */
  DeinterlaceMode deinterlace_mode;  /* DeinterlaceMode */
  unsigned long target_width;        /* ulTargetWidth: output (mapped) width */
  unsigned long target_height;       /* ulTargetHeight */
  unsigned long num_output_surfaces; /* ulNumOutputSurfaces: frames mapped at once */
  CtxLock vid_lock;                  /* vidLock: optional context lock */
  ShortRect target_rect;             /* placement in the target; zero = whole target */
  unsigned long enable_histogram;    /* enableHistogram */
  unsigned long reserved2[4];
};
static_assert(offsetof(DecodeCreateInfo, num_decode_surfaces) == 16);
static_assert(offsetof(DecodeCreateInfo, codec) == 24);
static_assert(offsetof(DecodeCreateInfo, chroma_format) == 28);
static_assert(offsetof(DecodeCreateInfo, creation_flags) == 32);
static_assert(offsetof(DecodeCreateInfo, intra_decode_only) == 48);
static_assert(offsetof(DecodeCreateInfo, max_width) == 56);
static_assert(offsetof(DecodeCreateInfo, display_area) == 80);
static_assert(offsetof(DecodeCreateInfo, output_format) == 88);
static_assert(offsetof(DecodeCreateInfo, deinterlace_mode) == 92);
static_assert(offsetof(DecodeCreateInfo, target_width) == 96);
static_assert(offsetof(DecodeCreateInfo, num_output_surfaces) == 112);
static_assert(offsetof(DecodeCreateInfo, vid_lock) == 120);
static_assert(offsetof(DecodeCreateInfo, target_rect) == 128);
static_assert(offsetof(DecodeCreateInfo, enable_histogram) == 136);
static_assert(sizeof(DecodeCreateInfo) == 176);

/* CUVIDRECONFIGUREDECODERINFO: cuvidReconfigureDecoder()'s parameters; the
 * new coded size must fit the max_width/max_height given at creation. */
struct ReconfigureInfo {
  unsigned int width;               /* ulWidth */
  unsigned int height;              /* ulHeight */
  unsigned int target_width;        /* ulTargetWidth */
  unsigned int target_height;       /* ulTargetHeight */
  unsigned int num_decode_surfaces; /* ulNumDecodeSurfaces */
  unsigned int reserved1[12];
  ShortRect display_area;
  ShortRect target_rect;
  unsigned int reserved2[11];
};
static_assert(offsetof(ReconfigureInfo, num_decode_surfaces) == 16);
static_assert(offsetof(ReconfigureInfo, display_area) == 68);
static_assert(offsetof(ReconfigureInfo, target_rect) == 76);
static_assert(sizeof(ReconfigureInfo) == 128);

/* The leading, codec-independent part of CUVIDPICPARAMS. The parser owns the
 * whole structure (this prefix plus a codec-specific union of at least 4 KiB)
 * and hands it to the decode callback, which passes the same pointer on to
 * cuvidDecodePicture(): never allocate or copy one. */
struct PicParams {
  int width_in_mbs;        /* PicWidthInMbs */
  int frame_height_in_mbs; /* FrameHeightInMbs */
  int curr_pic_idx;        /* CurrPicIdx: decode surface of this picture */
  int field_pic_flag;      /* 1 = field picture */
  int bottom_field_flag;
  int second_field;                       /* second field of a pair */
  unsigned int bitstream_data_len;        /* nBitstreamDataLen */
  const unsigned char *bitstream_data;    /* pBitstreamData */
  unsigned int num_slices;                /* nNumSlices */
  const unsigned int *slice_data_offsets; /* pSliceDataOffsets */
  int ref_pic_flag;                       /* picture is a reference */
  int intra_pic_flag;                     /* picture is entirely intra coded */
};
static_assert(offsetof(PicParams, curr_pic_idx) == 8);
static_assert(offsetof(PicParams, field_pic_flag) == 12);
static_assert(offsetof(PicParams, second_field) == 20);
static_assert(offsetof(PicParams, bitstream_data) == 32);
static_assert(offsetof(PicParams, num_slices) == 40);
static_assert(offsetof(PicParams, slice_data_offsets) == 48);
static_assert(offsetof(PicParams, ref_pic_flag) == 56);
static_assert(offsetof(PicParams, intra_pic_flag) == 60);

/* CUVIDPROCPARAMS: cuvidMapVideoFrame64()'s post-processing parameters. */
struct ProcParams {
  int progressive_frame;
  int second_field;
  int top_field_first;
  int unpaired_field;
  unsigned int reserved_flags;
  unsigned int reserved_zero;
  unsigned long long raw_input_dptr;
  unsigned int raw_input_pitch;
  unsigned int raw_input_format;
  unsigned long long raw_output_dptr;
  unsigned int raw_output_pitch;
  unsigned int reserved1;
  CUstream output_stream; /* stream the map's post-processing runs on */
  unsigned int reserved[46];
  unsigned long long *histogram_dptr;
  void *reserved2[1];
};
static_assert(offsetof(ProcParams, raw_input_dptr) == 24);
static_assert(offsetof(ProcParams, output_stream) == 56);
static_assert(offsetof(ProcParams, histogram_dptr) == 248);
static_assert(sizeof(ProcParams) == 264);

/* CUVIDGETDECODESTATUS */
struct DecodeStatus {
  DecodeStatusCode status;
  unsigned int reserved[31];
  void *reserved_ptr[8];
};
static_assert(sizeof(DecodeStatus) == 192);

/* CUVIDEOFORMAT: what the parser's sequence callback reports. */
struct VideoFormat {
  Codec codec;
  struct {
    unsigned int numerator;
    unsigned int denominator;
  } frame_rate;
  unsigned char progressive_sequence;
  unsigned char bit_depth_luma_minus8;
  unsigned char bit_depth_chroma_minus8;
  unsigned char min_num_decode_surfaces; /* decode surfaces needed for correct decoding */
  unsigned int coded_width;
  unsigned int coded_height;
  struct {
    int left, top, right, bottom;
  } display_area;
  ChromaFormat chroma_format;
  unsigned int bitrate;
  struct {
    int x, y;
  } display_aspect_ratio;
  struct {
    unsigned char video_format : 3;
    unsigned char video_full_range_flag : 1;
    unsigned char reserved_zero_bits : 4;
    unsigned char color_primaries;
    unsigned char transfer_characteristics;
    unsigned char matrix_coefficients;
  } video_signal_description;
  unsigned int seqhdr_data_length;
};
static_assert(offsetof(VideoFormat, progressive_sequence) == 12);
static_assert(offsetof(VideoFormat, min_num_decode_surfaces) == 15);
static_assert(offsetof(VideoFormat, coded_width) == 16);
static_assert(offsetof(VideoFormat, display_area) == 24);
static_assert(offsetof(VideoFormat, chroma_format) == 40);
static_assert(offsetof(VideoFormat, display_aspect_ratio) == 48);
static_assert(offsetof(VideoFormat, video_signal_description) == 56);
static_assert(offsetof(VideoFormat, seqhdr_data_length) == 60);
static_assert(sizeof(VideoFormat) == 64);

/* CUVIDPARSERDISPINFO: what the parser's display callback reports. */
struct ParserDispInfo {
  int picture_index;
  int progressive_frame;
  int top_field_first;
  int repeat_first_field;
  Timestamp timestamp;
};
static_assert(offsetof(ParserDispInfo, timestamp) == 16);
static_assert(sizeof(ParserDispInfo) == 24);

/* CUVIDSOURCEDATAPACKET: one chunk of elementary stream for the parser. */
struct SourceDataPacket {
  unsigned long flags; /* kPacket* */
  unsigned long payload_size;
  const unsigned char *payload;
  Timestamp timestamp; /* valid with kPacketTimestamp */
};
static_assert(offsetof(SourceDataPacket, payload) == 16);
static_assert(sizeof(SourceDataPacket) == 32);

/* Parser callbacks, called synchronously from cuvidParseVideoData(). Returns:
 * sequence: 0 fails, 1 succeeds, > 1 succeeds and sets the number of decode
 * surfaces the parser cycles through; decode and display: 0 fails. */
using SequenceCallback = int (*)(void *user_data, VideoFormat *format);
using DecodeCallback = int (*)(void *user_data, PicParams *params);
using DisplayCallback = int (*)(void *user_data, ParserDispInfo *info);

/* CUVIDPARSERPARAMS: cuvidCreateVideoParser()'s parameters. */
struct ParserParams {
  Codec codec;                          /* CodecType */
  unsigned int max_num_decode_surfaces; /* ulMaxNumDecodeSurfaces */
  unsigned int clock_rate;              /* ulClockRate, 0 = 10 MHz */
  unsigned int error_threshold;         /* ulErrorThreshold, percent */
  unsigned int max_display_delay;       /* ulMaxDisplayDelay, 0 = display at once */
  unsigned int annexb : 1;              /* AV1 only */
  unsigned int memory_optimize : 1;     /* bMemoryOptimize */
  unsigned int reserved_bits : 30;
  unsigned int reserved1[4];
  void *user_data;                    /* pUserData, first callback argument */
  SequenceCallback sequence_callback; /* pfnSequenceCallback */
  DecodeCallback decode_picture;      /* pfnDecodePicture */
  DisplayCallback display_picture;    /* pfnDisplayPicture */
  void *get_operating_point;          /* pfnGetOperatingPoint (AV1), unused */
  void *get_sei_message;              /* pfnGetSEIMsg, unused */
  void *reserved2[5];
  void *ext_video_info; /* pExtVideoInfo, unused */
};
static_assert(offsetof(ParserParams, max_display_delay) == 16);
static_assert(offsetof(ParserParams, reserved1) == 24);
static_assert(offsetof(ParserParams, user_data) == 40);
static_assert(offsetof(ParserParams, sequence_callback) == 48);
static_assert(offsetof(ParserParams, decode_picture) == 56);
static_assert(offsetof(ParserParams, display_picture) == 64);
static_assert(offsetof(ParserParams, get_sei_message) == 80);
static_assert(offsetof(ParserParams, ext_video_info) == 128);
static_assert(sizeof(ParserParams) == 136);

/* The entry points of libnvcuvid.so.1. The optional ones are nullptr when the
 * driver lacks them. */
struct Api {
  CUresult (*create_video_parser)(Parser *parser, ParserParams *params);
  CUresult (*parse_video_data)(Parser parser, SourceDataPacket *packet);
  CUresult (*destroy_video_parser)(Parser parser);
  CUresult (*create_decoder)(Decoder *decoder, DecodeCreateInfo *info);
  CUresult (*destroy_decoder)(Decoder decoder);
  CUresult (*decode_picture)(Decoder decoder, PicParams *params);
  CUresult (*map_video_frame)(Decoder decoder, int picture_index, unsigned long long *device_ptr,
                              unsigned int *pitch, ProcParams *params);
  CUresult (*unmap_video_frame)(Decoder decoder, unsigned long long device_ptr);
  CUresult (*ctx_lock_create)(CtxLock *lock, CUcontext context);
  CUresult (*ctx_lock_destroy)(CtxLock lock);
  CUresult (*get_decoder_caps)(DecodeCaps *caps);
  /* optional */
  CUresult (*reconfigure_decoder)(Decoder decoder, ReconfigureInfo *info);
  CUresult (*get_decode_status)(Decoder decoder, int picture_index, DecodeStatus *status);
};

/* Loads libnvcuvid.so.1 once per process and returns its entry points, or
 * nullptr with @why saying what is missing (same answer on every call). */
const Api *api(std::string &why);

/* Loads @library (a file name or path for dlopen) into @out. Used by api() and
 * by tests; the library stays loaded for the life of the process. On failure
 * returns false and sets @why. */
bool load(const char *library, Api &out, std::string &why);

} // namespace gpurtsp::nvcuvid
