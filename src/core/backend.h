/* The backend seam: a table of operations that the trainer (net.c) drives
 * without knowing which backend runs them. Each backend (backend_cpu.c,
 * backend_opencl.c) fills one phx_bops and owns its buffers.
 *
 * Conventions for every operation:
 *  - matrices are row-major; sizes and offsets count elements, not bytes;
 *  - REAL buffers hold the backend's real type (float, or double for the
 *    c64 check backend); I32 buffers hold int32;
 *  - operations may run asynchronously; read() and finish() synchronise;
 *  - a non-zero return is a phx_status with err filled.
 */
#ifndef PHX_BACKEND_H
#define PHX_BACKEND_H

#include "phaxcl.h"

typedef enum { PHX_BUF_REAL = 0, PHX_BUF_I32 = 1 } phx_btype;
typedef enum { PHX_HOST_F32 = 0, PHX_HOST_F64 = 1, PHX_HOST_I32 = 2 } phx_htype;

/* A backend buffer: element type and count are common so that the checked
 * entry points (ops.c) can validate every operation the same way for every
 * backend; p is the backend's storage (host memory on the C path, a cl_mem
 * on OpenCL). */
typedef struct phx_buf {
  phx_btype type;
  size_t n;
  void *p;
} phx_buf;

/* Model constants every operation may need (OpenCL bakes them in as -D). */
typedef struct phx_consts {
  double vdd;
  double gmin;
  double k;    /* ratio - 1 */
  double c[4]; /* inverted VTC */
  double d[4]; /* non-inverted VTC */
  phx_loss loss;
} phx_consts;

typedef struct phx_optim {
  phx_optimizer kind; /* SGD, MOMENTUM or ADAM */
  double lr, momentum, beta1, beta2, eps;
  long t; /* 1-based step count (adam bias correction) */
} phx_optim;

/* ---- the operations' contracts --------------------------------------------
 * Each operation takes one named argument struct. Buffers marked (in) are
 * read, (out) written, (in/out) both; the element counts each one must hold
 * are computed once, for every backend, by the op's shape function in
 * ops.c, and the op descriptors in op_table.c carry its test cases and
 * float64 reference. */

/* theta (M x R) -> W = g / S (M x R), S (M).
 * When fold, also E (M x (N+1)), N = (R-2)/2, the input-layer weights with
 * the p/n pair and the bias pair folded (inputs drive p = +v, n = -v):
 *   E[j][0]   = vdd/2 * (W[j][0] - W[j][1])
 *   E[j][1+i] = W[j][2+i] - W[j][2+N+i]                                  */
typedef struct phx_args_map_forward {
  int M, R, fold;
  const phx_buf *theta; /* in  M x R */
  phx_buf *W;           /* out M x R */
  phx_buf *S;           /* out M */
  phx_buf *E;           /* out M x (N+1), only when fold */
} phx_args_map_forward;

/* dL/dW (M x R), or when fold dL/dE (M x (N+1)) -> dL/dtheta (M x R):
 *   dW expanded from dE when fold (dW0 = vdd/2 dE0, dW1 = -vdd/2 dE0,
 *     dW[2+i] = dE[1+i], dW[2+N+i] = -dE[1+i]);
 *   dg[j][r] = (dW[j][r] - sum_q dW[j][q] W[j][q]) / S[j];
 *   dtheta = dg * gmin * k * s * (1 - s),  s = sigmoid(theta).          */
typedef struct phx_args_map_backward {
  int M, R, fold;
  const phx_buf *theta, *W, *S; /* in, as map_forward */
  const phx_buf *dWE;           /* in  M x R, or M x (N+1) when fold */
  phx_buf *dtheta;              /* out M x R */
  int loads;                    /* 1: drow is given, 2: drow and dgm
                                 * (never with fold) */
  const phx_buf *drow;          /* in  R, when loads: dL/dG_r of the row
                                 * loads G_r = sum_j g_jr (row_load), added
                                 * to every dg[j][r] */
  const phx_buf *dgm;           /* in  M x R, when loads == 2: added to
                                 * dg[j][r] as well (returned loads) */
} phx_args_map_backward;

