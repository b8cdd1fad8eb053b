/* train's data-parallel options (par.h): --grad-blocks and the ranks. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "par.h"

/* Eight blocks per batch: enough ranks for a node, few enough that the
 * blocks of the default batch of 16 still hold two samples each. */
#define DEFAULT_BLOCKS 8

int phx_par_train_options(int *argc, char **argv, phx_train_parallel *p, int *use) {
  memset(p, 0, sizeof *p);
  p->blocks = DEFAULT_BLOCKS;
  p->rank = phx_par_rank();
  p->size = phx_par_size();
  p->gather = phx_par_allgather;
  *use = phx_par_active();
  int n = 1;
  for (int i = 1; i < *argc; i++) {
    if (strcmp(argv[i], "--grad-blocks") != 0) {
      argv[n++] = argv[i];
      continue;
    }
    if (i + 1 >= *argc) return phx_cli_fail(PHX_EXIT_USAGE, "--grad-blocks needs a value");
    const char *v = argv[++i];
    char *end = NULL;
    long b = (*v >= '0' && *v <= '9') ? strtol(v, &end, 10) : 0;
    if (!end || *end || b < 1 || b > 1024 || (b & (b - 1)))
      return phx_cli_fail(PHX_EXIT_USAGE,
                          "--grad-blocks: expected a power of two from 1 to 1024, got '%s'", v);
    p->blocks = (int)b;
    *use = 1;
  }
  *argc = n;
  if (*use && p->size > p->blocks)
    return phx_cli_fail(PHX_EXIT_USAGE, "--grad-blocks %d: fewer blocks than the %d ranks",
                        p->blocks, p->size);
  return -1;
}
