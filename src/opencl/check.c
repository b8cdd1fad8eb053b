/* `phaxcl check`: every backend operation, a whole forward/backward pass and
 * one optimizer step, run on OpenCL devices and on the C path ("c",
 * float32) with identical random inputs, compared element by element. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cl_device.h"
#include "cl_probe.h"
#include "net.h"
#include "op_desc.h"
#include "rng.h"

/* NMSE limit of the whole-pass rows (sums, tanh slopes, whole network). */
#define TOL_SUM 1e-8

/* Sizes of one check run. */
typedef struct ck_size {
  phx_op_sizes op; /* inputs, neurons (R = 2N+2), batch of the op cases */
  int hidden;      /* hidden width of the whole-pass network */
} ck_size;

/* One device's run: its backend, the C reference, the report callback. */
typedef struct ck {
  phx_backend *cl, *ref;
  const char *device;
  phx_check_fn fn;
  void *user;
  int failures;
  phx_rng rng;
  ck_size sz;
} ck;

/* Emits one row from the two results. gemm_rule adds CLBlast's element
 * test |a - r| <= 1e-3 + 0.005 |r|; exact requires equality (integers). */
static void report(ck *k, const char *op, const double *a, const double *r, size_t n,
                   double tol, int gemm_rule, int exact) {
  double maxref = 0, num = 0, den = 0, max_abs = 0, max_rel = 0;
  int elem_ok = 1, finite = 1;
  long bad = 0;
  for (size_t i = 0; i < n; i++) maxref = fmax(maxref, fabs(r[i]));
  const double floor_ = fmax(1e-6 * maxref, 1e-30);
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(a[i]) || !isfinite(r[i])) finite = 0;
    const double d = fabs(a[i] - r[i]);
    num += d * d;
    den += r[i] * r[i];
    max_abs = fmax(max_abs, d);
    max_rel = fmax(max_rel, d / fmax(fabs(r[i]), floor_));
    if (gemm_rule && d > 1e-3 + 0.005 * fabs(r[i])) elem_ok = 0;
    bad += a[i] != r[i];
  }
  phx_check_row row;
  row.skipped = NULL;
  row.op = op;
  row.device = k->device;
  row.count = (long)n;
  if (exact) { /* the mismatch count */
    row.max_abs = (double)bad;
    row.max_rel = row.nmse = bad ? 1.0 : 0.0;
    row.tol_nmse = 0;
    row.pass = bad == 0;
  } else {
    row.max_abs = max_abs;
    row.max_rel = max_rel;
    row.nmse = den > 0 ? num / den : (num > 0 ? INFINITY : 0);
    row.tol_nmse = tol;
    row.pass = finite && elem_ok && row.nmse <= tol;
  }
  if (!row.pass) k->failures++;
  k->fn(&row, k->user);
}

/* Every case of every op in the descriptor table, on the device and on the
 * C path with the same inputs: one row per output buffer. Ops the backend
 * does not implement (optional ones) are left out; an op the device
 * refuses (PHX_ENOBACKEND: the backend says why) is one skipped row. */
static int check_ops(ck *k, uint64_t seed, phx_err *err) {
  int s = 0;
  for (int id = 0; id < PHX_OP_COUNT && !s; id++) {
    const phx_op_desc *d = phx_op_descs[id];
    if (!phx_op_supported(k->cl, d->id) || !phx_op_supported(k->ref, d->id)) continue;
    for (int i = 0; i < d->ncases && !s; i++) {
      phx_op_inst t;
      double *a[PHX_OP_MAXBUF] = {0}, *r[PHX_OP_MAXBUF] = {0};
      s = phx_op_inst_init(&t, d, i, &k->sz.op, seed + 7919u * (uint64_t)(id * 64 + i), err);
      char name[96] = "";
      if (!s)
        snprintf(name, sizeof name, "%s%s%s%s", d->name, t.c.label[0] ? "(" : "", t.c.label,
                 t.c.label[0] ? ")" : "");
      if (!s) s = phx_op_inst_exec(&t, k->cl, -1, 1, a, NULL, err);
      const int refused = s == PHX_ENOBACKEND;
      if (refused) { /* the device refuses the op, saying why: one skipped row */
        const phx_check_row row = {name, k->device, NAN, NAN, NAN, 0, 0, 1, err->msg};
        k->fn(&row, k->user);
        s = PHX_OK;
      }
      if (!s && !refused) s = phx_op_inst_exec(&t, k->ref, -1, 1, r, NULL, err);
      for (int b = 0; b < d->nbuf && !s && !refused; b++) {
        if (!t.need[b] || !(d->buf[b].io & PHX_OB_OUT)) continue;
        char out[128];
        snprintf(out, sizeof out, "%s.%s", name, d->buf[b].name);
        report(k, out, a[b], r[b], t.need[b], d->buf[b].tol, d->gemm_rule,
               d->buf[b].type == PHX_BUF_I32);
      }
      phx_op_outs_free(a);
      phx_op_outs_free(r);
      phx_op_inst_free(&t);
    }
  }
  return s;
}