/* Input layer operand: V (B x (N+1)), V[b][0] = 1,
 * V[b][1+i] = (X[idx[ioff+b]][i] - 0.5) * vdd. X holds `count` samples;
 * every index used must lie in [0, count). */
typedef struct phx_args_gather_input {
  int N, B, count;
  const phx_buf *X;   /* in  count x N */
  const phx_buf *idx; /* in  I32, ioff + B */
  size_t ioff;
  phx_buf *V;         /* out B x (N+1) */
} phx_args_gather_input;

/* C = alpha * op(A) * op(B) + beta * C, row-major, op(A) m x k,
 * op(B) k x n; aoff/boff/coff are element offsets, ld* leading dimensions.
 * beta == 0 overwrites C (NaN there does not propagate). */
typedef struct phx_args_gemm {
  int transA, transB, m, n, k;
  double alpha, beta;
  const phx_buf *A; size_t aoff; int lda; /* in */
  const phx_buf *B; size_t boff; int ldb; /* in */
  phx_buf *C; size_t coff; int ldc;       /* in/out */
} phx_args_gemm;

/* Z (B x M) -> U (B x (2M+2)) = [vdd/2, -vdd/2, o-_1..o-_M, o+_1..o+_M]. */
typedef struct phx_args_activate {
  int B, M;
  const phx_buf *Z; /* in  B x M */
  phx_buf *U;       /* out B x (2M+2) */
} phx_args_activate;

/* dL/dU (B x (2M+2)) -> dL/dZ (B x M), using Z:
 *   dZ = dU[2+j] * c2 c4 (1 - tanh^2(c4 (z - c3)))
 *      + dU[2+M+j] * d2 d4 (1 - tanh^2(d4 (z - d3))).                   */
typedef struct phx_args_activate_backward {
  int B, M;
  const phx_buf *Z;  /* in  B x M */
  const phx_buf *dU; /* in  B x (2M+2) */
  phx_buf *dZ;       /* out B x M */
} phx_args_activate_backward;

/* The neuron as a table (docs/model.md, "Table neurons and loading"): one
 * inverter's output F(v; G) for input v and a load G to 0 V, tabulated at
 * NV inputs v0 + i dv and L loads (loads[0] = 0, increasing); T holds, per
 * load and input, the value and its slope dF/dv (L x NV x 2). F is the
 * monotone cubic Hermite of those in v (constant outside the table) and
 * linear in G between loads (constant beyond the last). A neuron is two
 * inverters in series:
 *   o-_j = F(z_j; Gm_j),  o+_j = F(o-_j; Gp_j),
 * with Gm_j = G[2+j], Gp_j = G[2+M+j] when loaded (G laid out as the rows
 * of U: the loads of the next layer's rows, row_load), else 0.
 * Z (B x M) -> U (B x (2M+2)) = [vdd/2, -vdd/2, o-, o+]. */
typedef struct phx_args_activate_table {
  int B, M, L, NV, loaded;
  double v0, dv;
  const phx_buf *Z;     /* in  B x M */
  const phx_buf *T;     /* in  L x NV x 2 */
  const phx_buf *loads; /* in  L */
  const phx_buf *G;     /* in  2M+2, when loaded */
  phx_buf *U;           /* out B x (2M+2) */
} phx_args_activate_table;

/* dL/dU -> dL/dZ through the table neuron, and when loaded the load
 * gradient summed over the batch (written when !accumulate, added to
 * otherwise; dG[0], dG[1] stay 0):
 *   a  = dU[2+j] + dU[2+M+j] F_v(o-_j; Gp_j)
 *   dZ = a F_v(z_j; Gm_j)
 *   dG[2+j]   (+)= sum_b a F_G(z_j; Gm_j)
 *   dG[2+M+j] (+)= sum_b dU[2+M+j] F_G(o-_j; Gp_j)                     */
