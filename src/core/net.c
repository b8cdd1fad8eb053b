/* The network driver: holds a model's parameters, optimizer state,
 * activations and bound datasets in one backend's buffers and runs the
 * forward pass, loss, backward pass and optimizer steps as sequences of
 * phx_bops operations. The input layer uses the folded weights E, so its
 * products run over N+1 columns instead of 2N+2. */
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "vary.h"

typedef struct net_layer {
  int N, M, R;            /* inputs, neurons, rows R = 2N+2 */
  phx_buf *theta, *dtheta; /* M x R */
  phx_buf *W, *S;          /* normalised weights (M x R), column sums (M) */
  phx_buf *E;              /* input layer only: folded weights M x (N+1) */
  phx_buf *dW;             /* dL/dW (M x R), or dL/dE (M x (N+1)) for layer 0 */
  phx_buf *m, *v;          /* optimizer state (M x R) */
  phx_buf *P;              /* s (1 - s) of theta, only with ops->step_map */
  phx_buf *Z, *dZ;         /* maxB x M */
  phx_buf *U, *dU;         /* maxB x (2M+2) */
  phx_buf *Pw;             /* maxB: crossbar power, made on first use */
  phx_buf *G, *dG;         /* 2M+2: loads of the next layer's rows and their
                            * gradient (load-aware hidden layers only) */
  phx_buf *D, *Zs;         /* neuron offsets (M) and the neurons' inputs
                            * Z - D (maxB x M), made on first use */
  int off;                 /* D applies: the neurons see Zs, not Z */
  phx_buf *Er;             /* returned loads: e per sample (maxB x (2M+2)),
                            * hidden layers only */
  phx_buf *dgm;            /* returned loads of the layer below: its e
                            * terms on this layer's dL/dg (M x R) */
} net_layer;

typedef struct net_slot {
  int count;               /* bound samples; 0 = nothing bound */
  phx_buf *X, *labels, *order, *lossv, *pred;
  phx_buf *targets;        /* count x M target volts (regression), else NULL */
  int32_t *h_order, *h_labels; /* host copies for phx_net_metrics' truth */
} net_slot;

struct phx_net {
  phx_backend *b;
  int fused;               /* the backend has step_map */
  int fused_forward;       /* the backend has layer_forward */
  phx_model_opts opts;
  int L, max_batch;
  int mapped;              /* W, S, E current with theta */
  net_layer lay[PHX_MAX_LAYERS];
  phx_buf *V;              /* maxB x (N0+1) input operand */
  net_slot slot[PHX_SLOTS];
  /* Table neurons (set_curve): the table, its loads and layout; loaded:
   * hidden layers see their rows' loads (options' load_aware). */
  phx_buf *T, *loads;
  int tL, tNV, loaded;
  int returned;            /* loaded rows return to the next layer's columns
                            * (load_aware 2: activate_return) */
  double tv0, tdv;
  double *model_off;       /* the model's own neuron offsets (a drawn chip's),
                            * all layers, or NULL */
  struct net_draws *dr;    /* buffers of phx_net_draws_correct, or NULL */
};

static void draws_free(phx_net *n);

/* Allocates one buffer or reports why not. */
static int net_alloc(phx_net *n, phx_buf **b, phx_btype t, size_t count, phx_err *err) {
  phx_err e = {PHX_OK, ""};
  *b = phx_buf_alloc(n->b, t, count, &e);
  if (!*b) return phx_fail(err, e.status, "%s", e.msg);
  return 0;
}

static void net_release(phx_net *n, phx_buf **b) {
  phx_buf_release(n->b, *b);
  *b = NULL;
}

static void slot_clear(phx_net *n, net_slot *s) {
  net_release(n, &s->X);
  net_release(n, &s->labels);
  net_release(n, &s->order);
  net_release(n, &s->lossv);
  net_release(n, &s->pred);
  net_release(n, &s->targets);
  free(s->h_order);
  free(s->h_labels);
  memset(s, 0, sizeof *s);
}

void phx_net_free(phx_net *n) {
  if (!n) return;
  for (int l = 0; l < n->L; l++) {
    net_layer *y = &n->lay[l];
    phx_buf **bs[] = {&y->theta, &y->dtheta, &y->W, &y->S, &y->E, &y->dW, &y->m, &y->v,
                      &y->Z, &y->dZ, &y->U, &y->dU, &y->P, &y->Pw, &y->G, &y->dG,
                      &y->D, &y->Zs, &y->Er, &y->dgm};
    for (size_t i = 0; i < sizeof bs / sizeof bs[0]; i++) net_release(n, bs[i]);
  }
  net_release(n, &n->V);
  net_release(n, &n->T);
  net_release(n, &n->loads);
  for (int s = 0; s < PHX_SLOTS; s++) slot_clear(n, &n->slot[s]);
  free(n->model_off);
  draws_free(n);
  free(n);
}

phx_status phx_net_set_curve(phx_net *n, const phx_curve *c, phx_err *err) {
  int rc;
  net_release(n, &n->T);
  net_release(n, &n->loads);
  for (int l = 0; l < n->L; l++) {
    net_release(n, &n->lay[l].G);
    net_release(n, &n->lay[l].dG);
    net_release(n, &n->lay[l].Er);
    net_release(n, &n->lay[l].dgm);
  }
  n->tL = n->loaded = n->returned = 0;
  n->fused = phx_op_supported(n->b, PHX_OP_step_map) && n->lay[0].P;
  n->mapped = 0;
  if (!c) {
    if (n->opts.load_aware)
      return phx_fail(err, PHX_EINVAL, "--load-aware needs a table neuron (--curve table)");
    return PHX_OK;
  }
  const size_t nt = (size_t)c->L * c->NV * 2;
  if ((rc = net_alloc(n, &n->T, PHX_BUF_REAL, nt, err)) ||
      (rc = net_alloc(n, &n->loads, PHX_BUF_REAL, (size_t)c->L, err)) ||
      (rc = phx_buf_write(n->b, n->T, 0, nt, c->T, PHX_HOST_F64, err)) ||
      (rc = phx_buf_write(n->b, n->loads, 0, (size_t)c->L, c->loads, PHX_HOST_F64, err)))
    return rc;
  n->tL = c->L;
  n->tNV = c->NV;
  n->tv0 = c->v0;
  n->tdv = c->dv;
  if (!n->opts.load_aware) return PHX_OK;
  const int ret = n->opts.load_aware == 2;
  for (int l = 0; l + 1 < n->L; l++) {
    const size_t RU = 2 * (size_t)n->lay[l].M + 2;
    const net_layer *nx = &n->lay[l + 1];
    if ((rc = net_alloc(n, &n->lay[l].G, PHX_BUF_REAL, RU, err)) ||
        (rc = net_alloc(n, &n->lay[l].dG, PHX_BUF_REAL, RU, err)) ||
        (ret && (rc = net_alloc(n, &n->lay[l].Er, PHX_BUF_REAL, (size_t)n->max_batch * RU,
                                err))) ||
        (ret && (rc = net_alloc(n, &n->lay[l + 1].dgm, PHX_BUF_REAL,
                                (size_t)nx->M * nx->R, err))))
      return rc;
  }
  n->returned = ret;
  /* the row loads' gradient enters map_backward, which step_map lacks */
  n->loaded = 1;
  n->fused = 0;
  return PHX_OK;
}

