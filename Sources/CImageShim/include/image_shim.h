#pragma once
/*
 * C side of the ImageIO module. libjpeg and libpng report fatal errors by calling an error
 * handler that must not return (libjpeg's default calls exit()); Swift cannot setjmp, so
 * every libjpeg/libpng call happens inside these functions, each of which installs a
 * setjmp point and turns a longjmp into a status code plus a message.
 *
 * Both decoders work in two steps so that Swift can check the declared size against its
 * limits before any pixel memory is allocated: *_open reads the header only, *_decode
 * fills a caller-provided buffer, *_close frees everything (always call it).
 */
#include <stddef.h>
#include <stdint.h>

/// Status codes shared by both decoders.
enum {
    CC_IMG_OK = 0,
    CC_IMG_CORRUPT = 1,      ///< the library rejected the data; message says why
    CC_IMG_TRUNCATED = 2,    ///< the data ended before the image was complete
    CC_IMG_UNSUPPORTED = 3,  ///< valid but of a kind we do not decode (message says which)
    CC_IMG_NO_MEMORY = 4,
    CC_IMG_BAD_CALL = 5      ///< output buffer too small or handle in the wrong state
};

#define CC_IMG_MESSAGE_CAPACITY 200

/* ---------------- JPEG (libjpeg / libjpeg-turbo) ---------------- */

typedef struct cc_jpeg_decoder cc_jpeg_decoder;

typedef struct {
    int width;
    int height;
    int components;        ///< components in the file: 1 (gray), 3 (YCbCr/RGB), 4 (CMYK/YCCK)
    int output_channels;   ///< bytes per pixel _decode writes: 3 (RGB) or 4 (CMYK as libjpeg returns it)
    int progressive;
    int jpeg_color_space;  ///< libjpeg's J_COLOR_SPACE of the file
} cc_jpeg_info;

/// Reads the header of an in-memory JPEG. `data` must stay alive until cc_jpeg_close.
/// On success *out is a decoder to pass to cc_jpeg_decode; on failure *out is NULL.
int cc_jpeg_open(const uint8_t *data, size_t size, cc_jpeg_decoder **out, cc_jpeg_info *info,
                 char *message, size_t message_capacity);

/// Decodes all scanlines into `pixels` (height * width * output_channels bytes, row-major).
/// Uses JDCT_ISLOW and fancy upsampling (libjpeg's defaults, as Pillow does).
/// Returns CC_IMG_TRUNCATED when the data ends before the last scanline (Pillow's
/// "image file is truncated"), never pads with grey silently.
int cc_jpeg_decode(cc_jpeg_decoder *decoder, uint8_t *pixels, size_t capacity,
                   char *message, size_t message_capacity);

void cc_jpeg_close(cc_jpeg_decoder *decoder);

/* ---------------- PNG (libpng, full API) ---------------- */

typedef struct cc_png_decoder cc_png_decoder;

typedef struct {
    int width;
    int height;
    int bit_depth;         ///< bit depth in the file
    int color_type;        ///< PNG colour type in the file (0, 2, 3, 4, 6)
    int interlaced;
    int output_channels;   ///< samples per pixel _decode writes (1: gray or palette index, 2, 3, 4)
    int output_bit_depth;  ///< 8 or 16 (16-bit samples are big-endian, as in the file)
    int palette_entries;   ///< number of PLTE entries copied into `palette` (0 if none)
    uint8_t palette[256 * 3];
} cc_png_info;

/// Reads the header (all chunks before the first IDAT) of an in-memory PNG.
/// Transformations applied later: 1/2/4-bit gray expanded to 8 bits (v * 255 / (2^d - 1)),
/// 1/2/4-bit palette indices unpacked to one byte each. Nothing else: no gamma, no alpha
/// expansion of tRNS, no 16->8 reduction (Swift does that the way Pillow does).
int cc_png_open(const uint8_t *data, size_t size, cc_png_decoder **out, cc_png_info *info,
                char *message, size_t message_capacity);

/// Decodes the image into `pixels` (height * width * output_channels * output_bit_depth/8 bytes).
int cc_png_decode(cc_png_decoder *decoder, uint8_t *pixels, size_t capacity,
                  char *message, size_t message_capacity);

void cc_png_close(cc_png_decoder *decoder);
