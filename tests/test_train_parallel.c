/* Suite 'train': data-parallel training (phx_train_parallel) without MPI.
 * Ranks are threads here, the gather a barrier over shared slots, so the
 * library's rank-count independence is checked in every build (sanitizers
 * and valgrind included): 1, 2 and 3 ranks train the same theta bit for
 * bit with Adam and with L-BFGS, close to training without blocks; a stop
 * request on one rank stops all at one step with rank 0's checkpoint, which
 * resumes at another rank count to the uninterrupted theta. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "phaxcl.h"
#include "phx_config.h"
#include "test_util.h"

#define MAX_RANKS 3

static phx_dataset *train_set, *test_set;

/* The ranks' meeting point: each posts its part, all read every part. */
typedef struct meet {
  pthread_barrier_t bar;
  const double *part[MAX_RANKS];
} meet;

typedef struct rank_ctx {
  meet *mt;
  int rank;
  phx_train_opts opts;
  phx_train_parallel par;
  phx_model *m;
  int stop_at; /* > 0: this rank asks to stop after that many steps */
  int steps;
  volatile sig_atomic_t stop;
  phx_status s;
  phx_err err;
} rank_ctx;

static phx_status gather(void *user, const double *mine, const size_t *counts, double *all,
                         phx_err *err) {
  rank_ctx *r = user;
  (void)err;
  r->mt->part[r->rank] = mine;
  pthread_barrier_wait(&r->mt->bar);
  size_t at = 0;
  for (int k = 0; k < r->par.size; k++) {
    memcpy(all + at, r->mt->part[k], counts[k] * sizeof *all);
    at += counts[k];
  }
  pthread_barrier_wait(&r->mt->bar); /* nobody reuses `mine` before all read it */
  return PHX_OK;
}

static phx_model *new_model(void) {
  phx_model_opts o;
  phx_err err = {0};
  phx_model_opts_default(&o);
  o.nlayers = 2;
  o.sizes[0] = phx_dataset_dim(train_set);
  o.sizes[1] = 24;
  o.sizes[2] = phx_dataset_classes(train_set);
  phx_model *m = NULL;
  must(phx_model_new(&o, &m, &err), &err, "phx_model_new");
  phx_model_init(m, 3);
  return m;
}

/* A signal to this rank alone, after stop_at steps. */
static void on_step(long done, long total, void *user) {
  rank_ctx *r = user;
  (void)done;
  (void)total;
  if (++r->steps == r->stop_at) r->stop = 1;
}

static void *run_rank(void *arg) {
  rank_ctx *r = arg;
  phx_backend *b = NULL;
  r->s = phx_backend_new("c", NULL, 0, &b, &r->err);
  phx_train_hooks hooks = {.on_progress = on_step, .user = r, .stop = &r->stop,
                           .parallel = r->par.gather ? &r->par : NULL};
  if (!r->s) r->s = phx_train(b, r->m, train_set, test_set, &r->opts, &hooks, &r->err);
  phx_backend_free(b);
  return NULL;
}

/* Trains with `ranks` threads (0: without phx_train_parallel), rank
 * `stopper` asking to stop after stop_at steps (0: never); the model of
 * rank 0, NULL when every rank was stopped. */
static phx_model *train_stop(const phx_train_opts *o, int ranks, int blocks, int stopper,
                             int stop_at) {
  meet mt;
  rank_ctx ctx[MAX_RANKS];
  pthread_t th[MAX_RANKS];
  const int n = ranks ? ranks : 1;
  pthread_barrier_init(&mt.bar, NULL, (unsigned)n);
  for (int k = 0; k < n; k++) {
    ctx[k] = (rank_ctx){.mt = &mt, .rank = k, .opts = *o, .m = new_model(),
                        .stop_at = k == stopper ? stop_at : 0};
    if (ranks) ctx[k].par = (phx_train_parallel){k, ranks, blocks, gather, &ctx[k]};
    if (pthread_create(&th[k], NULL, run_rank, &ctx[k])) die("pthread_create", NULL);
  }
  for (int k = 0; k < n; k++) pthread_join(th[k], NULL);
  pthread_barrier_destroy(&mt.bar);
  int stopped = 0;
  for (int k = 0; k < n; k++) {
    if (stop_at && ctx[k].s == PHX_EINTR) {
      stopped++;
      CHECKF(!strcmp(ctx[k].err.msg, ctx[0].err.msg), "rank %d stopped elsewhere: %s / %s", k,
             ctx[k].err.msg, ctx[0].err.msg);
    } else {
      must(ctx[k].s, &ctx[k].err, "phx_train");
    }
  }
  CHECKF(!stopped || stopped == n, "%d of %d ranks stopped", stopped, n);
  for (int k = stopped ? 0 : 1; k < n; k++) phx_model_free(ctx[k].m);
  return stopped ? NULL : ctx[0].m;
}

