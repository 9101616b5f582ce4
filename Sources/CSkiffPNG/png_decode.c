// PNG decoding through libpng's classic API. libpng reports errors with longjmp, which Swift cannot catch,
// so the whole decode lives here and returns a status with the library's message.
#include "skiff_png.h"
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
    char *error;
    size_t error_size;
} reader_t;

static void on_error(png_structp png, png_const_charp message) {
    reader_t *r = (reader_t *)png_get_error_ptr(png);
    if (r && r->error && r->error_size) snprintf(r->error, r->error_size, "%s", message);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp message) { (void)png; (void)message; }

static void on_read(png_structp png, png_bytep out, size_t length) {
    reader_t *r = (reader_t *)png_get_io_ptr(png);
    if (length > r->size - r->offset) png_error(png, "the PNG data is truncated");
    memcpy(out, r->data + r->offset, length);
    r->offset += length;
}

static int start(reader_t *r, png_structp *png, png_infop *info) {
    *png = png_create_read_struct(PNG_LIBPNG_VER_STRING, r, on_error, on_warning);
    if (!*png) { snprintf(r->error, r->error_size, "cannot create the PNG decoder"); return -1; }
    *info = png_create_info_struct(*png);
    if (!*info) { png_destroy_read_struct(png, NULL, NULL); snprintf(r->error, r->error_size, "cannot create the PNG decoder"); return -1; }
    png_set_read_fn(*png, r, on_read);
    // Bound what a hostile file can make libpng allocate for ancillary chunks.
    png_set_chunk_malloc_max(*png, 8u << 20);
    return 0;
}

int skiff_png_header(const uint8_t *data, size_t size, uint32_t *width, uint32_t *height, char *error, size_t error_size) {
    reader_t r = { data, size, 0, error, error_size };
    png_structp png; png_infop info;
    if (start(&r, &png, &info) != 0) return -1;
    if (setjmp(png_jmpbuf(png))) { png_destroy_read_struct(&png, &info, NULL); return -1; }
    png_read_info(png, info);
    *width = png_get_image_width(png, info);
    *height = png_get_image_height(png, info);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

int skiff_png_decode(const uint8_t *data, size_t size, int channels, uint8_t *out, size_t out_size,
                     char *error, size_t error_size) {
    reader_t r = { data, size, 0, error, error_size };
    png_structp png; png_infop info;
    if (channels != 1 && channels != 3) { snprintf(error, error_size, "channels must be 1 or 3"); return -1; }
    if (start(&r, &png, &info) != 0) return -1;
    if (setjmp(png_jmpbuf(png))) { png_destroy_read_struct(&png, &info, NULL); return -1; }
    png_read_info(png, info);
    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, NULL, NULL, NULL);
    if ((size_t)width * height * (size_t)channels != out_size) {
        snprintf(error, error_size, "the PNG is %ux%u, not the size it declared first", width, height);
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    int has_alpha = (color_type & PNG_COLOR_MASK_ALPHA) != 0;
    int has_trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    if (has_alpha || has_trns) png_set_strip_alpha(png);
    if (bit_depth > 8) png_set_strip_16(png);
    png_set_packing(png);
    int passes = png_set_interlace_handling(png);
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    int is_gray = (color_type & PNG_COLOR_MASK_COLOR) == 0;
    if (is_gray && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (channels == 1) {
        if (!is_gray) png_set_rgb_to_gray(png, 1, 0.299, 0.587);
    } else if (is_gray) {
        png_set_gray_to_rgb(png);
    }
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)width * (size_t)channels) {
        snprintf(error, error_size, "unexpected row size after conversion");
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    for (int p = 0; p < passes; p++) {
        png_bytep row = out;
        for (png_uint_32 y = 0; y < height; y++, row += (size_t)width * channels) png_read_row(png, row, NULL);
    }
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}