/* Sizes are checked here as well as in model.c so that the net never asks
 * a backend for a negative or overflowing buffer. */
static int net_check_opts(const phx_model_opts *o, int max_batch, phx_err *err) {
  if (o->nlayers < 1 || o->nlayers > PHX_MAX_LAYERS)
    return phx_fail(err, PHX_EINVAL, "net: %d layers (expected 1 to %d)", o->nlayers,
                    PHX_MAX_LAYERS);
  for (int l = 0; l <= o->nlayers; l++)
    if (o->sizes[l] < 1 || o->sizes[l] > 1000000)
      return phx_fail(err, PHX_EINVAL, "net: layer size %d out of range", o->sizes[l]);
  if (max_batch < 1 || max_batch > 1000000)
    return phx_fail(err, PHX_EINVAL, "net: batch size %d out of range", max_batch);
  return 0;
}

phx_status phx_net_new(phx_backend *b, const phx_model_opts *o, int max_batch,
                       phx_net **out, phx_err *err) {
  int rc;
  *out = NULL;
  if (!b || !o) return phx_fail(err, PHX_EINVAL, "net: backend or options missing");
  if ((rc = net_check_opts(o, max_batch, err))) return rc;
  phx_net *n = calloc(1, sizeof *n);
  if (!n) return phx_fail(err, PHX_ENOMEM, "net: out of memory");
  n->b = b;
  n->fused = phx_op_supported(b, PHX_OP_step_map);
  n->fused_forward = b->fuse && phx_op_supported(b, PHX_OP_layer_forward);
  n->opts = *o;
  n->max_batch = max_batch;
  phx_consts k;
  phx_consts_from_opts(&k, o);
  if ((rc = phx_backend_prepare(b, &k, err))) goto fail;
  const size_t B = (size_t)max_batch;
  for (int l = 0; l < o->nlayers; l++) {
    net_layer *y = &n->lay[l];
    y->N = o->sizes[l];
    y->M = o->sizes[l + 1];
    y->R = 2 * y->N + 2;
    n->L = l + 1; /* what exists so far, for phx_net_free on failure */
    const size_t MR = (size_t)y->M * y->R, M = (size_t)y->M;
    if ((rc = net_alloc(n, &y->theta, PHX_BUF_REAL, MR, err)) ||
        (rc = net_alloc(n, &y->dtheta, PHX_BUF_REAL, MR, err)) ||
        (rc = net_alloc(n, &y->W, PHX_BUF_REAL, MR, err)) ||
        (rc = net_alloc(n, &y->S, PHX_BUF_REAL, M, err)) ||
        (rc = net_alloc(n, &y->dW, PHX_BUF_REAL, l == 0 ? M * (y->N + 1) : MR, err)) ||
        (rc = net_alloc(n, &y->m, PHX_BUF_REAL, MR, err)) ||
        (rc = net_alloc(n, &y->v, PHX_BUF_REAL, MR, err)) ||
        (rc = net_alloc(n, &y->Z, PHX_BUF_REAL, B * M, err)) ||
        (rc = net_alloc(n, &y->dZ, PHX_BUF_REAL, B * M, err)) ||
        (rc = net_alloc(n, &y->U, PHX_BUF_REAL, B * (2 * M + 2), err)) ||
        (rc = net_alloc(n, &y->dU, PHX_BUF_REAL, B * (2 * M + 2), err)))
      goto fail;
    if (l == 0 && (rc = net_alloc(n, &y->E, PHX_BUF_REAL, M * (y->N + 1), err))) goto fail;
    if (n->fused && (rc = net_alloc(n, &y->P, PHX_BUF_REAL, MR, err))) goto fail;
  }
  if ((rc = net_alloc(n, &n->V, PHX_BUF_REAL, B * (o->sizes[0] + 1), err))) goto fail;
  *out = n;
  return PHX_OK;
fail:
  phx_net_free(n);
  return rc;
}

/* The model must have the net's layer sizes. */
static int net_check_model(const phx_net *n, const phx_model *m, phx_err *err) {
  const phx_model_opts *o = phx_model_get_opts(m);
  if (o->nlayers != n->L)
    return phx_fail(err, PHX_ESHAPE, "net: model has %d layers, net has %d", o->nlayers,
                    n->L);
  for (int l = 0; l <= n->L; l++)
    if (o->sizes[l] != n->opts.sizes[l])
      return phx_fail(err, PHX_ESHAPE, "net: model size %d at position %d, net has %d",
                      o->sizes[l], l, n->opts.sizes[l]);
  return 0;
}

phx_status phx_net_set_theta(phx_net *n, const phx_model *m, phx_err *err) {
  int rc;
  if ((rc = net_check_model(n, m, err))) return rc;
  if ((rc = phx_net_set_curve(n, phx_model_curve(m), err))) return rc;
  for (int l = 0; l < n->L; l++) {
    net_layer *y = &n->lay[l];
    if ((rc = phx_buf_write(n->b, y->theta, 0, (size_t)y->M * y->R,
                            phx_model_theta_const(m, l), PHX_HOST_F32, err)))
      return rc;
  }
  /* a model's offsets are stored layer after layer: layer 0's address is all of them */
  return phx_net_set_offsets(n, phx_model_offsets(m, 0), err);
}

phx_status phx_net_set_offsets(phx_net *n, const double *delta, phx_err *err) {
  free(n->model_off);
  n->model_off = NULL;
  n->mapped = 0;
  if (!delta) return PHX_OK;
  size_t total = 0;
  for (int l = 0; l < n->L; l++) total += (size_t)n->lay[l].M;
  if (!(n->model_off = malloc(total * sizeof *n->model_off)))
    return phx_fail(err, PHX_ENOMEM, "net: out of memory");
  memcpy(n->model_off, delta, total * sizeof *delta);
  return PHX_OK;
}

/* Layer l's neuron offsets d (M values, V), or none when d is NULL. */
static int net_set_offsets(phx_net *n, int l, const double *d, phx_err *err) {
  net_layer *y = &n->lay[l];
  y->off = 0;
  if (!d) return 0;
  int rc = 0;
  if (!y->D && (rc = net_alloc(n, &y->D, PHX_BUF_REAL, (size_t)y->M, err))) return rc;
  if (!y->Zs &&
      (rc = net_alloc(n, &y->Zs, PHX_BUF_REAL, (size_t)n->max_batch * (size_t)y->M, err)))
    return rc;
  if ((rc = phx_buf_write(n->b, y->D, 0, (size_t)y->M, d, PHX_HOST_F64, err))) return rc;
  y->off = 1;
  return 0;
}

