// The CPUs this process's affinity mask allows (sched_getaffinity needs _GNU_SOURCE, which Swift's Glibc
// module does not define).
#define _GNU_SOURCE
#include <sched.h>
#include "skiff_kernels.h"

int skiff_affinity_count(void) {
#ifdef __linux__
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
    return CPU_COUNT(&set);
#else
    return 0;
#endif
}
