#ifndef SKIFF_CZSTD_SHIM_H
#define SKIFF_CZSTD_SHIM_H
#include <zstd.h>
/* ZSTD_CONTENTSIZE_ERROR/UNKNOWN are macros of unsigned long long casts; expose them as values. */
static inline unsigned long long skiff_zstd_contentsize_unknown(void) { return ZSTD_CONTENTSIZE_UNKNOWN; }
static inline unsigned long long skiff_zstd_contentsize_error(void) { return ZSTD_CONTENTSIZE_ERROR; }
#endif
