/* The reference llama.cpp API, for the test-only bindings that run libllama as the oracle.
 * scripts/regenerate-bindings reads this file; includes.txt beside it keeps only llama.h's symbols. */
#include "llama.h"
