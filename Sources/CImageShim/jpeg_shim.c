/*
 * libjpeg wrapper: a setjmp-based error manager (libjpeg's default handler calls exit()),
 * a suspending in-memory source (so running out of data is reported, exactly where Pillow
 * reports "image file is truncated", instead of libjpeg padding the image with grey), and
 * a scan limit (a progressive file with thousands of scans would otherwise decode for minutes).
 */
#include "image_shim.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

/// More scans than any real encoder writes (libjpeg-turbo's own fuzzers use 500).
#define CC_JPEG_MAX_SCANS 1000

struct cc_jpeg_error {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int status;  /* status to return after the longjmp */
    char message[JMSG_LENGTH_MAX + 64];
};

struct cc_jpeg_decoder {
    struct jpeg_decompress_struct cinfo;
    struct cc_jpeg_error error;
    struct jpeg_source_mgr source;
    struct jpeg_progress_mgr progress;
    int created;
    int started;
    int output_channels;
};

static void copy_message(char *to, size_t capacity, const char *from) {
    if (to == NULL || capacity == 0) return;
    snprintf(to, capacity, "%s", from);
}

/* ---- error manager ---- */

static void on_error_exit(j_common_ptr cinfo) {
    struct cc_jpeg_error *error = (struct cc_jpeg_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, error->message);
    switch (cinfo->err->msg_code) {
        case JERR_BAD_PRECISION:
        case JERR_CONVERSION_NOTIMPL:
        case JERR_NOT_COMPILED:
        case JERR_NO_ARITH_TABLE:
            error->status = CC_IMG_UNSUPPORTED;
            break;
        case JERR_OUT_OF_MEMORY:
            error->status = CC_IMG_NO_MEMORY;
            break;
        default:
            error->status = CC_IMG_CORRUPT;
    }
    longjmp(error->jump, 1);
}

/* Warnings ("Corrupt JPEG data: ...") are ignored, as Pillow ignores them. */
static void on_output_message(j_common_ptr cinfo) { (void)cinfo; }

/* ---- suspending memory source ---- */

static void source_init(j_decompress_ptr cinfo) { (void)cinfo; }
static void source_term(j_decompress_ptr cinfo) { (void)cinfo; }

/* All data is in the buffer from the start: asking for more means the file is truncated.
   Returning FALSE makes libjpeg suspend, which the callers report as CC_IMG_TRUNCATED. */
static boolean source_fill(j_decompress_ptr cinfo) { (void)cinfo; return FALSE; }

static void source_skip(j_decompress_ptr cinfo, long count) {
    struct jpeg_source_mgr *source = cinfo->src;
    if (count <= 0) return;
    if ((size_t)count > source->bytes_in_buffer) {
        /* the marker runs past the end of the data: the next read suspends */
        source->next_input_byte += source->bytes_in_buffer;
        source->bytes_in_buffer = 0;
    } else {
        source->next_input_byte += count;
        source->bytes_in_buffer -= (size_t)count;
    }
}

/* ---- scan limit ---- */

static void on_progress(j_common_ptr common) {
    j_decompress_ptr cinfo = (j_decompress_ptr)common;
    if (cinfo->input_scan_number > CC_JPEG_MAX_SCANS) {
        struct cc_jpeg_error *error = (struct cc_jpeg_error *)common->err;
        snprintf(error->message, sizeof error->message,
                 "more than %d progressive scans (a malicious or broken file)", CC_JPEG_MAX_SCANS);
        error->status = CC_IMG_CORRUPT;
        longjmp(error->jump, 1);
    }
}

/* ---- API ---- */

void cc_jpeg_close(cc_jpeg_decoder *decoder) {
    if (decoder == NULL) return;
    if (decoder->created) jpeg_destroy_decompress(&decoder->cinfo);
    free(decoder);
}

