/* Host threads (src/core/host.h): every share runs once, work started
 * inside a worker stays on it, and the C path's returned-load solves,
 * spread over the workers, give the same bits as on one (the gradient and
 * loss of a returned-load model on "c" and "c64"). */
#include <math.h>
#include <stdatomic.h>

#include "host.h"
#include "phx_config.h"
#include "test_util.h"
#include "weak_table.h"

typedef struct counts {
  atomic_int ran[PHX_HOST_MAX_THREADS];
  atomic_int bad_T, nested;
} counts;

static void count_share(void *ctx, int t, int T) {
  counts *c = ctx;
  atomic_fetch_add(&c->ran[t], 1);
  if (T != 5) atomic_fetch_add(&c->bad_T, 1);
  if (phx_host_workers(1000) != 1) atomic_fetch_add(&c->nested, 1);
}

typedef struct grad_job {
  phx_backend *b;
  const phx_model *m;
  const phx_dataset *d;
  phx_model *g;
  double loss;
  phx_status s;
  phx_err err;
} grad_job;

static void grad_share(void *ctx, int t, int T) {
  (void)t, (void)T;
  grad_job *j = ctx;
  j->s = phx_gradient(j->b, j->m, j->d, 64, &j->loss, j->g, &j->err);
}

/* The gradient here (the solves on every worker) and inside a worker (on
 * that one alone): the same bits. */
static void same_bits(const char *backend, const phx_model *m, const phx_dataset *d) {
  phx_err err = {0};
  phx_backend *b = NULL;
  must(phx_backend_new(backend, NULL, 0, &b, &err), &err, backend);
  grad_job here = {b, m, d, NULL, 0, PHX_OK, {0}}, one = here;
  must(phx_model_new(phx_model_get_opts(m), &here.g, &err), &err, "model");
  must(phx_model_new(phx_model_get_opts(m), &one.g, &err), &err, "model");
  grad_share(&here, 0, 1);
  phx_host_run(1, grad_share, &one);
  must(here.s, &here.err, "gradient");
  must(one.s, &one.err, "gradient in a worker");
  CHECKF(memcmp(&here.loss, &one.loss, sizeof here.loss) == 0, "%s: loss %.17g on %d workers, "
         "%.17g on one", backend, here.loss, phx_host_workers(16), one.loss);
  for (int l = 0; l < phx_model_get_opts(m)->nlayers; l++) {
    const size_t n = (size_t)phx_model_rows(m, l) * (size_t)phx_model_cols(m, l);
    CHECKF(memcmp(phx_model_theta(here.g, l), phx_model_theta(one.g, l), n * sizeof(float)) == 0,
           "%s: layer %d's gradient differs between %d workers and one", backend, l,
           phx_host_workers(16));
  }
  printf("%s: returned-load loss %.9g, the same bits on %d workers and on one\n", backend,
         here.loss, phx_host_workers(16));
  phx_model_free(here.g);
  phx_model_free(one.g);
  phx_backend_free(b);
}

int main(void) {
  counts c = {0};
  phx_host_run(5, count_share, &c);
  for (int t = 0; t < 5; t++) CHECKF(atomic_load(&c.ran[t]) == 1, "share %d ran %d times", t,
                                     atomic_load(&c.ran[t]));
  CHECK(atomic_load(&c.bad_T) == 0);
  CHECKF(atomic_load(&c.nested) == 0, "a worker was offered more workers");
  CHECK(phx_host_workers(1) == 1);
  CHECK(phx_host_workers(1000) >= 1 && phx_host_workers(1000) <= PHX_HOST_MAX_THREADS);

  phx_err err = {0};
  phx_dataset *train = NULL, *test = NULL;
  must(phx_dataset_load_dir(PHX_SOURCE_DATADIR "/mnist14", 1, &train, &test, &err), &err,
       "bundled data");
  phx_model_opts mo;
  phx_model_opts_default(&mo);
  mo.nlayers = 2;
  mo.sizes[0] = phx_dataset_dim(train);
  mo.sizes[1] = 12;
  mo.sizes[2] = 10;
  mo.load_aware = 2;
  phx_model *m = NULL;
  must(phx_model_new(&mo, &m, &err), &err, "model");
  phx_model_init(m, 5);
  must(set_weak_table(m, 20, &err), &err, "table");
  same_bits("c", m, train);
  same_bits("c64", m, train);
  phx_model_free(m);
  phx_dataset_free(train);
  phx_dataset_free(test);
  return finish("host_threads");
}
