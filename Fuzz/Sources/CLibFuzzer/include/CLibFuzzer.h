#include <stddef.h>
#include <stdint.h>

// libFuzzer's driver (compiler-rt, LLVM >= 12), linked by -sanitize=fuzzer. The targets call it from their own
// entry point: see FuzzSupport.run.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
