/* Training: mini-batch first-order optimizers (SGD, momentum, Adam) and
 * full-batch L-BFGS (liblbfgs), driven through the backend-resident network
 * of net.h. The caller's model is written only when training succeeds, so a
 * failed run never leaves half-trained or non-finite parameters behind. */
#include <lbfgs.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "faults.h"
#include "net.h"
#include "rng.h"
#include "train_parallel.h"

/* Draws of variation-aware training come from the training seed mixed
 * with this constant, so they are not the chips `phaxcl mc` evaluates. */
#define PHX_VARY_TRAIN 0x5851f42d4c957f2dULL

/* Defaults tuned on the paper task (196-100-10 on data/mnist14): Adam's
 * per-parameter scaling copes with the tiny raw gradients of the normalised
 * crossbar; lr 0.1 with batch 16 for 50 epochs gave the best final test
 * accuracy over seeds 1-5 (85.5-88 %) of the grid lr 0.05-0.1, batch 16-32,
 * 30-50 epochs. */
void phx_train_opts_default(phx_train_opts *o) {
  memset(o, 0, sizeof *o);
  o->optimizer = PHX_OPT_ADAM;
  o->epochs = 50;
  o->batch = 16;
  o->lr = 0.1;
  o->momentum = 0.9;
  o->beta1 = 0.9;
  o->beta2 = 0.999;
  o->eps = 1e-8;
  o->seed = 1;
  o->limit = 0;
}

/* Monotonic seconds, for per-epoch timings. */
static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Range checks on the training options; messages name the CLI option. */
static phx_status check_opts(const phx_train_opts *o, phx_err *err) {
  if (o->optimizer < PHX_OPT_SGD || o->optimizer > PHX_OPT_LBFGS)
    return phx_fail(err, PHX_EINVAL, "--optimizer: unknown optimizer %d",
                    (int)o->optimizer);
  if (o->epochs < 0)
    return phx_fail(err, PHX_EINVAL, "--epochs: must be >= 0 (got %d)", o->epochs);
  if (o->batch < 1)
    return phx_fail(err, PHX_EINVAL, "--batch: must be >= 1 (got %d)", o->batch);
  if (o->limit < 0)
    return phx_fail(err, PHX_EINVAL, "--limit: must be >= 0 (got %d)", o->limit);
  if (o->checkpoint_every < 0)
    return phx_fail(err, PHX_EINVAL, "--checkpoint-every: must be >= 0 (got %d)",
                    o->checkpoint_every);
  if ((o->checkpoint && !*o->checkpoint) || (o->resume && !*o->resume))
    return phx_fail(err, PHX_EINVAL, "--checkpoint/--resume: empty file name");
  if (o->optimizer != PHX_OPT_LBFGS && !(isfinite(o->lr) && o->lr > 0))
    return phx_fail(err, PHX_EINVAL, "--lr: must be a positive finite number (got %g)",
                    o->lr);
  if (o->optimizer == PHX_OPT_MOMENTUM &&
      !(isfinite(o->momentum) && o->momentum >= 0 && o->momentum < 1))
    return phx_fail(err, PHX_EINVAL, "momentum must be in [0, 1) (got %g)",
                    o->momentum);
  if (o->optimizer == PHX_OPT_ADAM &&
      !(o->beta1 >= 0 && o->beta1 < 1 && o->beta2 >= 0 && o->beta2 < 1 &&
        isfinite(o->eps) && o->eps > 0))
    return phx_fail(err, PHX_EINVAL,
                    "adam: beta1, beta2 must be in [0, 1) and eps > 0 "
                    "(got %g, %g, %g)", o->beta1, o->beta2, o->eps);
  if (o->vary_draws < 0 || o->vary_draws > 1024)
    return phx_fail(err, PHX_EINVAL, "--vary-draws: must be from 1 to 1024 (got %d)",
                    o->vary_draws);
  if (o->vary && o->optimizer == PHX_OPT_LBFGS)
    return phx_fail(err, PHX_EINVAL,
                    "variation-aware training needs a mini-batch optimizer, not lbfgs");
  if (o->vary) return phx_variation_check(o->vary, err);
  return PHX_OK;
}