int cc_jpeg_open(const uint8_t *data, size_t size, cc_jpeg_decoder **out, cc_jpeg_info *info,
                 char *message, size_t message_capacity) {
    *out = NULL;
    memset(info, 0, sizeof *info);
    cc_jpeg_decoder *d = calloc(1, sizeof *d);
    if (d == NULL) return CC_IMG_NO_MEMORY;

    d->cinfo.err = jpeg_std_error(&d->error.pub);
    d->error.pub.error_exit = on_error_exit;
    d->error.pub.output_message = on_output_message;
    if (setjmp(d->error.jump)) {
        int status = d->error.status;
        copy_message(message, message_capacity, d->error.message);
        cc_jpeg_close(d);
        return status;
    }
    jpeg_create_decompress(&d->cinfo);
    d->created = 1;

    d->source.next_input_byte = data;
    d->source.bytes_in_buffer = size;
    d->source.init_source = source_init;
    d->source.fill_input_buffer = source_fill;
    d->source.skip_input_data = source_skip;
    d->source.resync_to_restart = jpeg_resync_to_restart;
    d->source.term_source = source_term;
    d->cinfo.src = &d->source;

    d->progress.progress_monitor = on_progress;
    d->cinfo.progress = &d->progress;

    int header = jpeg_read_header(&d->cinfo, TRUE);
    if (header == JPEG_SUSPENDED) {
        copy_message(message, message_capacity, "the data ends inside the JPEG header");
        cc_jpeg_close(d);
        return CC_IMG_TRUNCATED;
    }
    if (header != JPEG_HEADER_OK) {
        copy_message(message, message_capacity, "no image in the JPEG data (tables only)");
        cc_jpeg_close(d);
        return CC_IMG_CORRUPT;
    }

    int components = d->cinfo.num_components;
    if (components == 4) {
        d->cinfo.out_color_space = JCS_CMYK;  /* libjpeg converts YCCK to CMYK */
        d->output_channels = 4;
    } else if (components == 1 || components == 3) {
        d->cinfo.out_color_space = JCS_RGB;   /* gray is replicated, exactly as L -> RGB */
        d->output_channels = 3;
    } else {
        snprintf(message, message_capacity, "%d colour components (only 1, 3 and 4 are supported)",
                 components);
        cc_jpeg_close(d);
        return CC_IMG_UNSUPPORTED;
    }
    /* Pillow's settings (libjpeg's defaults): accurate integer IDCT, fancy upsampling. */
    d->cinfo.dct_method = JDCT_ISLOW;
    d->cinfo.do_fancy_upsampling = TRUE;
    d->cinfo.scale_num = 1;
    d->cinfo.scale_denom = 1;

    info->width = (int)d->cinfo.image_width;
    info->height = (int)d->cinfo.image_height;
    info->components = components;
    info->output_channels = d->output_channels;
    info->progressive = d->cinfo.progressive_mode ? 1 : 0;
    info->jpeg_color_space = (int)d->cinfo.jpeg_color_space;
    *out = d;
    return CC_IMG_OK;
}

int cc_jpeg_decode(cc_jpeg_decoder *d, uint8_t *pixels, size_t capacity,
                   char *message, size_t message_capacity) {
    if (d == NULL || d->started) {
        copy_message(message, message_capacity, "decoder used twice");
        return CC_IMG_BAD_CALL;
    }
    size_t row_bytes = (size_t)d->cinfo.image_width * (size_t)d->output_channels;
    if (capacity / (row_bytes ? row_bytes : 1) < (size_t)d->cinfo.image_height) {
        copy_message(message, message_capacity, "output buffer too small");
        return CC_IMG_BAD_CALL;
    }
    if (setjmp(d->error.jump)) {
        copy_message(message, message_capacity, d->error.message);
        return d->error.status;
    }
    d->started = 1;
    /* For progressive files this reads every scan; it suspends if the data ends first. */
    if (!jpeg_start_decompress(&d->cinfo)) {
        copy_message(message, message_capacity, "the data ends before the last scan");
        return CC_IMG_TRUNCATED;
    }
    if (d->cinfo.output_width != d->cinfo.image_width ||
        d->cinfo.output_height != d->cinfo.image_height ||
        d->cinfo.output_components != d->output_channels) {
        copy_message(message, message_capacity, "libjpeg changed the output geometry");
        return CC_IMG_BAD_CALL;
    }
    while (d->cinfo.output_scanline < d->cinfo.output_height) {
        JSAMPROW row = pixels + (size_t)d->cinfo.output_scanline * row_bytes;
        if (jpeg_read_scanlines(&d->cinfo, &row, 1) != 1) {
            snprintf(message, message_capacity, "the data ends at row %u of %u",
                     d->cinfo.output_scanline, d->cinfo.output_height);
            return CC_IMG_TRUNCATED;
        }
    }
    /* Like Pillow: a missing EOI after the last row is not an error (suspension is ignored),
       but a library error while reading the trailing markers is. */
    (void)jpeg_finish_decompress(&d->cinfo);
    return CC_IMG_OK;
}