/* The model's own offsets on every layer (none when it has none). */
static int net_model_offsets(phx_net *n, phx_err *err) {
  int rc = 0;
  for (int l = 0, at = 0; !rc && l < n->L; at += n->lay[l].M, l++)
    rc = net_set_offsets(n, l, n->model_off ? n->model_off + at : NULL, err);
  return rc;
}

phx_status phx_net_get_theta(phx_net *n, phx_model *m, phx_err *err) {
  int rc;
  if ((rc = net_check_model(n, m, err))) return rc;
  for (int l = 0; l < n->L; l++) {
    net_layer *y = &n->lay[l];
    if ((rc = phx_buf_read(n->b, y->theta, 0, (size_t)y->M * y->R,
                           phx_model_theta(m, l), PHX_HOST_F32, err)))
      return rc;
  }
  return PHX_OK;
}

phx_status phx_net_set_theta64(phx_net *n, int l, const double *theta, phx_err *err) {
  if (l < 0 || l >= n->L) return phx_fail(err, PHX_EINVAL, "net: no layer %d", l);
  net_layer *y = &n->lay[l];
  int rc = phx_buf_write(n->b, y->theta, 0, (size_t)y->M * y->R, theta,
                         PHX_HOST_F64, err);
  if (!rc) n->mapped = 0;
  return rc;
}

phx_status phx_net_get_grad64(phx_net *n, int l, double *grad, phx_err *err) {
  if (l < 0 || l >= n->L) return phx_fail(err, PHX_EINVAL, "net: no layer %d", l);
  net_layer *y = &n->lay[l];
  return phx_buf_read(n->b, y->dtheta, 0, (size_t)y->M * y->R, grad, PHX_HOST_F64,
                      err);
}

phx_status phx_net_set_grad64(phx_net *n, int l, const double *grad, phx_err *err) {
  if (l < 0 || l >= n->L) return phx_fail(err, PHX_EINVAL, "net: no layer %d", l);
  net_layer *y = &n->lay[l];
  return phx_buf_write(n->b, y->dtheta, 0, (size_t)y->M * y->R, grad, PHX_HOST_F64, err);
}

phx_status phx_net_get_grad(phx_net *n, phx_model *g, phx_err *err) {
  int rc;
  if ((rc = net_check_model(n, g, err))) return rc;
  for (int l = 0; l < n->L; l++) {
    net_layer *y = &n->lay[l];
    if ((rc = phx_buf_read(n->b, y->dtheta, 0, (size_t)y->M * y->R,
                           phx_model_theta(g, l), PHX_HOST_F32, err)))
      return rc;
  }
  return PHX_OK;
}

/* Uploads the samples once; batches are later gathered on the backend. */
phx_status phx_net_bind(phx_net *n, int slot, const phx_dataset *d, int count,
                        phx_err *err) {
  int rc;
  if (slot < 0 || slot >= PHX_SLOTS) return phx_fail(err, PHX_EINVAL, "net: no slot %d", slot);
  const int total = phx_dataset_count(d), dim = phx_dataset_dim(d);
  if (count <= 0 || count > total) count = total;
  if (count < 1) return phx_fail(err, PHX_EINVAL, "net: the dataset is empty");
  if (dim != n->opts.sizes[0])
    return phx_fail(err, PHX_ESHAPE, "net: samples have %d features, the model %d inputs",
                    dim, n->opts.sizes[0]);
  const int classes = n->opts.sizes[n->L], T = phx_dataset_targets(d);
  if (T && T != classes)
    return phx_fail(err, PHX_ESHAPE, "net: samples have %d targets, the model %d outputs", T,
                    classes);
  const int32_t *lab = phx_dataset_labels(d);
  for (int i = 0; i < count; i++)
    if (lab[i] < 0 || lab[i] >= classes)
      return phx_fail(err, PHX_ESHAPE, "net: label %d of sample %d is not one of %d classes",
                      (int)lab[i], i, classes);
  net_slot *s = &n->slot[slot];
  slot_clear(n, s);
  const size_t cnt = (size_t)count;
  s->h_order = malloc(cnt * sizeof *s->h_order);
  s->h_labels = malloc(cnt * sizeof *s->h_labels);
  if (!s->h_order || !s->h_labels) {
    rc = phx_fail(err, PHX_ENOMEM, "net: out of memory");
    goto fail;
  }
  for (int i = 0; i < count; i++) s->h_order[i] = i;
  memcpy(s->h_labels, lab, cnt * sizeof *lab);
  if ((rc = net_alloc(n, &s->X, PHX_BUF_REAL, cnt * dim, err)) ||
      (rc = net_alloc(n, &s->labels, PHX_BUF_I32, cnt, err)) ||
      (rc = net_alloc(n, &s->order, PHX_BUF_I32, cnt, err)) ||
      (rc = net_alloc(n, &s->lossv, PHX_BUF_REAL, cnt, err)) ||
      (rc = net_alloc(n, &s->pred, PHX_BUF_I32, cnt, err)) ||
      (rc = phx_buf_write(n->b, s->X, 0, cnt * dim, phx_dataset_x(d), PHX_HOST_F32, err)) ||
      (rc = phx_buf_write(n->b, s->labels, 0, cnt, lab, PHX_HOST_I32, err)) ||
      (rc = phx_buf_write(n->b, s->order, 0, cnt, s->h_order, PHX_HOST_I32, err)))
    goto fail;
  if (T && ((rc = net_alloc(n, &s->targets, PHX_BUF_REAL, cnt * (size_t)T, err)) ||
            (rc = phx_buf_write(n->b, s->targets, 0, cnt * (size_t)T, phx_dataset_y(d),
                                PHX_HOST_F32, err))))
    goto fail;
  s->count = count;
  return PHX_OK;
fail:
  slot_clear(n, s);
  return rc;
}

/* A new order must be a permutation: the backend trusts its indices. */
phx_status phx_net_set_order(phx_net *n, int slot, const int32_t *order, phx_err *err) {
  if (slot < 0 || slot >= PHX_SLOTS || n->slot[slot].count == 0)
    return phx_fail(err, PHX_EINVAL, "net: slot %d has no dataset", slot);
  net_slot *s = &n->slot[slot];
  unsigned char *seen = calloc((size_t)s->count, 1);
  if (!seen) return phx_fail(err, PHX_ENOMEM, "net: out of memory");
  for (int i = 0; i < s->count; i++) {
    if (order[i] < 0 || order[i] >= s->count || seen[order[i]]) {
      free(seen);
      return phx_fail(err, PHX_EINVAL, "net: sample order is not a permutation of 0..%d",
                      s->count - 1);
    }
    seen[order[i]] = 1;
  }
  free(seen);
  int rc = phx_buf_write(n->b, s->order, 0, (size_t)s->count, order, PHX_HOST_I32, err);
  if (rc) return rc;
  memcpy(s->h_order, order, (size_t)s->count * sizeof *order);
  return PHX_OK;
}