/* A dataset must feed the model's inputs and fit its outputs. */
static phx_status check_data(const phx_model_opts *mo, const phx_dataset *d,
                             const char *what, phx_err *err) {
  int in = mo->sizes[0], out = mo->sizes[mo->nlayers];
  if (phx_dataset_count(d) < 1)
    return phx_fail(err, PHX_ESHAPE, "%s set is empty", what);
  if (phx_dataset_dim(d) != in)
    return phx_fail(err, PHX_ESHAPE,
                    "%s set has %d inputs per sample but the model expects %d",
                    what, phx_dataset_dim(d), in);
  if (phx_dataset_classes(d) > out)
    return phx_fail(err, PHX_ESHAPE,
                    "%s set has %d classes but the model has only %d outputs",
                    what, phx_dataset_classes(d), out);
  const int T = phx_dataset_targets(d);
  if (T && T != out)
    return phx_fail(err, PHX_ESHAPE, "%s set has %d targets but the model has %d outputs",
                    what, T, out);
  if (T && mo->loss != PHX_LOSS_MSE)
    return phx_fail(err, PHX_EINVAL, "--loss: regression trains with squared error (mse)");
  return PHX_OK;
}

/* Everything one training run holds; released by run_free. */
typedef struct run {
  phx_net *net;
  const phx_train_opts *o;
  const phx_train_hooks *hooks;
  phx_model *copy;   /* receives theta at the end, then goes to the caller */
  int n;             /* training samples used */
  int ntest;         /* test samples (0 without a test set) */
  int batch;         /* mini-batch size, <= n */
  int eval_batch;    /* batch for test passes and full-batch sweeps */
  long total;        /* samples per epoch for progress: n */
  uint64_t hash;     /* of the training samples, for checkpoints */
  int start_epoch;   /* epochs done before this call (resume) */
  int start_offset;  /* samples of the next epoch done before this call */
  long start_step;   /* optimizer steps done before this call */
  phx_dp *dp;        /* data-parallel gradients, or NULL */
  int repin;         /* the fault map has cells between gmin and gmax */
} run;

/* One optimizer step on the batch at off: here, or combined over ranks. */
static phx_status batch_step(run *r, int off, int B, phx_optim *opt, phx_err *err) {
  phx_status s = r->dp ? phx_dp_gradient(r->dp, r->net, off, B, 1.0 / B, NULL, err)
                       : phx_net_batch(r->net, PHX_SLOT_TRAIN, (size_t)off, B, 1.0 / B, 1, 0, err);
  opt->t++;
  if (!s) s = r->dp ? phx_net_step(r->net, opt, err) : phx_net_grad_step(r->net, opt, err);
  return s;
}

/* One step of variation-aware training on K > 1 chips (draws t K ..
 * t K + K - 1): the batch's gradient on each, passed straight through
 * the drawn perturbation, averaged over the K chips, then the optimizer
 * step. The sums run on the host in double, in draw order, so every
 * backend takes the same step within float tolerance. */
static phx_status vary_step(run *r, const phx_model_opts *mo, int off, int B, phx_optim *opt,
                            phx_err *err) {
  const phx_train_opts *o = r->o;
  const int K = o->vary_draws;
  const uint64_t seed = o->seed ^ PHX_VARY_TRAIN;
  size_t at[PHX_MAX_LAYERS + 1] = {0};
  for (int l = 0; l < mo->nlayers; l++)
    at[l + 1] = at[l] + (size_t)(2 * mo->sizes[l] + 2) * (size_t)mo->sizes[l + 1];
  double *sum = calloc(at[mo->nlayers], sizeof *sum);
  double *g = malloc(at[mo->nlayers] * sizeof *g);
  phx_status s = sum && g ? PHX_OK : phx_fail(err, PHX_ENOMEM, "out of memory for a step");
  for (int d = 0; d < K && !s; d++) {
    const int draw = (int)(opt->t * K + d);
    s = phx_net_map_vary(r->net, o->vary, seed, draw, err);
    if (!s)
      s = r->dp ? phx_dp_gradient(r->dp, r->net, off, B, 1.0 / B, NULL, err)
                : phx_net_batch(r->net, PHX_SLOT_TRAIN, (size_t)off, B, 1.0 / B, 1, 0, err);
    if (!s && !r->dp) s = phx_net_grad_finish(r->net, err);
    for (int l = 0; l < mo->nlayers && !s; l++) {
      s = phx_net_get_grad64(r->net, l, g + at[l], err);
      for (size_t i = at[l]; i < at[l + 1] && !s; i++) sum[i] += g[i] / K;
    }
  }
  for (int l = 0; l < mo->nlayers && !s; l++) s = phx_net_set_grad64(r->net, l, sum + at[l], err);
  opt->t++;
  if (!s) s = phx_net_step(r->net, opt, err);
  free(sum);
  free(g);
  return s;
}

