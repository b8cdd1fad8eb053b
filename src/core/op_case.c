/* Running an op descriptor's test case: the inputs are drawn once on the
 * host in double, then the same values go to any backend (or to the
 * float64 reference), so that results compare element by element. Used by
 * `phaxcl check`, the op tests and the bench. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "op_desc.h"

void phx_op_outs_free(double **out) {
  for (int i = 0; i < PHX_OP_MAXBUF; i++) {
    free(out[i]);
    out[i] = NULL;
  }
}

void phx_op_inst_free(phx_op_inst *t) {
  if (t) phx_op_outs_free(t->h);
}

phx_status phx_op_inst_init(phx_op_inst *t, const phx_op_desc *d, int i,
                            const phx_op_sizes *sz, uint64_t seed, phx_err *err) {
  memset(t, 0, sizeof *t);
  t->d = d;
  if (i < 0 || i >= d->ncases)
    return phx_fail(err, PHX_EINVAL, "%s has no case %d", d->name, i);
  phx_model_opts mo;
  phx_model_opts_default(&mo);
  phx_consts_from_opts(&t->c.k, &mo);
  d->make(i, sz, &t->c);
  phx_err e = {PHX_OK, ""};
  if (d->shape(t->c.args.bytes, t->need, &e))
    return phx_fail(err, PHX_EINTERNAL, "%s(%s): bad case: %s", d->name, t->c.label, e.msg);
  phx_rng rng;
  phx_rng_seed(&rng, seed);
  for (int b = 0; b < d->nbuf; b++) {
    if (!t->need[b]) continue;
    t->h[b] = malloc(t->need[b] * sizeof(double));
    if (!t->h[b]) {
      phx_op_inst_free(t);
      return phx_fail(err, PHX_ENOMEM, "%s: out of memory", d->name);
    }
    const phx_op_bufdesc *bd = &d->buf[b];
    for (size_t j = 0; j < t->need[b]; j++)
      t->h[b][j] = bd->type == PHX_BUF_I32 ? 0 : bd->lo + (bd->hi - bd->lo) * phx_rng_uniform(&rng);
  }
  if (d->fill) d->fill(&t->c, t->h, &rng);
  return PHX_OK;
}

/* Copies of the host inputs, one per used slot. */
static phx_status copy_host(const phx_op_inst *t, double **out, phx_err *err) {
  memset(out, 0, PHX_OP_MAXBUF * sizeof *out);
  for (int b = 0; b < t->d->nbuf; b++) {
    if (!t->need[b]) continue;
    out[b] = malloc(t->need[b] * sizeof(double));
    if (!out[b]) {
      phx_op_outs_free(out);
      return phx_fail(err, PHX_ENOMEM, "%s: out of memory", t->d->name);
    }
    memcpy(out[b], t->h[b], t->need[b] * sizeof(double));
  }
  return PHX_OK;
}

phx_status phx_op_inst_ref(const phx_op_inst *t, double **out, phx_err *err) {
  phx_status s = copy_host(t, out, err);
  if (s == PHX_OK) t->d->ref(&t->c, out);
  return s;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

phx_status phx_op_inst_exec(const phx_op_inst *t, phx_backend *b, int short_slot, int reps,
                            double **out, double *secs, phx_err *err) {
  const phx_op_desc *d = t->d;
  phx_buf *bufs[PHX_OP_MAXBUF] = {0};
  phx_op_case c = t->c; /* the args get this backend's buffers */
  if (out) memset(out, 0, PHX_OP_MAXBUF * sizeof *out);
  phx_status s = phx_backend_prepare(b, &c.k, err);
  for (int i = 0; i < d->nbuf && s == PHX_OK; i++) {
    if (!t->need[i]) continue;
    const size_t n = t->need[i] - (i == short_slot ? 1 : 0);
    bufs[i] = phx_buf_alloc(b, d->buf[i].type, n, err);
    if (!bufs[i]) {
      s = err ? err->status : PHX_ENOMEM;
      break;
    }
    s = phx_buf_write(b, bufs[i], 0, n, t->h[i], PHX_HOST_F64, err);
    phx_op_setbuf(d, c.args.bytes, i, bufs[i]);
  }
  if (s == PHX_OK) {
    const double t0 = now_s();
    for (int r = 0; r < (reps > 1 ? reps : 1) && s == PHX_OK; r++)
      s = phx_op_run(b, d->id, c.args.bytes, err);
    if (s == PHX_OK) s = phx_backend_finish(b, err);
    if (secs) *secs = (now_s() - t0) / (reps > 1 ? reps : 1);
  }
  if (s == PHX_OK && out && short_slot < 0) {
    for (int i = 0; i < d->nbuf && s == PHX_OK; i++) {
      if (!t->need[i]) continue;
      out[i] = malloc(t->need[i] * sizeof(double));
      s = out[i] ? phx_buf_read(b, bufs[i], 0, t->need[i], out[i], PHX_HOST_F64, err)
                 : phx_fail(err, PHX_ENOMEM, "%s: out of memory", d->name);
    }
    if (s != PHX_OK) phx_op_outs_free(out);
  }
  for (int i = 0; i < d->nbuf; i++) phx_buf_release(b, bufs[i]);
  return s;
}
