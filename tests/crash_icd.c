/* An "OpenCL implementation" that aborts as soon as the ICD loader opens
 * it, standing for a runtime that crashes the loader: `phaxcl check
 * --device all` must fail its row and still run the others. */
#include <stdlib.h>

__attribute__((constructor)) static void crash_on_load(void) { abort(); }
