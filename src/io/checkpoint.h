/* Training checkpoints: a model file (safetensors.h) plus what continuing
 * bit for bit needs: exact parameters and optimizer moments as the backend
 * holds them (F64, exact for float and double backends), the position
 * (epochs done, samples of the next epoch done, optimizer steps), the
 * per-sample metrics of a partial epoch, the training options and a hash
 * of the training data. The shuffle of epoch e is a function of (seed, e),
 * so the position is all the random state there is. */
#ifndef PHX_CHECKPOINT_H
#define PHX_CHECKPOINT_H

#include "backend.h"

#define PHX_CKPT_VERSION "1"

typedef struct phx_ckpt {
  phx_train_opts opts;    /* scalar options; the pointer fields are unused */
  int epoch;              /* epochs (L-BFGS iterations) completed */
  int offset;             /* samples of epoch + 1 done (0 at an epoch's end) */
  long long step;         /* optimizer steps taken (Adam's t) */
  int samples;            /* training samples used */
  uint64_t data_hash;     /* phx_ckpt_data_hash of those samples */
  int nlayers;
  size_t count[PHX_MAX_LAYERS];         /* parameters of each layer */
  double *theta[PHX_MAX_LAYERS];        /* exact parameters */
  double *m[PHX_MAX_LAYERS], *v[PHX_MAX_LAYERS]; /* moments; NULL when unused */
  double *loss;           /* offset per-sample losses of the partial epoch */
  int32_t *pred;          /* and predictions; NULL when offset == 0 */
} phx_ckpt;

/* Writes model m (its F32 theta, for readers that want a model) with c,
 * atomically. */
phx_status phx_ckpt_save(const char *path, const phx_model *m, const phx_ckpt *c,
                         phx_err *err);
/* Reads a checkpoint: *m its model, c everything else (phx_ckpt_free).
 * A plain model file is refused: it has no training state. */
phx_status phx_ckpt_load(const char *path, phx_model **m, phx_ckpt *c, phx_err *err);
void phx_ckpt_free(phx_ckpt *c);

/* FNV-1a over the first n samples' features and labels. */
uint64_t phx_ckpt_data_hash(const phx_dataset *d, int n);

#endif /* PHX_CHECKPOINT_H */