/* A three-layer network on random data: two accumulated batches, the
 * gradient of every layer, then one Adam step. */
static int check_pass(ck *k, const phx_model_opts *base, uint64_t seed, phx_err *err) {
  phx_model_opts o = *base;
  o.nlayers = 3;
  o.sizes[0] = k->sz.op.N;
  o.sizes[1] = k->sz.hidden;
  o.sizes[2] = k->sz.hidden / 2 > 2 ? k->sz.hidden / 2 : 3;
  o.sizes[3] = 10 < k->sz.op.M ? 10 : k->sz.op.M;
  const int B = k->sz.op.B, count = 2 * B, classes = o.sizes[3];
  phx_model *m = NULL;
  phx_dataset *d = NULL;
  phx_net *nc = NULL, *nr = NULL;
  float *x = malloc((size_t)count * o.sizes[0] * sizeof *x);
  int32_t *lab = malloc((size_t)count * sizeof *lab);
  double *gc = NULL, *gr = NULL;
  int s = (!x || !lab) ? phx_fail(err, PHX_ENOMEM, "check: out of memory") : 0;
  for (int i = 0; !s && i < count * o.sizes[0]; i++) x[i] = (float)phx_rng_uniform(&k->rng);
  for (int i = 0; !s && i < count; i++) lab[i] = i % classes;
  if (!s) s = phx_dataset_new(count, o.sizes[0], classes, x, lab, &d, err);
  if (!s) s = phx_model_new(&o, &m, err);
  if (!s) phx_model_init(m, seed);
  if (!s) s = phx_net_new(k->cl, &o, B, &nc, err);
  if (!s) s = phx_net_new(k->ref, &o, B, &nr, err);
  phx_net *both[2] = {nc, nr};
  for (int i = 0; i < 2 && !s; i++) {
    phx_net *n = both[i];
    if (!s) s = phx_net_set_theta(n, m, err);
    if (!s) s = phx_net_bind(n, PHX_SLOT_TRAIN, d, count, err);
    if (!s) s = phx_net_batch(n, PHX_SLOT_TRAIN, 0, B, 1.0 / count, 1, 0, err);
    if (!s) s = phx_net_batch(n, PHX_SLOT_TRAIN, (size_t)B, B, 1.0 / count, 1, 1, err);
    if (!s) s = phx_net_grad_finish(n, err);
  }
  double lc = 0, lr = 0;
  long cc = 0, cr = 0;
  if (!s) s = phx_net_metrics(nc, PHX_SLOT_TRAIN, count, &lc, &cc, NULL, NULL, err);
  if (!s) s = phx_net_metrics(nr, PHX_SLOT_TRAIN, count, &lr, &cr, NULL, NULL, err);
  if (!s) report(k, "pass.loss", &lc, &lr, 1, TOL_SUM, 0, 0);
  for (int l = 0; l < o.nlayers && !s; l++) {
    const size_t n = (size_t)o.sizes[l + 1] * (2 * (size_t)o.sizes[l] + 2);
    gc = realloc(gc, n * sizeof *gc);
    gr = realloc(gr, n * sizeof *gr);
    if (!gc || !gr) {
      s = phx_fail(err, PHX_ENOMEM, "check: out of memory");
      break;
    }
    char name[64];
    snprintf(name, sizeof name, "pass.grad[%d]", l);
    if (!s) s = phx_net_get_grad64(nc, l, gc, err);
    if (!s) s = phx_net_get_grad64(nr, l, gr, err);
    if (!s) report(k, name, gc, gr, n, TOL_SUM, 0, 0);
  }
  phx_optim adam = {PHX_OPT_ADAM, 0.01, 0.9, 0.9, 0.999, 1e-8, 1};
  if (!s) s = phx_net_step(nc, &adam, err);
  if (!s) s = phx_net_step(nr, &adam, err);
  phx_model *tc = NULL, *tr = NULL;
  if (!s) s = phx_model_new(&o, &tc, err);
  if (!s) s = phx_model_new(&o, &tr, err);
  if (!s) s = phx_net_get_theta(nc, tc, err);
  if (!s) s = phx_net_get_theta(nr, tr, err);
  for (int l = 0; l < o.nlayers && !s; l++) {
    const size_t n = (size_t)o.sizes[l + 1] * (2 * (size_t)o.sizes[l] + 2);
    double *a = malloc(n * sizeof *a), *r = malloc(n * sizeof *r);
    if (!a || !r) {
      free(a);
      free(r);
      s = phx_fail(err, PHX_ENOMEM, "check: out of memory");
      break;
    }
    const float *ta = phx_model_theta(tc, l), *tb = phx_model_theta(tr, l);
    for (size_t i = 0; i < n; i++) {
      a[i] = ta[i];
      r[i] = tb[i];
    }
    char name[64];
    snprintf(name, sizeof name, "pass.adam_step.theta[%d]", l);
    report(k, name, a, r, n, TOL_SUM, 0, 0);
    free(a);
    free(r);
  }
  phx_model_free(tc);
  phx_model_free(tr);
  free(gc);
  free(gr);
  phx_net_free(nc);
  phx_net_free(nr);
  phx_model_free(m);
  phx_dataset_free(d);
  free(x);
  free(lab);
  return s;
}