/* Sets the known stuck cells' parameters on the net (all, or only those
 * between gmin and gmax, which the optimizer would move: gmin and gmax
 * cells sit where the gradient vanishes). */
static phx_status pin_faults(run *r, const phx_model_opts *mo, int free_only, phx_err *err) {
  phx_status s = PHX_OK;
  for (int l = 0; l < mo->nlayers && !s; l++) {
    int here = 0;
    for (int i = 0; i < r->o->faults->count && !here; i++)
      here = r->o->faults->f[i].layer == l &&
             (!free_only || phx_fault_is_free(&r->o->faults->f[i], mo));
    if (!here) continue;
    const size_t n = (size_t)(2 * mo->sizes[l] + 2) * (size_t)mo->sizes[l + 1];
    double *th = malloc(n * sizeof *th);
    if (!th) return phx_fail(err, PHX_ENOMEM, "out of memory pinning the faults");
    s = phx_net_get_theta64(r->net, l, th, err);
    phx_faults_pin64(r->o->faults, mo, l, free_only, th);
    if (!s) s = phx_net_set_theta64(r->net, l, th, err);
    free(th);
  }
  return s;
}

/* The caller asked to stop (a signal, typically); with ranks, any rank's
 * caller as of the last gradient, so that every rank stops at that step. */
static int stop_requested(const run *r) {
  if (r->dp) return phx_dp_stopped(r->dp);
  return r->hooks && r->hooks->stop && *r->hooks->stop;
}

/* Saves the checkpoint of the net's current state: epoch epochs done,
 * offset samples of the next, step optimizer steps. */
static phx_status save_checkpoint(run *r, int epoch, int offset, long step, phx_err *err) {
  const phx_model_opts *mo = phx_model_get_opts(r->copy);
  phx_ckpt c;
  memset(&c, 0, sizeof c);
  c.opts = *r->o;
  c.epoch = epoch;
  c.offset = offset;
  c.step = step;
  c.samples = r->n;
  c.data_hash = r->hash;
  c.nlayers = mo->nlayers;
  int moments = r->o->optimizer == PHX_OPT_MOMENTUM || r->o->optimizer == PHX_OPT_ADAM;
  phx_status s = phx_net_get_theta(r->net, r->copy, err);
  for (int l = 0; l < c.nlayers && !s; l++) {
    c.count[l] = (size_t)phx_model_rows(r->copy, l) * (size_t)phx_model_cols(r->copy, l);
    c.theta[l] = malloc(c.count[l] * sizeof(double));
    if (moments) {
      c.m[l] = malloc(c.count[l] * sizeof(double));
      c.v[l] = malloc(c.count[l] * sizeof(double));
    }
    if (!c.theta[l] || (moments && (!c.m[l] || !c.v[l])))
      s = phx_fail(err, PHX_ENOMEM, "%s: out of memory for the checkpoint", r->o->checkpoint);
    if (!s) s = phx_net_get_theta64(r->net, l, c.theta[l], err);
    if (!s && moments) s = phx_net_get_state64(r->net, l, c.m[l], c.v[l], err);
  }
  if (!s && offset > 0) {
    c.loss = malloc((size_t)offset * sizeof *c.loss);
    c.pred = malloc((size_t)offset * sizeof *c.pred);
    s = c.loss && c.pred ? phx_net_get_metrics_raw(r->net, PHX_SLOT_TRAIN, offset, c.loss,
                                                   c.pred, err)
                         : phx_fail(err, PHX_ENOMEM, "out of memory for the checkpoint");
  }
  if (!s) s = phx_ckpt_save(r->o->checkpoint, r->copy, &c, err);
  phx_ckpt_free(&c);
  return s;
}

/* The checkpoint, written by one process: with ranks, rank 0 once every
 * rank's metrics of a partial epoch are in, and no rank goes on (or stops)
 * before it is written. */
static phx_status write_checkpoint(run *r, int epoch, int offset, long step, phx_err *err) {
  if (!r->dp) return save_checkpoint(r, epoch, offset, step, err);
  phx_status s = offset > 0 ? phx_dp_metrics(r->dp, r->net, err) : PHX_OK;
  if (!s && phx_dp_rank(r->dp) == 0) s = save_checkpoint(r, epoch, offset, step, err);
  return phx_dp_agree(r->dp, s, err);
}

/* Periodic and final checkpoints, at the end of epoch e. */
static phx_status epoch_checkpoint(run *r, int e, long step, phx_err *err) {
  if (!r->o->checkpoint) return PHX_OK;
  int every = r->o->checkpoint_every;
  if (e == r->o->epochs || (every > 0 && e % every == 0))
    return write_checkpoint(r, e, 0, step, err);
  return PHX_OK;
}

