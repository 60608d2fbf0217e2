// The declaration in include/fuzz_driver.h is all this target provides; a C target needs
// one source file, and LLVMFuzzerRunDriver itself comes from libFuzzer at link time.
#include "fuzz_driver.h"
