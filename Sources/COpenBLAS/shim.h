#ifndef SKIFF_COPENBLAS_SHIM_H
#define SKIFF_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