/* The loads every load-aware hidden layer's rows see: the row sums of the
 * next layer's conductances, made whenever W and S change (the ideal map
 * or a drawn chip), not per batch. */
static int net_row_loads(phx_net *n, phx_err *err) {
  for (int l = 0; n->loaded && l + 1 < n->L; l++) {
    const net_layer *nx = &n->lay[l + 1];
    const phx_args_row_load a = {nx->M, nx->R, nx->W, nx->S, n->lay[l].G};
    int rc = phx_op_row_load(n->b, &a, err);
    if (rc) return rc;
  }
  return 0;
}

/* theta -> W, S (and E for the input layer), once per parameter change. */
static int net_map(phx_net *n, phx_err *err) {
  if (n->mapped) return 0;
  for (int l = 0; l < n->L; l++) {
    net_layer *y = &n->lay[l];
    /* With step_map, mapping also fills P, which its next step needs. */
    int rc;
    if (n->fused) {
      const phx_args_step_map a = {.M = y->M, .R = y->R, .fold = l == 0, .theta = y->theta,
                                   .W = y->W, .S = y->S, .E = y->E, .P = y->P};
      rc = phx_op_step_map(n->b, &a, err);
    } else {
      const phx_args_map_forward a = {y->M, y->R, l == 0, y->theta, y->W, y->S, y->E};
      rc = phx_op_map_forward(n->b, &a, err);
    }
    if (rc) return rc;
  }
  int rc = net_row_loads(n, err);
  if (!rc) rc = net_model_offsets(n, err);
  if (rc) return rc;
  n->mapped = 1;
  return 0;
}

/* C = op(A) op(B) + beta C over whole, densely stored matrices: op(A) is
 * m x k, op(B) k x n, C m x n. */
static int net_gemm(phx_backend *b, int ta, int tb, int m, int n, int k, const phx_buf *A,
                    const phx_buf *B, double beta, phx_buf *C, phx_err *err) {
  const phx_args_gemm a = {.transA = ta, .transB = tb, .m = m, .n = n, .k = k,
                           .alpha = 1.0, .beta = beta, .A = A, .lda = ta ? m : k,
                           .B = B, .ldb = tb ? k : n, .C = C, .ldc = n};
  return phx_op_gemm(b, &a, err);
}

/* The neurons of layer y: the tanh fits, or the table (loaded by the next
 * layer's rows when y->G exists). */
static int net_activate(phx_net *n, int B, const net_layer *y, phx_err *err) {
  const phx_buf *Z = y->off ? y->Zs : y->Z; /* the neurons' inputs */
  if (!n->tL) {
    const phx_args_activate a = {B, y->M, Z, y->U};
    return phx_op_activate(n->b, &a, err);
  }
  if (y->Er) { /* returned loads: settled with the next layer's columns */
    const net_layer *nx = y + 1;
    const phx_args_activate_return a = {.B = B, .M = y->M, .K = nx->M, .L = n->tL,
                                        .NV = n->tNV, .v0 = n->tv0, .dv = n->tdv, .Z = Z,
                                        .T = n->T, .loads = n->loads, .G = y->G,
                                        .Wn = nx->W, .Sn = nx->S, .U = y->U};
    return phx_op_activate_return(n->b, &a, err);
  }
  const phx_args_activate_table a = {.B = B, .M = y->M, .L = n->tL, .NV = n->tNV,
                                     .loaded = y->G != NULL, .v0 = n->tv0, .dv = n->tdv,
                                     .Z = Z, .T = n->T, .loads = n->loads, .G = y->G,
                                     .U = y->U};
  return phx_op_activate_table(n->b, &a, err);
}

static int net_activate_backward(phx_net *n, int B, const net_layer *y, int accumulate,
                                 phx_err *err) {
  const phx_buf *Z = y->off ? y->Zs : y->Z;
  if (!n->tL) {
    const phx_args_activate_backward a = {B, y->M, Z, y->dU, y->dZ};
    return phx_op_activate_backward(n->b, &a, err);
  }
  const phx_args_activate_table_backward a = {
      .B = B, .M = y->M, .L = n->tL, .NV = n->tNV, .loaded = y->G != NULL,
      .accumulate = accumulate, .v0 = n->tv0, .dv = n->tdv, .Z = Z, .T = n->T,
      .loads = n->loads, .G = y->G, .dU = y->dU, .dZ = y->dZ, .dG = y->dG};
  return phx_op_activate_table_backward(n->b, &a, err);
}

/* Z = A Wt^T and U = activate(Z) of layer y: one op where the backend
 * fuses them (the tanh neurons only, no offsets), else the product, the
 * offsets (Zs = Z - D: Z stays the column voltage the power needs) and
 * activate. */
static int net_forward(phx_net *n, int B, const net_layer *y, int K, const phx_buf *A,
                       const phx_buf *Wt, phx_err *err) {
  if (n->fused_forward && !n->tL && !y->off) {
    const phx_args_layer_forward a = {B, y->M, K, A, Wt, y->Z, y->U};
    return phx_op_layer_forward(n->b, &a, err);
  }
  int rc = net_gemm(n->b, 0, 1, B, y->M, K, A, Wt, 0.0, y->Z, err);
  if (!rc && y->off) {
    const phx_args_neuron_offset a = {B, y->M, B, y->Z, y->D, y->Zs};
    rc = phx_op_neuron_offset(n->b, &a, err);
  }
  return rc ? rc : net_activate(n, B, y, err);
}