/* Stops on request: the checkpoint when one is set, then PHX_EINTR saying
 * where the run stopped and what was saved. */
static phx_status interrupted(run *r, int epoch, int offset, long step, phx_err *err) {
  phx_status s = r->o->checkpoint ? write_checkpoint(r, epoch, offset, step, err) : PHX_OK;
  if (s) return s;
  char at[96];
  if (offset)
    snprintf(at, sizeof at, "%d of %d samples into epoch %d", offset, r->n, epoch + 1);
  else
    snprintf(at, sizeof at, "after %s %d",
             r->o->optimizer == PHX_OPT_LBFGS ? "iteration" : "epoch", epoch);
  if (r->o->checkpoint)
    return phx_fail(err, PHX_EINTR, "interrupted %s; checkpoint written to %s", at,
                    r->o->checkpoint);
  return phx_fail(err, PHX_EINTR, "interrupted %s; nothing saved (no checkpoint file)", at);
}

/* Forward pass over a whole slot, in batches, without gradients. */
static phx_status sweep(run *r, int slot, int count, phx_err *err) {
  for (int off = 0; off < count; off += r->eval_batch) {
    int B = count - off < r->eval_batch ? count - off : r->eval_batch;
    phx_status s = phx_net_batch(r->net, slot, (size_t)off, B, 1.0, 0, 0, err);
    if (s) return s;
  }
  return PHX_OK;
}

/* Test-set loss and accuracy into st (-1 accuracy when there is none). */
static phx_status test_pass(run *r, phx_epoch_stats *st, phx_err *err) {
  st->test_loss = 0;
  st->test_acc = -1;
  if (r->ntest == 0) return PHX_OK;
  phx_status s = sweep(r, PHX_SLOT_TEST, r->ntest, err);
  if (s) return s;
  double sum;
  long correct;
  s = phx_net_metrics(r->net, PHX_SLOT_TEST, r->ntest, &sum, &correct, NULL,
                      NULL, err);
  if (s) return s;
  st->test_loss = sum / r->ntest;
  st->test_acc = (double)correct / r->ntest;
  return PHX_OK;
}

/* The non-finite loss error, with the hint users need. */
static phx_status nan_error(const run *r, int epoch, phx_err *err) {
  if (r->o->optimizer == PHX_OPT_LBFGS)
    return phx_fail(err, PHX_ENAN,
                    "training diverged: loss is not finite at iteration %d", epoch);
  return phx_fail(err, PHX_ENAN,
                  "training diverged: loss is not finite in epoch %d "
                  "(try a lower --lr than %g)", epoch, r->o->lr);
}

/* The sample order of epoch e: a shuffle seeded from (seed, e) alone, so a
 * resumed run needs no generator state. */
void phx_epoch_order(uint64_t seed, int epoch, int32_t *order, int n) {
  phx_rng rng;
  phx_rng_seed(&rng, seed ^ (0xd1b54a32d192ed03ULL * (uint64_t)epoch));
  for (int i = 0; i < n; i++) order[i] = i;
  phx_rng_shuffle(&rng, order, n);
}

/* Mini-batch training: shuffle from (seed, epoch), step per batch, test
 * pass and metrics once per epoch. A resumed run starts at its position;
 * the stop hook is polled after every step. */
