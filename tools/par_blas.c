/* One BLAS thread for a process whose parallelism is its own (par.h).
 * OpenBLAS is looked up at run time, so builds without it, or with another
 * BLAS, are left as they are. */
#define _GNU_SOURCE /* RTLD_DEFAULT */
#include <dlfcn.h>

#include "par.h"

void phx_par_blas_serial(void) {
  /* OpenBLAS splits a product's rows and columns over its threads, never
   * the sums, so this changes no result, only who computes it */
  void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
  if (set) set(1);
}