phx_status phx_net_batch(phx_net *n, int slot, size_t ioff, int B, double scale,
                         int want_grad, int accumulate, phx_err *err) {
  int rc;
  if (slot < 0 || slot >= PHX_SLOTS || n->slot[slot].count == 0)
    return phx_fail(err, PHX_EINVAL, "net: slot %d has no dataset", slot);
  net_slot *s = &n->slot[slot];
  if (B < 1 || B > n->max_batch || ioff > (size_t)s->count || (size_t)B > s->count - ioff)
    return phx_fail(err, PHX_EINVAL, "net: batch of %d at %zu outside 1..%d / %d samples",
                    B, ioff, n->max_batch, s->count);
  if ((rc = net_map(n, err))) return rc;
  phx_backend *be = n->b;
  net_layer *y0 = &n->lay[0];
  const int N0 = y0->N;
  /* Forward: Z0 = V E^T on the folded input, Z_l = U_{l-1} W_l^T after. */
  const phx_args_gather_input ga = {N0, B, s->count, s->X, s->order, ioff, n->V};
  if ((rc = phx_op_gather_input(be, &ga, err)) ||
      (rc = net_forward(n, B, y0, N0 + 1, n->V, y0->E, err)))
    return rc;
  for (int l = 1; l < n->L; l++) {
    net_layer *y = &n->lay[l], *p = &n->lay[l - 1];
    if ((rc = net_forward(n, B, y, y->R, p->U, y->W, err))) return rc;
  }
  net_layer *yl = &n->lay[n->L - 1];
  const phx_args_loss la = {.B = B, .M = yl->M, .count = s->count, .grad = want_grad,
                            .scale = scale, .U = yl->U, .labels = s->labels,
                            .idx = s->order, .ioff = ioff, .ooff = ioff,
                            .lossv = s->lossv, .pred = s->pred, .dU = yl->dU,
                            .has_targets = s->targets != NULL, .targets = s->targets};
  if ((rc = phx_op_loss(be, &la, err))) return rc;
  if (!want_grad) return PHX_OK;
  /* Backward: dZ from dU, then the weight gradient and dU of the layer
   * below. Where the layer below returns its loads, one op takes this
   * layer's dZ to the adjoint lam (in place) and gives the layer below
   * its dZ directly. */
  const double beta = accumulate ? 1.0 : 0.0;
  if ((rc = net_activate_backward(n, B, yl, accumulate, err))) return rc;
  for (int l = n->L - 1; l >= 1; l--) {
    net_layer *y = &n->lay[l], *p = &n->lay[l - 1];
    if (p->Er) {
      const phx_args_activate_return_backward a = {
          .B = B, .M = p->M, .K = y->M, .L = n->tL, .NV = n->tNV, .accumulate = accumulate,
          .v0 = n->tv0, .dv = n->tdv, .Z = p->off ? p->Zs : p->Z, .T = n->T,
          .loads = n->loads, .G = p->G, .Wn = y->W, .Sn = y->S, .Zn = y->Z, .dZn = y->dZ,
          .dZ = p->dZ, .dG = p->dG, .Er = p->Er};
      if ((rc = phx_op_activate_return_backward(be, &a, err)) ||
          (rc = net_gemm(be, 1, 0, y->M, y->R, B, y->dZ, p->U, beta, y->dW, err)) ||
          (rc = net_gemm(be, 1, 0, y->M, y->R, B, y->Z, p->Er, beta, y->dgm, err)))
        return rc;
      continue;
    }
    if ((rc = net_gemm(be, 1, 0, y->M, y->R, B, y->dZ, p->U, beta, y->dW, err)) ||
        (rc = net_gemm(be, 0, 0, B, y->R, y->M, y->dZ, y->W, 0.0, p->dU, err)) ||
        (rc = net_activate_backward(n, B, p, accumulate, err)))
      return rc;
  }
  if ((rc = net_gemm(be, 1, 0, y0->M, N0 + 1, B, y0->dZ, n->V, beta, y0->dW, err)))
    return rc;
  return PHX_OK;
}

phx_status phx_net_grad_finish(phx_net *n, phx_err *err) {
  int rc;
  if ((rc = net_map(n, err))) return rc;
  for (int l = 0; l < n->L; l++) {
    net_layer *y = &n->lay[l];
    /* a loaded layer below adds its rows' load gradient (row_load) */
    const phx_buf *drow = l > 0 && n->loaded ? n->lay[l - 1].dG : NULL;
    const phx_args_map_backward a = {.M = y->M, .R = y->R, .fold = l == 0,
                                     .theta = y->theta, .W = y->W, .S = y->S, .dWE = y->dW,
                                     .dtheta = y->dtheta,
                                     .loads = !drow ? 0 : y->dgm ? 2 : 1,
                                     .drow = drow, .dgm = y->dgm};
    if ((rc = phx_op_map_backward(n->b, &a, err))) return rc;
  }
  return PHX_OK;
}

phx_status phx_net_step(phx_net *n, const phx_optim *o, phx_err *err) {
  for (int l = 0; l < n->L; l++) {
    net_layer *y = &n->lay[l];
    const phx_args_opt_step a = {o, (size_t)y->M * y->R, y->theta, y->dtheta, y->m, y->v};
    int rc = phx_op_opt_step(n->b, &a, err);
    if (rc) return rc;
  }
  n->mapped = 0;
  return PHX_OK;
}

phx_status phx_net_grad_step(phx_net *n, const phx_optim *o, phx_err *err) {
  int rc;
  if (!n->fused || (o->kind != PHX_OPT_SGD && o->kind != PHX_OPT_MOMENTUM &&
                            o->kind != PHX_OPT_ADAM)) {
    if ((rc = phx_net_grad_finish(n, err))) return rc;
    return phx_net_step(n, o, err);
  }
  if ((rc = net_map(n, err))) return rc;
  for (int l = 0; l < n->L; l++) {
    net_layer *y = &n->lay[l];
    const phx_args_step_map a = {o,    y->M, y->R, l == 0,    y->theta, y->W, y->S,
                                 y->E, y->P, y->dW, y->dtheta, y->m,     y->v};
    if ((rc = phx_op_step_map(n->b, &a, err))) {
      n->mapped = 0; /* layers before l hold the new theta, W may be stale */
      return rc;
    }
  }
  /* W, S, E and P now belong to the new theta. */
  n->mapped = 1;
  return PHX_OK;
}

phx_status phx_net_reset_state(phx_net *n, phx_err *err) {
  size_t most = 0;
  for (int l = 0; l < n->L; l++)
    if ((size_t)n->lay[l].M * n->lay[l].R > most) most = (size_t)n->lay[l].M * n->lay[l].R;
  double *zero = calloc(most, sizeof *zero);
  if (!zero) return phx_fail(err, PHX_ENOMEM, "net: out of memory");
  int rc = 0;
  for (int l = 0; l < n->L && !rc; l++) {
    net_layer *y = &n->lay[l];
    const size_t MR = (size_t)y->M * y->R;
    if (!(rc = phx_buf_write(n->b, y->m, 0, MR, zero, PHX_HOST_F64, err)))
      rc = phx_buf_write(n->b, y->v, 0, MR, zero, PHX_HOST_F64, err);
  }
  free(zero);
  return rc;
}

/* Per-sample metrics read back and summed on the host in double, in slot
 * order, so the sum is the same whatever the backend's reduction. */
