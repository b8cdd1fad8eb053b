/* A model whose parameters, or whose training buffers, cannot fit in the
 * machine's memory is refused with its size in the message before anything
 * is allocated (calloc would succeed lazily and the OOM killer strike on
 * first use). Skips on machines with more than 48 GB. */
#define _DEFAULT_SOURCE
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "phaxcl.h"
#include "test_util.h"

int main(void) {
  double mem = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
  if (mem > 48e9) {
    printf("memory_fit: %.0f GB of memory, sizes below would fit: skipped\n", mem / 1e9);
    return 77;
  }
  phx_err err = {0};
  phx_model_opts o;
  phx_model_opts_default(&o);
  /* 16 layers of 2e9 parameters: 128 GB of float parameters. */
  o.nlayers = 16;
  for (int l = 0; l <= 16; l++) o.sizes[l] = l % 2 ? 1000 : 999999;
  phx_model *m = NULL;
  phx_status s = phx_model_new(&o, &m, &err);
  CHECKF(s == PHX_ENOMEM && strstr(err.msg, "parameters") && strstr(err.msg, "GB"),
         "128 GB model: %s: %s", phx_status_name(s), err.msg);
  CHECK(m == NULL);

  /* Just over the memory (1.5 times): refused too, not only gross excess.
   * 8 pairs of layers 999999 -> h -> 999999 hold about 3.2e7 h parameters. */
  int h = (int)(1.5 * mem / 4 / 3.2e7) + 1;
  o.nlayers = 16;
  for (int l = 0; l <= 16; l++) o.sizes[l] = l % 2 ? h : 999999;
  s = phx_model_new(&o, &m, &err);
  CHECKF(s == PHX_ENOMEM && strstr(err.msg, "GB"), "model of 1.5x the memory (h %d): %s: %s",
         h, phx_status_name(s), err.msg);
  CHECK(m == NULL);

  /* 8 GB of parameters (2e9) fit, training them (7 buffers each) does not. */
  o.nlayers = 1;
  o.sizes[0] = 999999;
  o.sizes[1] = 1000;
  s = phx_model_new(&o, &m, &err);
  if (s == PHX_ENOMEM) { /* a machine under 8 GB: the first refusal covers it */
    printf("memory_fit: %s\n", err.msg);
    return finish("memory_fit");
  }
  must(s, &err, "8 GB model");
  float *x = calloc(999999, sizeof *x);
  int32_t y = 0;
  phx_dataset *d = NULL;
  must(phx_dataset_new(1, 999999, 1, x, &y, &d, &err), &err, "dataset");
  phx_backend *b = NULL;
  must(phx_backend_new("c", NULL, 0, &b, &err), &err, "backend");
  phx_train_opts t;
  phx_train_opts_default(&t);
  t.epochs = 1;
  clock_t c0 = clock();
  s = phx_train(b, m, d, NULL, &t, NULL, &err);
  CHECKF(s == PHX_ENOMEM && strstr(err.msg, "GB") && strstr(err.msg, "2000000000"),
         "training 2e9 parameters: %s: %s", phx_status_name(s), err.msg);
  CHECKF(clock() - c0 < 2 * CLOCKS_PER_SEC, "refusal took %.1f s of CPU: it allocated",
         (double)(clock() - c0) / CLOCKS_PER_SEC);
  phx_backend_free(b);
  phx_dataset_free(d);
  phx_model_free(m);
  free(x);
  return finish("memory_fit");
}
