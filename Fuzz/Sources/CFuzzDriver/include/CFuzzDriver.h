#ifndef LOANSCORE_C_FUZZ_DRIVER_H
#define LOANSCORE_C_FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (compiler-rt, FuzzerInterface.h): parses the flags in argv and fuzzes
/// `callback`, as libFuzzer's own `main` does.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

/// Runs libFuzzer's driver; each fuzz target's entry point calls it (see FuzzEntryPoint in
/// Fuzz/README.md for why the targets have their own entry point).
int loanscore_fuzz_run(int argc, char **argv, int (*callback)(const uint8_t *data, size_t size));

#endif