phx_status phx_net_metrics(phx_net *n, int slot, int count, double *loss_sum,
                           long *correct, int32_t *pred, int32_t *truth, phx_err *err) {
  if (slot < 0 || slot >= PHX_SLOTS || n->slot[slot].count == 0)
    return phx_fail(err, PHX_EINVAL, "net: slot %d has no dataset", slot);
  net_slot *s = &n->slot[slot];
  if (count < 0 || count > s->count)
    return phx_fail(err, PHX_EINVAL, "net: %d metrics asked, %d samples bound", count,
                    s->count);
  const size_t cnt = (size_t)count;
  double *lv = malloc((cnt ? cnt : 1) * sizeof *lv);
  int32_t *pr = pred ? pred : malloc((cnt ? cnt : 1) * sizeof *pr);
  int rc = 0;
  if (!lv || !pr) {
    rc = phx_fail(err, PHX_ENOMEM, "net: out of memory");
    goto done;
  }
  if (cnt && ((rc = phx_buf_read(n->b, s->lossv, 0, cnt, lv, PHX_HOST_F64, err)) ||
              (rc = phx_buf_read(n->b, s->pred, 0, cnt, pr, PHX_HOST_I32, err))))
    goto done;
  double sum = 0;
  long ok = 0;
  for (size_t i = 0; i < cnt; i++) {
    const int32_t t = s->h_labels[s->h_order[i]];
    sum += lv[i];
    ok += pr[i] == t && !s->targets; /* regression has no classes to hit */
    if (truth) truth[i] = t;
  }
  if (loss_sum) *loss_sum = sum;
  if (correct) *correct = ok;
done:
  free(lv);
  if (pr != pred) free(pr);
  return rc;
}

phx_status phx_net_map_vary(phx_net *n, const phx_variation *v, uint64_t seed, int draw,
                            phx_err *err) {
  /* the ideal map first when theta changed: with step_map it also fills
   * P, which a fused step after this draw needs */
  int rc0 = net_map(n, err);
  if (rc0) return rc0;
  double *d = NULL;
  if (v->offset_sigma > 0) {
    int most = 1;
    for (int l = 0; l < n->L; l++) most = n->lay[l].M > most ? n->lay[l].M : most;
    if (!(d = malloc((size_t)most * sizeof *d))) return phx_fail(err, PHX_ENOMEM, "net: out of memory");
  }
  for (int l = 0; l < n->L; l++) {
    net_layer *y = &n->lay[l];
    const uint32_t key = phx_vary_key(seed, draw, l);
    const phx_args_map_vary a = {y->M, y->R, l == 0, key, v, y->theta, y->W, y->S, y->E};
    int rc = phx_op_map_vary(n->b, &a, err);
    /* the draw's neuron offsets replace the model's (host-drawn: M values) */
    for (int j = 0; d && j < y->M; j++) d[j] = phx_vary_offset_ref(v->offset_sigma, key, (uint32_t)j);
    if (!rc && d) rc = net_set_offsets(n, l, d, err);
    if (rc) {
      free(d);
      n->mapped = 0;
      return rc;
    }
  }
  free(d);
  if (!v->offset_sigma && (rc0 = net_model_offsets(n, err))) {
    n->mapped = 0;
    return rc0;
  }
  /* W, S, E hold the drawn chip; P (fused training) does not follow it */
  rc0 = net_row_loads(n, err);
  n->mapped = !rc0;
  return rc0;
}

phx_status phx_net_get_map64(phx_net *n, int l, double **W, double **S, phx_err *err) {
  *W = *S = NULL;
  if (l < 0 || l >= n->L) return phx_fail(err, PHX_EINVAL, "net: no layer %d", l);
  int rc = net_map(n, err);
  if (rc) return rc;
  net_layer *y = &n->lay[l];
  const size_t MR = (size_t)y->M * y->R;
  *W = malloc(MR * sizeof **W);
  *S = malloc((size_t)y->M * sizeof **S);
  if (!*W || !*S) rc = phx_fail(err, PHX_ENOMEM, "net: out of memory");
  if (!rc) rc = phx_buf_read(n->b, y->W, 0, MR, *W, PHX_HOST_F64, err);
  if (!rc) rc = phx_buf_read(n->b, y->S, 0, (size_t)y->M, *S, PHX_HOST_F64, err);
  if (rc) {
    free(*W);
    free(*S);
    *W = *S = NULL;
  }
  return rc;
}

phx_status phx_net_power(phx_net *n, int B, double *watts, double *per_layer,
                         phx_err *err) {
  if (B < 1 || B > n->max_batch)
    return phx_fail(err, PHX_EINVAL, "net: power of %d samples (1..%d)", B, n->max_batch);
  double *h = malloc((size_t)B * sizeof *h);
  if (!h) return phx_fail(err, PHX_ENOMEM, "net: out of memory");
  int rc = 0;
  for (int l = 0; l < n->L && !rc; l++) {
    net_layer *y = &n->lay[l];
    if (!y->Pw && (rc = net_alloc(n, &y->Pw, PHX_BUF_REAL, (size_t)n->max_batch, err))) break;
    const phx_args_crossbar_power a = {B,    y->M, y->R, l == 0, l == 0 ? n->V : n->lay[l - 1].U,
                                       y->Z, y->W, y->S, y->Pw};
    if ((rc = phx_op_crossbar_power(n->b, &a, err)) ||
        (rc = phx_buf_read(n->b, y->Pw, 0, (size_t)B, h, PHX_HOST_F64, err)))
      break;
    double sum = 0;
    for (int b = 0; b < B; b++) {
      watts[b] += h[b];
      sum += h[b];
    }
    if (per_layer) per_layer[l] += sum;
  }
  free(h);
  return rc;
}

phx_status phx_net_outputs(phx_net *n, int B, double *out, phx_err *err) {
  const net_layer *y = &n->lay[n->L - 1];
  if (B < 1 || B > n->max_batch)
    return phx_fail(err, PHX_EINVAL, "net: %d outputs asked, batch holds %d", B, n->max_batch);
  const size_t RU = 2 * (size_t)y->M + 2, cnt = (size_t)B * RU;
  double *u = malloc(cnt * sizeof *u);
  if (!u) return phx_fail(err, PHX_ENOMEM, "net: out of memory");
  int rc = phx_buf_read(n->b, y->U, 0, cnt, u, PHX_HOST_F64, err);
  for (int b = 0; !rc && b < B; b++)
    memcpy(out + (size_t)b * (size_t)y->M, u + (size_t)b * RU + 2, (size_t)y->M * sizeof *u);
  free(u);
  return rc;
}

int phx_net_max_batch(const phx_net *n) { return n->max_batch; }

phx_backend *phx_net_backend(phx_net *n) { return n->b; }

/* ---- issue 9: checkpoint state (additive section) ------------------------
 * Reads and writes through phx_buf_read/phx_buf_write in F64, which is
 * exact for float and double buffers alike. */

/* Layer l, or an error naming it. */
static net_layer *net_layer_at(phx_net *n, int l, phx_err *err) {
  if (l < 0 || l >= n->L) {
    phx_fail(err, PHX_EINVAL, "net: no layer %d", l);
    return NULL;
  }
  return &n->lay[l];
}

phx_status phx_net_get_theta64(phx_net *n, int l, double *theta, phx_err *err) {
  net_layer *y = net_layer_at(n, l, err);
  if (!y) return PHX_EINVAL;
  return phx_buf_read(n->b, y->theta, 0, (size_t)y->M * y->R, theta, PHX_HOST_F64, err);
}