typedef struct phx_args_activate_table_backward {
  int B, M, L, NV, loaded, accumulate;
  double v0, dv;
  const phx_buf *Z, *T, *loads; /* in, as activate_table */
  const phx_buf *G;             /* in  2M+2, when loaded */
  const phx_buf *dU;            /* in  B x (2M+2) */
  phx_buf *dZ;                  /* out B x M */
  phx_buf *dG;                  /* in/out 2M+2, when loaded */
} phx_args_activate_table_backward;

/* The load on each row of a layer: G[r] = sum_j W[j][r] S[j] (the sum of
 * the row's conductances g_jr over the layer's M columns). */
typedef struct phx_args_row_load {
  int M, R;
  const phx_buf *W, *S; /* in  M x R, M (as map_forward) */
  phx_buf *G;           /* out R */
} phx_args_row_load;

/* Loss of outputs o = U[b][2+j] against class labels[idx[ioff+b]]
 * (targets +vdd/2 for it, -vdd/2 otherwise; labels in [0, M), indices in
 * [0, count)), or, when has_targets, against the target voltages
 * targets[idx[ioff+b]][j] (regression; labels then only feed pred's
 * bookkeeping and are not read). Writes lossv[ooff+b] (per-sample loss, summed over
 * outputs) and pred[ooff+b] (argmax_j o, first on ties). When grad, writes
 * dU = scale * dloss/dU (columns other than the o- ones are zero). */
typedef struct phx_args_loss {
  int B, M, count, grad, has_targets;
  double scale;
  const phx_buf *U;      /* in  B x (2M+2) */
  const phx_buf *labels; /* in  I32, count */
  const phx_buf *idx;    /* in  I32, ioff + B */
  size_t ioff, ooff;
  phx_buf *lossv;        /* out ooff + B */
  phx_buf *pred;         /* out I32, ooff + B */
  phx_buf *dU;           /* out B x (2M+2), only when grad */
  const phx_buf *targets; /* in  count x M volts, only when has_targets */
} phx_args_loss;

/* One optimizer step over n parameters: theta -= update(grad); m (momentum
 * and adam) and v (adam) are the optimizer's state. */
typedef struct phx_args_opt_step {
  const phx_optim *o;
  size_t n;
  phx_buf *theta;      /* in/out n */
  const phx_buf *grad; /* in n */
  phx_buf *m, *v;      /* in/out n, when the optimizer keeps them */
} phx_args_opt_step;

/* OPTIONAL (a backend may lack it; net.c then runs map_forward,
 * map_backward and opt_step): the per-parameter work of a training step
 * in one pass over theta (M x R) instead of three. P (M x R) holds
 * s (1 - s), s = sigmoid(theta), so that the backward part needs no exp.
 *   o == NULL: map only: W, S, E (when fold) as map_forward, and P;
 *     dWE, dtheta, m, v are not used.
 *   o != NULL: dtheta as map_backward from dWE, W, S, E and P, which
 *     must be those of theta as this op last wrote them (or W, S, E of a
 *     chip map_vary drew from that theta: variation-aware training, the
 *     perturbation passed straight through); then the step
 *     of o (SGD, MOMENTUM or ADAM) on theta, m, v as opt_step; then W,
 *     S, E and P of the new theta as with o == NULL.                    */
typedef struct phx_args_step_map {
  const phx_optim *o;
  int M, R, fold;
  phx_buf *theta;     /* in/out M x R (in only when o == NULL) */
  phx_buf *W, *S, *E; /* in/out as map_forward's outputs */
  phx_buf *P;         /* in/out M x R */
  const phx_buf *dWE; /* in, as map_backward's, when o */
  phx_buf *dtheta;    /* out M x R, when o */
  phx_buf *m, *v;     /* in/out M x R, when o's optimizer keeps them */
} phx_args_step_map;

