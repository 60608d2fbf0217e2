/*
 * libpng wrapper: errors longjmp back into these functions (never through Swift), reading
 * past the end of the data is reported as truncation, and only the transformations that
 * reproduce Pillow's unpacking are enabled (no gamma, no tRNS-to-alpha, no 16->8 reduction).
 */
#include "image_shim.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

struct cc_png_decoder {
    png_structp png;
    png_infop info;
    const uint8_t *data;
    size_t size;
    size_t position;
    int truncated;
    int started;
    int passes;
    int height;
    size_t row_bytes;
    char message[CC_IMG_MESSAGE_CAPACITY];
};

static void on_png_error(png_structp png, png_const_charp text) {
    struct cc_png_decoder *d = (struct cc_png_decoder *)png_get_error_ptr(png);
    snprintf(d->message, sizeof d->message, "%s", text ? text : "libpng error");
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp text) { (void)png; (void)text; }

static void read_from_memory(png_structp png, png_bytep out, size_t count) {
    struct cc_png_decoder *d = (struct cc_png_decoder *)png_get_io_ptr(png);
    if (count > d->size - d->position) {
        d->truncated = 1;
        png_error(png, "the data ends early");
    }
    memcpy(out, d->data + d->position, count);
    d->position += count;
}

static int failure_status(struct cc_png_decoder *d) {
    return d->truncated ? CC_IMG_TRUNCATED : CC_IMG_CORRUPT;
}

void cc_png_close(cc_png_decoder *d) {
    if (d == NULL) return;
    if (d->png != NULL) png_destroy_read_struct(&d->png, d->info ? &d->info : NULL, NULL);
    free(d);
}

int cc_png_open(const uint8_t *data, size_t size, cc_png_decoder **out, cc_png_info *info,
                char *message, size_t message_capacity) {
    *out = NULL;
    memset(info, 0, sizeof *info);
    cc_png_decoder *d = calloc(1, sizeof *d);
    if (d == NULL) return CC_IMG_NO_MEMORY;
    d->data = data;
    d->size = size;
    d->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, d, on_png_error, on_png_warning);
    if (d->png == NULL) { free(d); return CC_IMG_NO_MEMORY; }
    d->info = png_create_info_struct(d->png);
    if (d->info == NULL) { cc_png_close(d); return CC_IMG_NO_MEMORY; }

    if (setjmp(png_jmpbuf(d->png))) {
        int status = failure_status(d);
        snprintf(message, message_capacity, "%s", d->message);
        cc_png_close(d);
        return status;
    }
    png_set_read_fn(d->png, d, read_from_memory);
    /* The Swift side enforces ImageLimits before decoding; libpng's own 1M x 1M cap would
       only produce a less helpful message. */
    png_set_user_limits(d->png, 0x7fffffff, 0x7fffffff);
    png_read_info(d->png, d->info);

    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(d->png, d->info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);

    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_colorp palette = NULL;
        int entries = 0;
        if (png_get_PLTE(d->png, d->info, &palette, &entries) && palette != NULL) {
            if (entries > 256) entries = 256;
            for (int i = 0; i < entries; i++) {
                info->palette[i * 3 + 0] = palette[i].red;
                info->palette[i * 3 + 1] = palette[i].green;
                info->palette[i * 3 + 2] = palette[i].blue;
            }
            info->palette_entries = entries;
        }
        if (bit_depth < 8) png_set_packing(d->png);  /* one index per byte */
    } else if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) {
        png_set_expand_gray_1_2_4_to_8(d->png);
    }
    d->passes = png_set_interlace_handling(d->png);
    png_read_update_info(d->png, d->info);

    d->row_bytes = png_get_rowbytes(d->png, d->info);
    d->height = (int)height;
    info->width = (int)width;
    info->height = (int)height;
    info->bit_depth = bit_depth;
    info->color_type = color_type;
    info->interlaced = interlace != PNG_INTERLACE_NONE;
    info->output_channels = png_get_channels(d->png, d->info);
    info->output_bit_depth = png_get_bit_depth(d->png, d->info);
    *out = d;
    return CC_IMG_OK;
}

int cc_png_decode(cc_png_decoder *d, uint8_t *pixels, size_t capacity,
                  char *message, size_t message_capacity) {
    if (d == NULL || d->started) {
        snprintf(message, message_capacity, "decoder used twice");
        return CC_IMG_BAD_CALL;
    }
    if (d->row_bytes == 0 || capacity / d->row_bytes < (size_t)d->height) {
        snprintf(message, message_capacity, "output buffer too small");
        return CC_IMG_BAD_CALL;
    }
    d->started = 1;
    if (setjmp(png_jmpbuf(d->png))) {
        snprintf(message, message_capacity, "%s", d->message);
        return failure_status(d);
    }
    /* Row by row (no row-pointer array, which could be large for tall images); interlaced
       images need every row of every pass, each pass filling in its pixels. */
    for (int pass = 0; pass < d->passes; pass++) {
        for (int y = 0; y < d->height; y++) {
            png_read_row(d->png, pixels + (size_t)y * d->row_bytes, NULL);
        }
    }
    return CC_IMG_OK;
}