phx_status phx_net_get_state64(phx_net *n, int l, double *m, double *v, phx_err *err) {
  net_layer *y = net_layer_at(n, l, err);
  if (!y) return PHX_EINVAL;
  const size_t MR = (size_t)y->M * y->R;
  int rc = m ? phx_buf_read(n->b, y->m, 0, MR, m, PHX_HOST_F64, err) : 0;
  if (!rc && v) rc = phx_buf_read(n->b, y->v, 0, MR, v, PHX_HOST_F64, err);
  return rc;
}

phx_status phx_net_set_state64(phx_net *n, int l, const double *m, const double *v,
                               phx_err *err) {
  net_layer *y = net_layer_at(n, l, err);
  if (!y) return PHX_EINVAL;
  const size_t MR = (size_t)y->M * y->R;
  int rc = m ? phx_buf_write(n->b, y->m, 0, MR, m, PHX_HOST_F64, err) : 0;
  if (!rc && v) rc = phx_buf_write(n->b, y->v, 0, MR, v, PHX_HOST_F64, err);
  return rc;
}

/* The slot, when count of its positions exist. */
static net_slot *net_slot_at(phx_net *n, int slot, int count, phx_err *err) {
  if (slot < 0 || slot >= PHX_SLOTS || n->slot[slot].count == 0 || count < 0 ||
      count > n->slot[slot].count) {
    phx_fail(err, PHX_EINVAL, "net: slot %d has no %d samples", slot, count);
    return NULL;
  }
  return &n->slot[slot];
}

phx_status phx_net_get_metrics_raw(phx_net *n, int slot, int count, double *loss,
                                   int32_t *pred, phx_err *err) {
  net_slot *s = net_slot_at(n, slot, count, err);
  if (!s) return PHX_EINVAL;
  if (count == 0) return PHX_OK;
  int rc = phx_buf_read(n->b, s->lossv, 0, (size_t)count, loss, PHX_HOST_F64, err);
  if (!rc) rc = phx_buf_read(n->b, s->pred, 0, (size_t)count, pred, PHX_HOST_I32, err);
  return rc;
}

phx_status phx_net_set_metrics_raw(phx_net *n, int slot, int count, const double *loss,
                                   const int32_t *pred, phx_err *err) {
  net_slot *s = net_slot_at(n, slot, count, err);
  if (!s) return PHX_EINVAL;
  if (count == 0) return PHX_OK;
  int rc = phx_buf_write(n->b, s->lossv, 0, (size_t)count, loss, PHX_HOST_F64, err);
  if (!rc) rc = phx_buf_write(n->b, s->pred, 0, (size_t)count, pred, PHX_HOST_I32, err);
  return rc;
}

/* ---- issue 7: several drawn chips per pass (Monte Carlo on a device) ----
 * P chips side by side: each one's W, S, E of its own (map_vary), the
 * activations of a batch of B samples as P blocks of B rows (row d B + b
 * is sample b on chip d), so that every activate, offset and loss launch
 * covers all P chips and only the products run per chip, each on its own
 * dense block (a strided product would make a GEMM library copy the gaps
 * too). */
typedef struct net_draws {
  int P, B, count;                 /* chips, batch rows (samples), bound samples */
  phx_buf *W[PHX_MAX_LAYERS][PHX_MC_PASS], *S[PHX_MAX_LAYERS][PHX_MC_PASS];
  phx_buf *E[PHX_MC_PASS];
  phx_buf *D[PHX_MAX_LAYERS];      /* P x M offsets */
  phx_buf *Z[PHX_MAX_LAYERS], *Zs[PHX_MAX_LAYERS], *U[PHX_MAX_LAYERS]; /* B P rows */
  phx_buf *idx, *lossv, *pred;     /* count P: sample of each row, results; the
                                    * batch at off holds P blocks of its rows */
  int32_t *h_pred;
} net_draws;

static void draws_free(phx_net *n) {
  net_draws *r = n->dr;
  if (!r) return;
  for (int l = 0; l < n->L; l++) {
    for (int d = 0; d < r->P; d++) {
      net_release(n, &r->W[l][d]);
      net_release(n, &r->S[l][d]);
    }
    net_release(n, &r->D[l]);
    net_release(n, &r->Z[l]);
    net_release(n, &r->Zs[l]);
    net_release(n, &r->U[l]);
  }
  for (int d = 0; d < r->P; d++) net_release(n, &r->E[d]);
  net_release(n, &r->idx);
  net_release(n, &r->lossv);
  net_release(n, &r->pred);
  free(r->h_pred);
  free(r);
  n->dr = NULL;
}

/* Buffers for P chips over the test slot's count samples. */
static int draws_alloc(phx_net *n, int P, int count, phx_err *err) {
  if (n->dr && n->dr->P == P && n->dr->count == count) return 0;
  draws_free(n);
  net_draws *r = calloc(1, sizeof *r);
  if (!r) return phx_fail(err, PHX_ENOMEM, "net: out of memory");
  n->dr = r;
  r->P = P;
  r->B = n->max_batch;
  r->count = count;
  const size_t rows = (size_t)r->B * (size_t)P, cp = (size_t)count * (size_t)P;
  int rc = 0;
  for (int l = 0; !rc && l < n->L; l++) {
    const net_layer *y = &n->lay[l];
    const size_t M = (size_t)y->M;
    for (int d = 0; !rc && d < P; d++)
      if (!(rc = net_alloc(n, &r->W[l][d], PHX_BUF_REAL, M * (size_t)y->R, err)) &&
          !(rc = net_alloc(n, &r->S[l][d], PHX_BUF_REAL, M, err)) && l == 0)
        rc = net_alloc(n, &r->E[d], PHX_BUF_REAL, M * ((size_t)y->N + 1), err);
    if (!rc) rc = net_alloc(n, &r->D[l], PHX_BUF_REAL, (size_t)P * M, err);
    if (!rc) rc = net_alloc(n, &r->Z[l], PHX_BUF_REAL, rows * M, err);
    if (!rc) rc = net_alloc(n, &r->Zs[l], PHX_BUF_REAL, rows * M, err);
    if (!rc) rc = net_alloc(n, &r->U[l], PHX_BUF_REAL, rows * (2 * M + 2), err);
  }
  if (!rc) rc = net_alloc(n, &r->idx, PHX_BUF_I32, cp, err);
  if (!rc) rc = net_alloc(n, &r->lossv, PHX_BUF_REAL, cp, err);
  if (!rc) rc = net_alloc(n, &r->pred, PHX_BUF_I32, cp, err);
  if (!rc && !(r->h_pred = malloc(cp * sizeof *r->h_pred)))
    rc = phx_fail(err, PHX_ENOMEM, "net: out of memory");
  if (!rc) { /* the batch at off: row off P + d Bc + b is sample order[off + b] */
    const int32_t *order = n->slot[PHX_SLOT_TEST].h_order;
    for (int off = 0; off < count; off += r->B) {
      const int Bc = count - off < r->B ? count - off : r->B;
      for (int d = 0; d < P; d++)
        for (int b = 0; b < Bc; b++) r->h_pred[(size_t)off * P + (size_t)d * Bc + b] = order[off + b];
    }
    rc = phx_buf_write(n->b, r->idx, 0, cp, r->h_pred, PHX_HOST_I32, err);
  }
  if (rc) draws_free(n);
  return rc;
}