static phx_model *train_ranks(const phx_train_opts *o, int ranks, int blocks) {
  return train_stop(o, ranks, blocks, 0, 0);
}

static double max_diff(const phx_model *a, const phx_model *b, int *same) {
  double d = 0;
  *same = 1;
  for (int l = 0; l < phx_model_get_opts(a)->nlayers; l++) {
    size_t n = (size_t)phx_model_rows(a, l) * (size_t)phx_model_cols(a, l);
    const float *x = phx_model_theta_const(a, l), *y = phx_model_theta_const(b, l);
    *same &= !memcmp(x, y, n * sizeof *x);
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)x[i] - y[i]));
  }
  return d;
}

static void check_optimizer(phx_optimizer opt, int epochs) {
  phx_train_opts o;
  phx_train_opts_default(&o);
  o.optimizer = opt;
  o.epochs = epochs;
  o.limit = 200;
  phx_model *plain = train_ranks(&o, 0, 0), *one = train_ranks(&o, 1, 4);
  for (int ranks = 2; ranks <= MAX_RANKS; ranks++) {
    phx_model *m = train_ranks(&o, ranks, 4);
    int same;
    max_diff(one, m, &same);
    CHECKF(same, "optimizer %d: %d ranks train another theta than 1", (int)opt, ranks);
    phx_model_free(m);
  }
  int same;
  double d = max_diff(plain, one, &same);
  printf("optimizer %d: blocks vs plain training: max |dtheta| %.3g\n", (int)opt, d);
  CHECKF(d < 1e-2, "optimizer %d: blocks drift from plain training by %g", (int)opt, d);
  phx_model_free(plain);
  phx_model_free(one);
}

/* Rank 1 of 2 asks to stop mid-epoch 2: both stop at the next step, rank
 * 0 writes the checkpoint, and resuming it with 3 ranks and with 1 gives
 * the theta of the run never stopped; so does a periodic checkpoint. */
static void check_stop_resume(void) {
  char path[] = "/tmp/phaxcl-dp-ckpt-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) die("mkstemp", NULL);
  close(fd);
  phx_train_opts o;
  phx_train_opts_default(&o);
  o.epochs = 3;
  o.limit = 200; /* 13 steps an epoch */
  phx_model *whole = train_ranks(&o, 2, 4);
  o.checkpoint = path;
  CHECK(train_stop(&o, 2, 4, 1, 20) == NULL);
  phx_err err = {0};
  phx_train_opts k;
  CHECK(phx_checkpoint_info(path, &k, NULL, &err) == PHX_OK);
  o.resume = path;
  for (int ranks = 1; ranks <= 3; ranks += 2) {
    phx_model *m = train_ranks(&o, ranks, 4);
    int same;
    max_diff(whole, m, &same);
    CHECKF(same, "stopped on 2 ranks, resumed on %d: another theta", ranks);
    phx_model_free(m);
  }
  /* after epoch 1 of 3, by --checkpoint-every */
  o.resume = NULL;
  o.epochs = 1;
  phx_model_free(train_ranks(&o, 3, 4));
  o.epochs = 3;
  o.resume = path;
  phx_model *m = train_ranks(&o, 2, 4);
  int same;
  max_diff(whole, m, &same);
  CHECK(same);
  phx_model_free(m);
  phx_model_free(whole);
  remove(path);
}

int main(void) {
  phx_err err = {0};
  must(phx_dataset_load_dir(PHX_SOURCE_DATADIR "/mnist14", 1, &train_set, &test_set, &err), &err,
       "load data/mnist14");
  check_optimizer(PHX_OPT_ADAM, 2);
  check_optimizer(PHX_OPT_LBFGS, 5);
  check_stop_resume();
  /* refused: blocks that are no power of two */
  phx_train_opts o;
  phx_train_opts_default(&o);
  o.epochs = 1;
  phx_train_parallel par = {0, 1, 6, gather, NULL};
  phx_train_hooks hooks = {.parallel = &par};
  phx_backend *b = NULL;
  must(phx_backend_new("c", NULL, 0, &b, &err), &err, "backend c");
  phx_model *m = new_model();
  CHECK(phx_train(b, m, train_set, NULL, &o, &hooks, &err) == PHX_EINVAL);
  phx_model_free(m);
  phx_backend_free(b);
  phx_dataset_free(train_set);
  phx_dataset_free(test_set);
  return finish("train_parallel");
}