static phx_status train_minibatch(run *r, const phx_model_opts *mo, phx_err *err) {
  const phx_train_opts *o = r->o;
  phx_optim opt = {.kind = o->optimizer, .lr = o->lr, .momentum = o->momentum,
                   .beta1 = o->beta1, .beta2 = o->beta2, .eps = o->eps, .t = r->start_step};
  int32_t *order = malloc(sizeof *order * (size_t)r->n);
  if (!order) return phx_fail(err, PHX_ENOMEM, "out of memory for the sample order");
  phx_status s = PHX_OK;
  for (int e = r->start_epoch + 1; e <= o->epochs && !s; e++) {
    double t0 = now_seconds();
    phx_epoch_order(o->seed, e, order, r->n);
    s = phx_net_set_order(r->net, PHX_SLOT_TRAIN, order, err);
    int first = e == r->start_epoch + 1 ? r->start_offset : 0;
    for (int off = first; off < r->n && !s; off += r->batch) {
      int B = r->n - off < r->batch ? r->n - off : r->batch;
      /* variation-aware: this step's forward pass on chip number t (one
       * chip a step), or on its K chips */
      if (o->vary && o->vary_draws > 1) {
        s = vary_step(r, mo, off, B, &opt, err);
      } else {
        if (o->vary) s = phx_net_map_vary(r->net, o->vary, o->seed ^ PHX_VARY_TRAIN, (int)opt.t, err);
        if (!s) s = batch_step(r, off, B, &opt, err);
      }
      if (!s && r->repin) s = pin_faults(r, mo, 1, err);
      if (!s && r->hooks && r->hooks->on_progress)
        r->hooks->on_progress((long)off + B, r->total, r->hooks->user);
      /* Mid-epoch only: a stop after the last batch ends the epoch first. */
      if (!s && off + B < r->n && stop_requested(r)) {
        s = interrupted(r, e - 1, off + B, opt.t, err);
        goto done;
      }
    }
    if (s) break;
    phx_epoch_stats st = {.epoch = e, .epochs = o->epochs};
    double sum;
    long correct;
    if (r->dp) s = phx_dp_metrics(r->dp, r->net, err);
    if (!s)
      s = phx_net_metrics(r->net, PHX_SLOT_TRAIN, r->n, &sum, &correct, NULL, NULL, err);
    if (s) break;
    st.loss = sum / r->n;
    st.train_acc = (double)correct / r->n;
    if (!isfinite(st.loss)) {
      s = nan_error(r, e, err);
      break;
    }
    s = test_pass(r, &st, err);
    if (!s) s = epoch_checkpoint(r, e, opt.t, err);
    if (s) break;
    st.seconds = now_seconds() - t0;
    if (r->hooks && r->hooks->on_epoch && r->hooks->on_epoch(&st, r->hooks->user))
      break;
    if (e < o->epochs && stop_requested(r)) s = interrupted(r, e, 0, opt.t, err);
  }
done:
  free(order);
  return s;
}

/* State shared with the liblbfgs callbacks. */
typedef struct lb_ctx {
  run *r;
  int nl;                       /* layers */
  size_t off[PHX_MAX_LAYERS + 1]; /* offsets of each layer in x */
  phx_status status;            /* first failure inside a callback */
  phx_err *err;
  long correct;                 /* at the last evaluation */
  double t0;                    /* start of the current iteration */
  int stopped;                  /* the epoch hook asked to stop */
} lb_ctx;

/* Uploads x as every layer's theta. */
static phx_status lb_set(lb_ctx *c, const double *x) {
  for (int l = 0; l < c->nl; l++) {
    phx_status s = phx_net_set_theta64(c->r->net, l, x + c->off[l], c->err);
    if (s) return s;
  }
  return PHX_OK;
}

/* liblbfgs objective: mean loss over all n samples and its exact gradient. */
static lbfgsfloatval_t lb_evaluate(void *inst, const lbfgsfloatval_t *x,
                                   lbfgsfloatval_t *g, const int nvar,
                                   const lbfgsfloatval_t step) {
  lb_ctx *c = inst;
  run *r = c->r;
  (void)step;
  if (c->status) {
    memset(g, 0, sizeof *g * (size_t)nvar);
    return INFINITY;
  }
  phx_status s = lb_set(c, x);
  if (r->dp) {
    if (!s) s = phx_dp_gradient(r->dp, r->net, 0, r->n, 1.0 / r->n, g, c->err);
    if (!s) s = phx_dp_metrics(r->dp, r->net, c->err);
  } else {
    for (int off = 0; off < r->n && !s; off += r->eval_batch) {
      int B = r->n - off < r->eval_batch ? r->n - off : r->eval_batch;
      s = phx_net_batch(r->net, PHX_SLOT_TRAIN, (size_t)off, B, 1.0 / r->n, 1, off > 0, c->err);
    }
    if (!s) s = phx_net_grad_finish(r->net, c->err);
    for (int l = 0; l < c->nl && !s; l++)
      s = phx_net_get_grad64(r->net, l, g + c->off[l], c->err);
  }
  double sum = 0;
  if (!s)
    s = phx_net_metrics(r->net, PHX_SLOT_TRAIN, r->n, &sum, &c->correct, NULL,
                        NULL, c->err);
  if (s) {
    c->status = s;
    memset(g, 0, sizeof *g * (size_t)nvar);
    return INFINITY;
  }
  return sum / r->n;
}

