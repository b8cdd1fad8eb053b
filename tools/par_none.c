/* par.h without MPI in the build: one process, rank 0 of 1. */
#include <string.h>

#include "par.h"

int phx_par_init(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  return 0;
}

int phx_par_finish(int rc) { return rc; }
int phx_par_active(void) { return 0; }
int phx_par_rank(void) { return 0; }
int phx_par_size(void) { return 1; }
int phx_par_local_rank(void) { return 0; }
int phx_par_local_size(void) { return 1; }

void phx_par_range(int n, int unit, int r, int *first, int *count) {
  (void)unit;
  (void)r;
  *first = 0;
  *count = n;
}

phx_status phx_par_gather_range(int n, int unit, int width, double *all, phx_err *err) {
  (void)n;
  (void)unit;
  (void)width;
  (void)all;
  (void)err;
  return PHX_OK;
}

phx_status phx_par_allgather(void *user, const double *mine, const size_t *counts, double *all,
                             phx_err *err) {
  (void)user;
  (void)err;
  memcpy(all, mine, counts[0] * sizeof *all);
  return PHX_OK;
}