/* The neurons of P blocks of Bc rows of layer y: offsets (chip d's on
 * block d) when the chips have them, then the tanh fits or the unloaded
 * table. */
static int draws_activate(phx_net *n, const net_draws *r, int l, int Bc, int offsets,
                          phx_err *err) {
  const net_layer *y = &n->lay[l];
  const phx_buf *Z = r->Z[l];
  const int rows = Bc * r->P;
  if (offsets) {
    const phx_args_neuron_offset a = {rows, y->M, Bc, r->Z[l], r->D[l], r->Zs[l]};
    int rc = phx_op_neuron_offset(n->b, &a, err);
    if (rc) return rc;
    Z = r->Zs[l];
  }
  if (!n->tL) {
    const phx_args_activate a = {rows, y->M, Z, r->U[l]};
    return phx_op_activate(n->b, &a, err);
  }
  const phx_args_activate_table a = {.B = rows, .M = y->M, .L = n->tL, .NV = n->tNV,
                                     .v0 = n->tv0, .dv = n->tdv, .Z = Z, .T = n->T,
                                     .loads = n->loads, .U = r->U[l]};
  return phx_op_activate_table(n->b, &a, err);
}

/* The chips' neuron offsets, P x M a layer: drawn, or the model's own. */
static int draws_offsets(phx_net *n, const phx_variation *v, uint64_t seed, int first,
                         int *any, phx_err *err) {
  *any = v->offset_sigma > 0 || n->model_off;
  if (!*any) return 0;
  net_draws *r = n->dr;
  int rc = 0;
  for (int l = 0, at = 0; !rc && l < n->L; at += n->lay[l].M, l++) {
    const int M = n->lay[l].M;
    double *d = malloc((size_t)r->P * (size_t)M * sizeof *d);
    if (!d) return phx_fail(err, PHX_ENOMEM, "net: out of memory");
    for (int k = 0; k < r->P; k++) {
      const uint32_t key = phx_vary_key(seed, first + k, l);
      for (int j = 0; j < M; j++)
        d[(size_t)k * M + j] = v->offset_sigma > 0
                                   ? phx_vary_offset_ref(v->offset_sigma, key, (uint32_t)j)
                                   : n->model_off[at + j];
    }
    rc = phx_buf_write(n->b, r->D[l], 0, (size_t)r->P * M, d, PHX_HOST_F64, err);
    free(d);
  }
  return rc;
}

phx_status phx_net_draws_correct(phx_net *n, const phx_variation *v, uint64_t seed, int first,
                                 int P, int count, long *correct, phx_err *err) {
  net_slot *s = &n->slot[PHX_SLOT_TEST];
  if (P < 1 || P > PHX_MC_PASS || first < 0 || count < 1 || count > s->count)
    return phx_fail(err, PHX_EINVAL, "net: %d chips from %d over %d samples (1 to %d chips, "
                    "%d samples bound)", P, first, count, PHX_MC_PASS, s->count);
  if (n->loaded)
    return phx_fail(err, PHX_EINVAL, "net: load-aware chips run one at a time");
  int rc = net_map(n, err); /* the ideal map first, as map_vary */
  if (!rc) rc = draws_alloc(n, P, count, err);
  if (rc) return rc;
  net_draws *r = n->dr;
  for (int l = 0; !rc && l < n->L; l++) {
    const net_layer *y = &n->lay[l];
    for (int d = 0; !rc && d < P; d++) {
      const phx_args_map_vary a = {y->M, y->R, l == 0, phx_vary_key(seed, first + d, l), v,
                                   y->theta, r->W[l][d], r->S[l][d], l == 0 ? r->E[d] : NULL};
      rc = phx_op_map_vary(n->b, &a, err);
    }
  }
  int offsets = 0;
  if (!rc) rc = draws_offsets(n, v, seed, first, &offsets, err);
  const net_layer *y0 = &n->lay[0];
  const int N0 = y0->N, K0 = N0 + 1;
  for (int off = 0; !rc && off < count; off += r->B) {
    const int B = count - off < r->B ? count - off : r->B, rows = B * P;
    const phx_args_gather_input ga = {N0, B, s->count, s->X, s->order, (size_t)off, n->V};
    rc = phx_op_gather_input(n->b, &ga, err);
    for (int l = 0; !rc && l < n->L; l++) {
      const net_layer *y = &n->lay[l];
      /* chip d's block of rows, from its own weights */
      const int K = l == 0 ? K0 : y->R;
      for (int d = 0; !rc && d < P; d++) {
        const phx_args_gemm g = {.transA = 0, .transB = 1, .m = B, .n = y->M, .k = K,
                                 .alpha = 1.0, .beta = 0.0,
                                 .A = l == 0 ? n->V : r->U[l - 1],
                                 .aoff = l == 0 ? 0 : (size_t)d * (size_t)B * (size_t)K,
                                 .lda = K, .B = l == 0 ? r->E[d] : r->W[l][d], .boff = 0,
                                 .ldb = K, .C = r->Z[l],
                                 .coff = (size_t)d * (size_t)B * (size_t)y->M, .ldc = y->M};
        rc = phx_op_gemm(n->b, &g, err);
      }
      if (!rc) rc = draws_activate(n, r, l, B, offsets, err);
    }
    const net_layer *yl = &n->lay[n->L - 1];
    const phx_args_loss la = {.B = rows, .M = yl->M, .count = s->count, .grad = 0, .scale = 1,
                              .U = r->U[n->L - 1], .labels = s->labels, .idx = r->idx,
                              .ioff = (size_t)off * P, .ooff = (size_t)off * P,
                              .lossv = r->lossv, .pred = r->pred};
    if (!rc) rc = phx_op_loss(n->b, &la, err);
  }
  const size_t cp = (size_t)count * (size_t)P;
  if (!rc) rc = phx_buf_read(n->b, r->pred, 0, cp, r->h_pred, PHX_HOST_I32, err);
  for (int d = 0; !rc && d < P; d++) correct[d] = 0;
  for (int off = 0; !rc && off < count; off += r->B) {
    const int Bc = count - off < r->B ? count - off : r->B;
    for (int d = 0; d < P; d++)
      for (int b = 0; b < Bc; b++)
        correct[d] += r->h_pred[(size_t)off * P + (size_t)d * Bc + b] ==
                      s->h_labels[s->h_order[off + b]];
  }
  return rc;
}