/* liblbfgs per-iteration report: test pass at x, then the epoch hook. */
static int lb_progress(void *inst, const lbfgsfloatval_t *x,
                       const lbfgsfloatval_t *g, const lbfgsfloatval_t fx,
                       const lbfgsfloatval_t xnorm, const lbfgsfloatval_t gnorm,
                       const lbfgsfloatval_t step, int nvar, int k, int ls) {
  lb_ctx *c = inst;
  run *r = c->r;
  (void)g; (void)xnorm; (void)gnorm; (void)step; (void)nvar; (void)ls;
  if (c->status) return 1;
  if (!isfinite(fx)) {
    c->status = nan_error(r, k, c->err);
    return 1;
  }
  const int done = k + r->start_epoch;
  phx_epoch_stats st = {.epoch = done, .epochs = r->o->epochs, .loss = fx,
                        .train_acc = (double)c->correct / r->n};
  phx_status s = lb_set(c, x);
  if (!s) s = test_pass(r, &st, c->err);
  if (s) {
    c->status = s;
    return 1;
  }
  double t = now_seconds();
  st.seconds = t - c->t0;
  c->t0 = t;
  if (r->hooks && r->hooks->on_progress)
    r->hooks->on_progress(r->total, r->total, r->hooks->user);
  if ((s = epoch_checkpoint(r, done, 0, c->err))) {
    c->status = s;
    return 1;
  }
  if (r->hooks && r->hooks->on_epoch && r->hooks->on_epoch(&st, r->hooks->user)) {
    c->stopped = 1;
    return 1;
  }
  if (done < r->o->epochs && stop_requested(r)) {
    c->status = interrupted(r, done, 0, 0, c->err);
    return 1;
  }
  return 0;
}

/* Full-batch L-BFGS; epochs are iterations. Line-search failures near a
 * minimum (float rounding) end the run at the last accepted point. */
static phx_status train_lbfgs(run *r, const phx_model *m, phx_err *err) {
  lb_ctx c = {.r = r, .err = err};
  const phx_model_opts *mo = phx_model_get_opts(m);
  c.nl = mo->nlayers;
  for (int l = 0; l < c.nl; l++)
    c.off[l + 1] = c.off[l] + (size_t)phx_model_rows(m, l) * (size_t)phx_model_cols(m, l);
  size_t nvar = c.off[c.nl];
  if (nvar > (size_t)0x7fffffff)
    return phx_fail(err, PHX_EINVAL, "--optimizer lbfgs: too many parameters (%zu)",
                    nvar);
  lbfgsfloatval_t *x = lbfgs_malloc((int)nvar);
  if (!x) return phx_fail(err, PHX_ENOMEM, "out of memory for L-BFGS (%zu values)", nvar);
  /* From the net: the model's theta, or a checkpoint's exact one. */
  phx_status s = PHX_OK;
  for (int l = 0; l < c.nl && !s; l++) s = phx_net_get_theta64(r->net, l, x + c.off[l], err);
  if (s) {
    lbfgs_free(x);
    return s;
  }
  lbfgs_parameter_t p;
  lbfgs_parameter_init(&p);
  /* A resumed run restarts L-BFGS's history at the checkpoint (documented). */
  p.max_iterations = r->o->epochs - r->start_epoch;
  /* The crossbar's raw gradients are tiny (normalised columns, z within
   * +-vdd/2), so liblbfgs' relative test ||g|| < eps ||x|| must be strict
   * or it declares convergence on a plateau after a few dozen steps. */
  p.epsilon = 1e-12;
  c.t0 = now_seconds();
  int ret = lbfgs((int)nvar, x, NULL, lb_evaluate, lb_progress, &c, &p);
  s = c.status;
  if (!s && ret == LBFGSERR_OUTOFMEMORY)
    s = phx_fail(err, PHX_ENOMEM, "out of memory in L-BFGS");
  /* x holds the best point liblbfgs accepted (it reverts failed searches). */
  if (!s) {
    for (size_t i = 0; i < nvar && !s; i++)
      if (!isfinite(x[i])) s = nan_error(r, p.max_iterations, err);
  }
  if (!s) s = lb_set(&c, x);
  lbfgs_free(x);
  return s;
}

/* Rejects parameters that overflowed even when the loss stayed finite. */
static phx_status check_finite(const phx_model *m, const run *r, phx_err *err) {
  const phx_model_opts *mo = phx_model_get_opts(m);
  for (int l = 0; l < mo->nlayers; l++) {
    const float *th = phx_model_theta_const(m, l);
    size_t cnt = (size_t)phx_model_rows(m, l) * (size_t)phx_model_cols(m, l);
    for (size_t i = 0; i < cnt; i++)
      if (!isfinite(th[i])) return nan_error(r, r->o->epochs, err);
  }
  return PHX_OK;
}

