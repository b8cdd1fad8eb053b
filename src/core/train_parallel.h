/* Data-parallel gradients for train.c (phx_train_parallel in phaxcl.h):
 * a batch as fixed blocks, each rank the gradients of its share, summed in
 * double over one binary tree that does not depend on who computed what. */
#ifndef PHX_TRAIN_PARALLEL_H
#define PHX_TRAIN_PARALLEL_H

#include "net.h"

typedef struct phx_dp phx_dp;

/* For a net of model options o whose train slot holds n samples, trained
 * in batches of `batch` (n for full-batch L-BFGS). */
phx_status phx_dp_new(const phx_train_parallel *par, const phx_model_opts *o, int n, int batch,
                      phx_dp **out, phx_err *err);
void phx_dp_free(phx_dp *dp);
/* The gradient of positions [off, off + B) of the train slot with dL/do
 * scaled by scale, combined over the ranks, into the net's dtheta and, when
 * g is not NULL, g (every layer's, concatenated). */
phx_status phx_dp_gradient(phx_dp *dp, phx_net *net, int off, int B, double scale, double *g,
                           phx_err *err);
/* Every rank's per-sample losses and predictions of the positions it
 * computed into every rank's train slot, so phx_net_metrics sees them all. */
phx_status phx_dp_metrics(phx_dp *dp, phx_net *net, phx_err *err);

#endif /* PHX_TRAIN_PARALLEL_H */
