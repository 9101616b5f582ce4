#ifndef SKIFF_CZLIB_SHIM_H
#define SKIFF_CZLIB_SHIM_H
#include <zlib.h>
/* deflateInit2 is a macro; expose it as a function. windowBits 31 = a gzip wrapper (header with mtime 0). */
static inline int skiff_deflate_init_gzip(z_streamp s, int level) {
    return deflateInit2(s, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
}
#endif