/* What training holds in host memory on the C path (net.c's buffers:
 * theta, dtheta, W, dW, m, v, P per parameter, activations per batch row,
 * the bound samples, plus the model copy), refused before any of it is
 * allocated. OpenCL devices report their own allocation failures. */
static phx_status check_footprint(phx_backend *b, const phx_model_opts *mo, const run *r,
                                  phx_err *err) {
  const char *name = phx_backend_name(b);
  if (strcmp(name, "c") != 0 && strcmp(name, "c64") != 0) return PHX_OK;
  double real = strcmp(name, "c64") == 0 ? 8 : 4, params = 0, rows = 0;
  for (int l = 0; l < mo->nlayers; l++) {
    params += (double)mo->sizes[l + 1] * (2.0 * mo->sizes[l] + 2);
    rows += 6.0 * mo->sizes[l + 1] + 4;
  }
  /* the caller's datasets (float samples, int labels) stay resident beside
   * the backend's copy of them */
  double bytes = real * (7 * params + r->eval_batch * (rows + mo->sizes[0] + 1) +
                         (double)(r->n + r->ntest) * (mo->sizes[0] + 3)) +
                 4 * params + 4.0 * (double)(r->n + r->ntest) * (mo->sizes[0] + 1);
  char what[96];
  snprintf(what, sizeof what, "training a model of %.0f parameters", params);
  return phx_check_fits(bytes, what, err);
}

/* The first option of o that differs from the checkpoint's, or NULL. */
static const char *differing_option(const phx_train_opts *o, const phx_train_opts *c) {
  if (o->optimizer != c->optimizer) return "--optimizer";
  if (o->seed != c->seed) return "--seed";
  if (o->limit != c->limit) return "--limit";
  if (o->optimizer == PHX_OPT_LBFGS) return NULL; /* full batch, no lr */
  if (o->batch != c->batch) return "--batch";
  if ((o->vary_draws > 1 ? o->vary_draws : 1) != (c->vary_draws > 1 ? c->vary_draws : 1))
    return "--vary-draws";
  if (o->lr != c->lr) return "--lr";
  if (o->optimizer == PHX_OPT_MOMENTUM && o->momentum != c->momentum) return "momentum";
  if (o->optimizer == PHX_OPT_ADAM &&
      (o->beta1 != c->beta1 || o->beta2 != c->beta2 || o->eps != c->eps))
    return "adam beta1/beta2/eps";
  return NULL;
}

/* Same circuit and shape. */
static int same_model_opts(const phx_model_opts *a, const phx_model_opts *b) {
  int same = a->nlayers == b->nlayers && a->vdd == b->vdd && a->gmin == b->gmin &&
             a->ratio == b->ratio && a->loss == b->loss;
  for (int l = 0; same && l <= a->nlayers; l++) same = a->sizes[l] == b->sizes[l];
  for (int i = 0; same && i < 4; i++) same = a->c[i] == b->c[i] && a->d[i] == b->d[i];
  return same;
}

/* Loads o->resume into the net: exact theta, moments, partial-epoch
 * metrics and the position, after checking that it belongs to this run. */
static phx_status apply_resume(run *r, const phx_model *m, phx_err *err) {
  const char *path = r->o->resume;
  phx_model *cm = NULL;
  phx_ckpt c;
  phx_status s = phx_ckpt_load(path, &cm, &c, err);
  if (s) return s;
  const char *opt = differing_option(r->o, &c.opts);
  if (!same_model_opts(phx_model_get_opts(m), phx_model_get_opts(cm)))
    s = phx_fail(err, PHX_EINVAL, "--resume %s: the checkpoint's model options differ "
                 "from the model being trained", path);
  else if (opt)
    s = phx_fail(err, PHX_EINVAL, "--resume %s: %s differs from the checkpoint's", path, opt);
  else if (c.samples != r->n || c.data_hash != r->hash)
    s = phx_fail(err, PHX_EINVAL, "--resume %s: the training data (%d samples) is not what "
                 "the checkpoint was trained on (%d samples)", path, r->n, c.samples);
  for (int l = 0; l < c.nlayers && !s; l++) {
    s = phx_net_set_theta64(r->net, l, c.theta[l], err);
    if (!s && c.m[l]) s = phx_net_set_state64(r->net, l, c.m[l], c.v[l], err);
  }
  if (!s && c.offset > 0) {
    for (int i = 0; i < c.offset && !s; i++)
      if (c.pred[i] < 0 || c.pred[i] >= phx_model_get_opts(m)->sizes[c.nlayers])
        s = phx_fail(err, PHX_EFORMAT, "%s: train.pred[%d] is not a class", path, i);
    if (!s) s = phx_net_set_metrics_raw(r->net, PHX_SLOT_TRAIN, c.offset, c.loss, c.pred, err);
  }
  if (!s) {
    r->start_epoch = c.epoch < r->o->epochs ? c.epoch : r->o->epochs;
    r->start_offset = c.epoch < r->o->epochs ? c.offset : 0;
    r->start_step = (long)c.step;
  }
  phx_ckpt_free(&c);
  phx_model_free(cm);
  return s;
}

