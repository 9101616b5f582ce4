#ifndef SKIFF_CTURBOJPEG_SHIM_H
#define SKIFF_CTURBOJPEG_SHIM_H
#include <stddef.h>
#include <turbojpeg.h>
#endif