/* Every check on one device. */
static int check_device(ck *k, uint64_t seed, phx_err *err) {
  phx_model_opts mo;
  phx_model_opts_default(&mo);
  phx_rng_seed(&k->rng, seed);
  int s = check_ops(k, seed, err);
  if (!s) s = check_pass(k, &mo, seed, err);
  return s;
}

phx_status phx_check_run(const phx_check_opts *o, phx_check_fn fn, void *user,
                         int *failures, phx_err *err) {
  phx_check_opts def;
  if (!o) {
    phx_check_opts_default(&def);
    o = &def;
  }
  if (failures) *failures = 0;
  phx_cl_dev *devs = NULL;
  int n = 0, count = 0, total = 0;
  /* the backend settings of the environment, with the device asked for */
  phx_backend_opts bo;
  phx_backend_opts_default(&bo);
  bo.device = o->device;
  bo.verbose = o->verbose;
  phx_backend_conf conf;
  phx_status s = phx_backend_conf_resolve(&bo, &conf, err);
  if (s != PHX_OK) return s;
  s = phx_cl_devices(&devs, &n, err);
  if (s != PHX_OK) return s;
  int *idx = malloc((size_t)n * sizeof *idx);
  if (!idx) {
    free(devs);
    return phx_fail(err, PHX_ENOMEM, "check: out of memory");
  }
  if (!conf.device[0]) phx_cl_probe_devices(devs, n, &conf, 0);
  s = phx_cl_select(devs, n, conf.device, conf.device_from, 1, 0, idx, &count, err);
  phx_err first = {PHX_OK, ""};
  for (int i = 0; s == PHX_OK && i < count; i++) {
    const phx_cl_dev *d = &devs[idx[i]];
    char spec[32], label[300];
    snprintf(spec, sizeof spec, "%d:%d", d->pidx, d->didx);
    snprintf(label, sizeof label, "%s %s", spec, d->dname);
    const int small = o->small >= 0 ? o->small : d->cls == PHX_CL_SIMULATOR;
    ck k;
    memset(&k, 0, sizeof k);
    k.device = label;
    k.fn = fn;
    k.user = user;
    k.sz = small ? (ck_size){{10, 6, 5}, 8} : (ck_size){{196, 100, 50}, 48};
    phx_err e = {PHX_OK, ""};
    phx_backend_conf one = conf;
    snprintf(one.device, sizeof one.device, "%s", spec);
    int rc = phx_backend_opencl_new(&one, 0, &k.cl, &e);
    if (!rc) rc = phx_backend_cpu_new(0, &k.ref, &e);
    if (!rc) rc = check_device(&k, o->seed, &e);
    if (rc) {
      /* a device that cannot run the checks is one failed row */
      phx_check_row row = {"device", label, NAN, NAN, NAN, 0, 0, 0, NULL};
      k.failures++;
      fn(&row, user);
      if (first.status == PHX_OK) phx_fail(&first, (phx_status)rc, "%s", e.msg);
    }
    total += k.failures;
    phx_backend_free(k.cl);
    phx_backend_free(k.ref);
  }
  free(idx);
  free(devs);
  if (s != PHX_OK) return s;
  if (failures) *failures = total;
  if (first.status != PHX_OK) {
    phx_fail(err, PHX_ECHECK, "%s", first.msg);
    return PHX_ECHECK;
  }
  if (total) return phx_fail(err, PHX_ECHECK, "check: %d result(s) out of tolerance", total);
  return PHX_OK;
}