/* Static power a layer's crossbar dissipates per sample (W): every
 * memristor carries g_jr (u_r - z_j)^2, and with w = g / S summing to one
 * per column,
 *   P[b] = sum_j S_j (sum_r W_jr u_br^2 - z_bj^2).
 * U holds the layer's row voltages u (B x R), or when fold the input
 * operand V (B x (N+1)) of gather_input, whose rows stand for
 * [vdd/2, -vdd/2, v, -v]; Z holds the column voltages z = W u. */
typedef struct phx_args_crossbar_power {
  int B, M, R, fold;
  const phx_buf *U;    /* in  B x R, or B x (N+1) when fold */
  const phx_buf *Z;    /* in  B x M */
  const phx_buf *W, *S; /* in M x R, M (as map_forward) */
  phx_buf *P;          /* out B */
} phx_args_crossbar_power;

/* map_forward of a chip drawn with variation v (phaxcl.h, phx_variation):
 * per crosspoint i = j R + r, in units of gmin, gu = 1 + k s(theta); to the
 * nearest of v->levels levels; times e^(sigma n1) or (1 + sigma n1), cut at
 * 0; times (1 + read_noise n2), cut at 0; then 1 when u3 < stuck_off, 1 + k
 * when u3 < stuck_off + stuck_on. n1, n2 are Box-Muller normals and u3 a
 * uniform from the hash of key and i (core/vary.h, streams PHX_VS_*);
 * then W, S, E as map_forward. */
typedef struct phx_args_map_vary {
  int M, R, fold;
  uint32_t key;           /* phx_vary_key(seed, draw, layer) */
  const phx_variation *v;
  const phx_buf *theta;   /* in  M x R */
  phx_buf *W, *S, *E;     /* out, as map_forward */
} phx_args_map_vary;

/* OPTIONAL (net.c otherwise runs gemm, then activate): a layer's forward
 * pass in one operation, fewer launches where each one costs (issue 13):
 *   Z (B x M) = A Wt^T, A B x K, Wt M x K, dense row-major;
 *   U (B x (2M+2)) as activate from Z.
 * The input layer passes V and E (K = N+1), the others U and W (K = R). */
typedef struct phx_args_layer_forward {
  int B, M, K;
  const phx_buf *A;  /* in  B x K */
  const phx_buf *Wt; /* in  M x K */
  phx_buf *Z;        /* out B x M */
  phx_buf *U;        /* out B x (2M+2) */
} phx_args_layer_forward;

/* The neurons' input offsets (issue 7: each neuron's first inverter
 * switches delta_j away from the nominal curve, so the neuron sees
 * z - delta_j): Zs (B x M) = Z - D, row b taking row b / G of D
 * (ceil(B / G) x M); G = B for one chip, G < B for several chips' rows
 * one block after the other. */
typedef struct phx_args_neuron_offset {
  int B, M, G;
  const phx_buf *Z;  /* in  B x M */
  const phx_buf *D;  /* in  ceil(B / G) x M */
  phx_buf *Zs;       /* out B x M (may be Z itself) */
} phx_args_neuron_offset;

/* Returned loads (docs/model.md, "Returned loads"; core/return_solve.h):
 * a hidden layer's rows draw their current from the next layer's column
 * nodes. Per sample, the rows u (as activate_table's U) and the next
 * layer's column voltages x = Wn u settle together: row r with input v
 * (o-: z_j; o+: o-_j) and load G[r] returns to zb_r = sum_k g_kr x_k / G[r]
 * (g_kr = Wn[k][r] Sn[k]); each inverter is phx_curve_solve on the table.
 * Z (B x M) -> U (B x (2M+2)). A sample that does not settle is
 * PHX_ENAN. */
typedef struct phx_args_activate_return {
  int B, M, K, L, NV;
  double v0, dv;
  const phx_buf *Z;       /* in  B x M */
  const phx_buf *T;       /* in  L x NV x 2 */
  const phx_buf *loads;   /* in  L */
  const phx_buf *G;       /* in  2M+2 (row_load of Wn, Sn) */
  const phx_buf *Wn, *Sn; /* in  K x (2M+2), K: the next layer's map */
  phx_buf *U;             /* out B x (2M+2) */
} phx_args_activate_return;

