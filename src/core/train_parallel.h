/* Data-parallel gradients for train.c (phx_train_parallel in phaxcl.h):
 * a batch as fixed blocks, each rank the gradients of its share, summed in
 * double over one binary tree that does not depend on who computed what. */
#ifndef PHX_TRAIN_PARALLEL_H
#define PHX_TRAIN_PARALLEL_H

#include <signal.h>

#include "net.h"

typedef struct phx_dp phx_dp;

/* For a net of model options o whose train slot holds n samples, trained
 * in batches of `batch` (n for full-batch L-BFGS). stop (may be NULL) is
 * this rank's stop request, sent along with every gradient. */
phx_status phx_dp_new(const phx_train_parallel *par, const phx_model_opts *o, int n, int batch,
                      const volatile sig_atomic_t *stop, phx_dp **out, phx_err *err);
void phx_dp_free(phx_dp *dp);
/* The gradient of positions [off, off + B) of the train slot with dL/do
 * scaled by scale, combined over the ranks, into the net's dtheta and, when
 * g is not NULL, g (every layer's, concatenated). */
phx_status phx_dp_gradient(phx_dp *dp, phx_net *net, int off, int B, double scale, double *g,
                           phx_err *err);
/* Every rank's per-sample losses and predictions of the positions it
 * computed into every rank's train slot, so phx_net_metrics sees them all. */
phx_status phx_dp_metrics(phx_dp *dp, phx_net *net, phx_err *err);
/* Whether any rank had a stop request when the last gradient was gathered:
 * the same answer on every rank, so all stop at the same step. */
int phx_dp_stopped(const phx_dp *dp);
/* This rank's number (rank 0 writes the files). */
int phx_dp_rank(const phx_dp *dp);
/* Every rank's status s: PHX_OK when all are, else s here, or on a rank
 * that succeeded the failing rank's status with a message naming it (so
 * that no rank goes on after another one failed, e.g. to save a file). */
phx_status phx_dp_agree(phx_dp *dp, phx_status s, phx_err *err);

#endif /* PHX_TRAIN_PARALLEL_H */