/* Builds the net, binds both sets once, trains, and on success only copies
 * the trained theta into m. */
phx_status phx_train(phx_backend *b, phx_model *m, const phx_dataset *train,
                     const phx_dataset *test, const phx_train_opts *o,
                     const phx_train_hooks *hooks, phx_err *err) {
  if (!b || !m || !train || !o)
    return phx_fail(err, PHX_EINVAL, "phx_train: backend, model, data and options are required");
  const phx_model_opts *mo = phx_model_get_opts(m);
  phx_status s = check_opts(o, err);
  if (!s) s = check_data(mo, train, "training", err);
  if (!s && test) s = check_data(mo, test, "test", err);
  if (!s && o->faults) s = phx_faults_check(o->faults, mo, err);
  if (!s && o->vary) s = phx_variation_check_model(o->vary, mo, err);
  if (s) return s;
  if (o->epochs == 0) return PHX_OK;

  run r = {.o = o, .hooks = hooks};
  for (int i = 0; o->faults && i < o->faults->count; i++)
    r.repin |= phx_fault_is_free(&o->faults->f[i], mo);
  if (o->faults && o->optimizer == PHX_OPT_LBFGS)
    return phx_fail(err, PHX_EINVAL, "--faults needs a mini-batch optimizer, not lbfgs");
  r.n = phx_dataset_count(train);
  if (o->limit > 0 && o->limit < r.n) r.n = o->limit;
  r.ntest = test ? phx_dataset_count(test) : 0;
  r.total = r.n;
  r.batch = o->batch < r.n ? o->batch : r.n;
  if (o->checkpoint || o->resume) r.hash = phx_ckpt_data_hash(train, r.n);
  int most = r.n > r.ntest ? r.n : r.ntest;
  r.eval_batch = r.batch > 256 ? r.batch : (most < 256 ? most : 256);
  if (r.eval_batch < r.batch) r.eval_batch = r.batch;

  const phx_train_parallel *par = hooks ? hooks->parallel : NULL;
  s = check_footprint(b, mo, &r, err);
  if (!s && par)
    s = phx_dp_new(par, mo, r.n, o->optimizer == PHX_OPT_LBFGS ? r.n : r.batch, hooks->stop,
                   &r.dp, err);
  if (!s) s = phx_model_new(mo, &r.copy, err);
  /* the chip trained for goes with the model (and its checkpoints) */
  const phx_variation *chip = o->vary ? o->vary : phx_model_get_variation(m);
  if (!s) s = phx_model_set_variation(r.copy, chip, err);
  if (!s) s = phx_net_new(b, mo, r.eval_batch, &r.net, err);
  if (!s) s = phx_net_set_theta(r.net, m, err);
  if (!s) s = phx_net_bind(r.net, PHX_SLOT_TRAIN, train, r.n, err);
  if (!s && test) s = phx_net_bind(r.net, PHX_SLOT_TEST, test, 0, err);
  if (!s && o->optimizer != PHX_OPT_LBFGS) s = phx_net_reset_state(r.net, err);
  if (!s && o->resume) s = apply_resume(&r, m, err);
  if (!s && o->faults) s = pin_faults(&r, mo, 0, err);
  if (!s && r.start_epoch < o->epochs)
    s = o->optimizer == PHX_OPT_LBFGS ? train_lbfgs(&r, m, err)
                                      : train_minibatch(&r, mo, err);
  if (!s) s = phx_net_get_theta(r.net, r.copy, err);
  if (!s) s = check_finite(r.copy, &r, err);
  if (!s && o->vary) s = phx_model_set_variation(m, o->vary, err);
  if (!s) {
    for (int l = 0; l < mo->nlayers; l++)
      memcpy(phx_model_theta(m, l), phx_model_theta_const(r.copy, l),
             sizeof(float) * (size_t)phx_model_rows(m, l) *
                 (size_t)phx_model_cols(m, l));
  }
  if (r.net) phx_net_free(r.net);
  if (r.copy) phx_model_free(r.copy);
  phx_dp_free(r.dp);
  return s;
}
