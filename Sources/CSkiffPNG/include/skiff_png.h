#ifndef SKIFF_PNG_H
#define SKIFF_PNG_H
#include <stddef.h>
#include <stdint.h>

/// Reads a PNG's size without decoding it. Returns 0 on success, or -1 with `error` filled.
int skiff_png_header(const uint8_t *data, size_t size, uint32_t *width, uint32_t *height, char *error, size_t error_size);

/// Decodes a PNG to 8-bit pixels with `channels` (1 or 3) per pixel, as TensorFlow's decode_png does with
/// dtype uint8: alpha (and tRNS) stripped, 16-bit samples truncated to their high byte, palettes expanded,
/// low-bit gray expanded, gray replicated to RGB, RGB to gray with the BT.601 weights.
/// `out` must hold width * height * channels bytes. Returns 0 on success, or -1 with `error` filled.
int skiff_png_decode(const uint8_t *data, size_t size, int channels, uint8_t *out, size_t out_size,
                     char *error, size_t error_size);

#endif
