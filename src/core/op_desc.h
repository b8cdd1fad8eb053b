/* Operation descriptors: one per operation of backend.h, in op_table.c.
 * A descriptor names the op's buffers (their place in its argument struct,
 * element type, direction, random input range, tolerance), computes the
 * element count each buffer must hold (the contract ops.c enforces), and
 * carries the op's test cases and its float64 reference. `phaxcl check`,
 * the op tests and the bench all run from these (op_case.c), the way
 * ggml's test-backend-ops runs from its test cases. */
#ifndef PHX_OP_DESC_H
#define PHX_OP_DESC_H

#include <stddef.h>

#include "backend.h"
#include "rng.h"

#define PHX_OP_MAXBUF 12
#define PHX_OP_MAXCASES 24

/* Buffer directions; an in/out buffer is both. */
enum { PHX_OB_IN = 1, PHX_OB_OUT = 2 };

typedef struct phx_op_bufdesc {
  const char *name;
  size_t off;     /* offsetof of its phx_buf pointer in the argument struct */
  phx_btype type;
  unsigned io;    /* PHX_OB_IN | PHX_OB_OUT */
  double lo, hi;  /* random contents U(lo, hi) before the op runs */
  double tol;     /* NMSE limit of an output in `phaxcl check` (I32: exact) */
} phx_op_bufdesc;

/* Problem size a case is made for: inputs, neurons (R = 2N+2), batch. */
typedef struct phx_op_sizes {
  int N, M, B;
} phx_op_sizes;

/* One test case of an op: its argument struct (scalars; buffer pointers are
 * set when it runs), the constants and optimizer it runs with, a label. */
typedef struct phx_op_case {
  char label[48];
  phx_consts k;
  phx_optim optim;
  union {
    max_align_t align_;
    unsigned char bytes[256];
  } args;
} phx_op_case;

typedef struct phx_op_desc {
  const char *name;
  phx_op_id id;
  size_t args_size;
  int nbuf;
  phx_op_bufdesc buf[PHX_OP_MAXBUF];
  /* Contract: checks the scalars of args (PHX_EINVAL with a message) and
   * sets need[i], the elements buffer i must hold; 0 when this call does
   * not use buffer i (it may then be NULL). */
  int (*shape)(const void *args, size_t *need, phx_err *err);
  /* Test cases: case i for sizes sz (c->k holds the default constants on
   * entry); i runs over [0, ncases). */
  int ncases;
  void (*make)(int i, const phx_op_sizes *sz, phx_op_case *c);
  /* Optional: inputs that depend on others or are indices, written into
   * the host copies h[] after the random fill. */
  void (*fill)(const phx_op_case *c, double **h, phx_rng *rng);
  /* The float64 reference: reads inputs from h[] and writes outputs there. */
  void (*ref)(const phx_op_case *c, double **h);
  /* gemm compares element by element as well (CLBlast's test rule). */
  int gemm_rule;
} phx_op_desc;

/* Every descriptor, indexed by phx_op_id. */
extern const phx_op_desc *const phx_op_descs[PHX_OP_COUNT];

/* The buffer pointer of slot i in an argument struct. */
const phx_buf *phx_op_getbuf(const phx_op_desc *d, const void *args, int i);
void phx_op_setbuf(const phx_op_desc *d, void *args, int i, const phx_buf *b);

/* A case made ready to run: host inputs in double, the same for every
 * backend, and what each buffer needs. */
typedef struct phx_op_inst {
  const phx_op_desc *d;
  phx_op_case c;
  size_t need[PHX_OP_MAXBUF];
  double *h[PHX_OP_MAXBUF];
} phx_op_inst;

/* Makes case i of d for sizes sz with inputs drawn from seed. */
phx_status phx_op_inst_init(phx_op_inst *t, const phx_op_desc *d, int i,
                            const phx_op_sizes *sz, uint64_t seed, phx_err *err);
void phx_op_inst_free(phx_op_inst *t);

/* Runs the case on backend b: prepares b with the case's constants,
 * uploads the inputs, runs the op through its checked entry point, and
 * reads every buffer back into out[i] (allocated, n = need[i]; NULL for
 * unused slots). With short_slot >= 0 that buffer is allocated one element
 * short and nothing is read: the op's status is returned. reps > 1 runs
 * the op that many times and stores the mean seconds per run in *secs. */
phx_status phx_op_inst_exec(const phx_op_inst *t, phx_backend *b, int short_slot, int reps,
                            double **out, double *secs, phx_err *err);
/* The float64 reference of the case into out[] (allocated as above). */
phx_status phx_op_inst_ref(const phx_op_inst *t, double **out, phx_err *err);
void phx_op_outs_free(double **out);

#endif /* PHX_OP_DESC_H */
