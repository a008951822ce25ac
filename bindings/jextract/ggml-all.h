/* The ggml headers panllama binds, in one translation unit for jextract.
 * scripts/regenerate-bindings reads this file; includes.txt beside it limits the output to ggml's own
 * symbols, and headers.sha256 records which pinned headers the committed bindings were made from. */
#include "ggml.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "gguf.h"
#include "ggml-cuda.h"
#include "ggml-metal.h"