/* The adjoint of activate_return (phx_ret_backward) at x = Zn:
 *   dZn: dL/dx in, lam = (I - J)^-T dL/dx out (the next layer's weight
 *        gradient and rows take lam in place of dL/dx);
 *   dZ (B x M) = dL/dZ;
 *   dG (2M+2) (+)= sum over the batch of c, in sample order (written when
 *        !accumulate; dG[0], dG[1] stay 0): map_backward's drow;
 *   Er (B x (2M+2)) = e per sample: dL/dg_kr gains sum_b Zn[b][k] Er[b][r]
 *        (map_backward's dgm, a product the caller runs).
 * A singular I - J is PHX_ENAN. */
typedef struct phx_args_activate_return_backward {
  int B, M, K, L, NV, accumulate;
  double v0, dv;
  const phx_buf *Z, *T, *loads, *G, *Wn, *Sn; /* in, as activate_return */
  const phx_buf *Zn;      /* in  B x K: x = U Wn^T */
  phx_buf *dZn;           /* in/out B x K */
  phx_buf *dZ;            /* out B x M */
  phx_buf *dG;            /* in/out 2M+2 */
  phx_buf *Er;            /* out B x (2M+2) */
} phx_args_activate_return_backward;

/* Every operation: X(name, args type, optional). The backend tables, the
 * checked entry points phx_op_NAME and the descriptor list follow from this
 * one list. */
#define PHX_OPS(X)                                         \
  X(map_forward, phx_args_map_forward, 0)                  \
  X(map_backward, phx_args_map_backward, 0)                \
  X(gather_input, phx_args_gather_input, 0)                \
  X(gemm, phx_args_gemm, 0)                                \
  X(activate, phx_args_activate, 0)                        \
  X(activate_backward, phx_args_activate_backward, 0)      \
  X(loss, phx_args_loss, 0)                                \
  X(opt_step, phx_args_opt_step, 0)                        \
  X(step_map, phx_args_step_map, 1)                        \
  X(crossbar_power, phx_args_crossbar_power, 0)            \
  X(map_vary, phx_args_map_vary, 0)                        \
  X(activate_table, phx_args_activate_table, 0)            \
  X(activate_table_backward, phx_args_activate_table_backward, 0) \
  X(row_load, phx_args_row_load, 0)                        \
  X(layer_forward, phx_args_layer_forward, 1)                \
  X(neuron_offset, phx_args_neuron_offset, 0)              \
  X(activate_return, phx_args_activate_return, 0)          \
  X(activate_return_backward, phx_args_activate_return_backward, 0)

typedef enum {
#define PHX_OP_ENUM(name, type, opt) PHX_OP_##name,
  PHX_OPS(PHX_OP_ENUM)
#undef PHX_OP_ENUM
  PHX_OP_COUNT
} phx_op_id;

typedef struct phx_bops phx_bops;

/* A backend instance: its table, its private state, its description. */
struct phx_backend {
  const phx_bops *ops;
  void *impl;
  char name[16];
  char device[256];
  int verbose;
  /* net.c trains with the optional fused ops (layer_forward) only when set:
   * where each launch costs more than a fused kernel's different rounding
   * is worth (the results stay within the ops' tolerances either way) */
  int fuse;
};

/* What a backend implements. Operations receive arguments already
 * validated by ops.c (shapes, types, presence); they may run
 * asynchronously; read() and finish() synchronise. A non-zero return is a
 * phx_status with err filled. Call them only through phx_op_* and
 * phx_buf_*: those are the checked entry points. */
