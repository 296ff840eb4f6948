// SPDX-License-Identifier: MIT
/* gpurtsp-jpeg-to-rgb IN.jpg OUT.rgb: decodes a baseline JPEG with libjpeg to
 * packed RGB at full chroma resolution, writes the pixels to OUT.rgb and
 * prints "WIDTH HEIGHT".
 *
 * The GPU Python tests measure encode_jpeg's PSNR in RGB with it, because
 * GStreamer 1.22's jpegdec gives a Y'CbCr JPEG only as I420: it would halve a
 * 4:4:4 JPEG's chroma before the comparison and blame the encoder for it. */
#include <cstddef>
#include <cstdio>
#include <memory>
#include <vector>

#include <jpeglib.h> /* after <cstdio>: it uses FILE and size_t without including them */

namespace {

struct FileCloser {
  void operator()(FILE *file) const { std::fclose(file); }
};
using File = std::unique_ptr<FILE, FileCloser>;

struct Decompressor {
  jpeg_decompress_struct info{};
  jpeg_error_mgr errors{};
  /* libjpeg's standard error handler prints the reason and exits 1. */
  Decompressor() {
    info.err = jpeg_std_error(&errors);
    jpeg_create_decompress(&info);
  }
  ~Decompressor() { jpeg_destroy_decompress(&info); }
  Decompressor(const Decompressor &) = delete;
  Decompressor &operator=(const Decompressor &) = delete;
};

} // namespace

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s IN.jpg OUT.rgb\n", argv[0]);
    return 2;
  }
  File in(std::fopen(argv[1], "rb"));
  if (!in) {
    std::perror(argv[1]);
    return 1;
  }
  Decompressor jpeg;
  jpeg_stdio_src(&jpeg.info, in.get());
  jpeg_read_header(&jpeg.info, TRUE);
  jpeg.info.out_color_space = JCS_RGB;
  jpeg.info.dct_method = JDCT_ISLOW; /* the accurate IDCT: measure the encoder, not the decoder */
  jpeg_start_decompress(&jpeg.info);
  if (jpeg.info.output_components != 3) {
    std::fprintf(stderr, "%s: %d components after conversion to RGB\n", argv[1],
                 jpeg.info.output_components);
    return 1;
  }
  File out(std::fopen(argv[2], "wb"));
  if (!out) {
    std::perror(argv[2]);
    return 1;
  }
  std::vector<JSAMPLE> row(size_t(jpeg.info.output_width) * 3);
  while (jpeg.info.output_scanline < jpeg.info.output_height) {
    JSAMPROW rows[] = {row.data()};
    jpeg_read_scanlines(&jpeg.info, rows, 1);
    if (std::fwrite(row.data(), 1, row.size(), out.get()) != row.size()) {
      std::perror(argv[2]);
      return 1;
    }
  }
  jpeg_finish_decompress(&jpeg.info);
  std::printf("%u %u\n", jpeg.info.output_width, jpeg.info.output_height);
  return 0;
}