struct phx_bops {
  const char *name;
  void (*destroy)(void *impl);
  /* Constants are set once per net (OpenCL compiles its programs here). */
  int (*prepare)(void *impl, const phx_consts *k, phx_err *err);
  /* Zero-filled buffer of n elements (type and n set by the backend). */
  phx_buf *(*alloc)(void *impl, phx_btype t, size_t n, phx_err *err);
  void (*release)(void *impl, phx_buf *b);
  /* Copy n elements between host (of type h) and buffer at element offset. */
  int (*write)(void *impl, phx_buf *b, size_t off, size_t n, const void *src,
               phx_htype h, phx_err *err);
  int (*read)(void *impl, const phx_buf *b, size_t off, size_t n, void *dst,
              phx_htype h, phx_err *err);
  /* Wait for all queued work. */
  int (*finish)(void *impl, phx_err *err);
#define PHX_OP_FIELD(name, type, opt) \
  int (*name)(void *impl, const type *a, phx_err *err);
  PHX_OPS(PHX_OP_FIELD)
#undef PHX_OP_FIELD
};

/* ---- checked entry points (ops.c) ------------------------------------------
 * The only way the library, check, the bench and the tests run an
 * operation: arguments are validated here once for every backend
 * (PHX_EINVAL for a missing buffer, wrong element type or bad scalar,
 * PHX_ESHAPE for a buffer too short), then the backend runs. */
#define PHX_OP_DECL(name, type, opt) \
  phx_status phx_op_##name(phx_backend *b, const type *a, phx_err *err);
PHX_OPS(PHX_OP_DECL)
#undef PHX_OP_DECL
/* Whether backend b implements operation id (optional ones may be NULL). */
int phx_op_supported(const phx_backend *b, phx_op_id id);
/* Runs operation id with its argument struct (the typed entry points call
 * this). */
phx_status phx_op_run(phx_backend *b, phx_op_id id, const void *args, phx_err *err);

/* Buffers and synchronisation, checked the same way. */
phx_status phx_backend_prepare(phx_backend *b, const phx_consts *k, phx_err *err);
phx_buf *phx_buf_alloc(phx_backend *b, phx_btype t, size_t n, phx_err *err);
void phx_buf_release(phx_backend *b, phx_buf *buf);
phx_status phx_buf_write(phx_backend *b, phx_buf *buf, size_t off, size_t n,
                         const void *src, phx_htype h, phx_err *err);
phx_status phx_buf_read(phx_backend *b, const phx_buf *buf, size_t off, size_t n,
                        void *dst, phx_htype h, phx_err *err);
phx_status phx_backend_finish(phx_backend *b, phx_err *err);

/* Sets err (if not NULL) to status s with a printf-style message; returns s. */
phx_status phx_fail(phx_err *err, phx_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Constants of a model's options. */
void phx_consts_from_opts(phx_consts *k, const phx_model_opts *o);

/* phx_backend_opts resolved against the environment (backend.c, the one
 * place that reads it): what a backend constructor works from. */
typedef struct phx_backend_conf {
  char device[256];          /* "" = the best device */
  const char *device_from;   /* "--device" or "PHAXCL_DEVICE", for messages */
  int verbose;
  char cache_dir[1024];      /* "" = no program cache */
  char kernel_dir[1024];     /* "" = the embedded kernels */
  int gemm;                  /* -1 chosen per device, 0 CLBlast, 1 own kernels */
  char clblast_params[1024]; /* "" = stored tuning, "0" = none, else a file */
} phx_backend_conf;

phx_status phx_backend_conf_resolve(const phx_backend_opts *o, phx_backend_conf *c,
                                    phx_err *err);

/* Backend constructors (backend_cpu.c, backend_opencl.c). */
phx_status phx_backend_cpu_new(int f64, phx_backend **out, phx_err *err);
/* gpu_only: with no device named, accept only a GPU or accelerator and
 * return PHX_ENODEV otherwise; this is how "auto" decides between OpenCL
 * and the C path. */
phx_status phx_backend_opencl_new(const phx_backend_conf *c, int gpu_only,
                                  phx_backend **out, phx_err *err);

#endif /* PHX_BACKEND_H */
