/* A network resident on a backend: parameters, optimizer state, activations
 * and bound datasets live in backend buffers; the host sees only what it
 * reads back. train.c, eval/grad and check drive training through this. */
#ifndef PHX_NET_H
#define PHX_NET_H

#include "backend.h"
#include "curve.h"

enum { PHX_SLOT_TRAIN = 0, PHX_SLOT_TEST = 1, PHX_SLOTS = 2 };

typedef struct phx_net phx_net;

/* Buffers for a model of options o and batches of up to max_batch samples.
 * Calls b->ops->prepare with the model constants. */
phx_status phx_net_new(phx_backend *b, const phx_model_opts *o, int max_batch,
                       phx_net **out, phx_err *err);
void phx_net_free(phx_net *n);

/* Parameters to/from host (float checkpoint precision, or double). */
phx_status phx_net_set_theta(phx_net *n, const phx_model *m, phx_err *err);
phx_status phx_net_get_theta(phx_net *n, phx_model *m, phx_err *err);
phx_status phx_net_set_theta64(phx_net *n, int l, const double *theta, phx_err *err);
phx_status phx_net_get_grad64(phx_net *n, int l, double *grad, phx_err *err);
/* Replaces layer l's dtheta (a gradient combined elsewhere, for
 * phx_net_step). */
phx_status phx_net_set_grad64(phx_net *n, int l, const double *grad, phx_err *err);
/* Gradient into a model-shaped holder (float). */
phx_status phx_net_get_grad(phx_net *n, phx_model *g, phx_err *err);

/* Uploads a dataset's first `count` samples (0 = all) into a slot, with the
 * identity order. Done once; batches are gathered on the backend. */
phx_status phx_net_bind(phx_net *n, int slot, const phx_dataset *d, int count,
                        phx_err *err);
/* Replaces a slot's sample order (a permutation of its count). */
phx_status phx_net_set_order(phx_net *n, int slot, const int32_t *order,
                             phx_err *err);

/* One batch of B samples at order[ioff .. ioff+B) of a slot: forward pass
 * and loss; per-sample loss and prediction land at position ioff of the
 * slot's metric buffers. When want_grad, the backward pass runs with
 * dL/do scaled by `scale` and accumulates into the per-layer dW (dE for the
 * input layer): overwritten when accumulate == 0, added otherwise. */
phx_status phx_net_batch(phx_net *n, int slot, size_t ioff, int B, double scale,
                         int want_grad, int accumulate, phx_err *err);
/* dW -> dtheta for every layer (after one or more phx_net_batch). */
phx_status phx_net_grad_finish(phx_net *n, phx_err *err);
/* One optimizer step on every layer from the current dtheta. */
phx_status phx_net_step(phx_net *n, const phx_optim *o, phx_err *err);
/* phx_net_grad_finish then phx_net_step, fused into one pass over the
 * parameters when the backend has step_map (same results up to rounding);
 * leaves dtheta holding the gradient, as the two calls do. */
phx_status phx_net_grad_step(phx_net *n, const phx_optim *o, phx_err *err);
/* Zeroes optimizer state (m, v). */
phx_status phx_net_reset_state(phx_net *n, phx_err *err);

/* Reads the first `count` per-sample metrics of a slot (positions in the
 * slot's order): sum of losses (double), number correct, and optionally
 * the predictions and the true labels in that order (may be NULL). */
phx_status phx_net_metrics(phx_net *n, int slot, int count, double *loss_sum,
                           long *correct, int32_t *pred, int32_t *truth,
                           phx_err *err);

/* Maps theta to the W, S, E of a chip drawn with variation v (draw `draw`
 * of `seed`, the same on every backend); the next phx_net_batch runs on
 * them. Any change of theta (set_theta, a step) maps the ideal chip again. */
/* The chip's neuron offsets (V), all layers' neurons in order (as
 * phx_model_set_offsets), or NULL for none: every forward pass after this
 * feeds neuron j of layer l z - delta (phx_net_set_theta takes the
 * model's); a map_vary with offset_sigma > 0 replaces them for its draw. */
phx_status phx_net_set_offsets(phx_net *n, const double *delta, phx_err *err);
/* Chips per pass of phx_net_draws_correct. */
#define PHX_MC_PASS 32
/* Correct classes of P chips drawn from v and seed (draws first ..
 * first+P-1, the chips phx_net_map_vary draws) over the test slot's first
 * count samples, in one pass per batch over all P of them: correct[d]
 * for draw first + d. Not for load-aware nets (their row loads differ by
 * chip). The net's own map is not changed. */
phx_status phx_net_draws_correct(phx_net *n, const phx_variation *v, uint64_t seed, int first,
                                 int P, int count, long *correct, phx_err *err);
phx_status phx_net_map_vary(phx_net *n, const phx_variation *v, uint64_t seed, int draw,
                            phx_err *err);

/* Layer l's current W (M x R) and S (M) in double, allocated (caller
 * frees): the map of the last set_theta, step or map_vary. */
phx_status phx_net_get_map64(phx_net *n, int l, double **W, double **S, phx_err *err);

/* Static power (W) each layer's crossbar dissipates for the B samples of
 * the last phx_net_batch (its activations must still be current): adds
 * the per-sample sum over layers into watts[0..B) and each layer's sum
 * over the B samples into per_layer[l] (may be NULL). */
phx_status phx_net_power(phx_net *n, int B, double *watts, double *per_layer, phx_err *err);

/* The network outputs (last layer's o-, B x M, in sample order) of the
 * last phx_net_batch of B samples. */
phx_status phx_net_outputs(phx_net *n, int B, double *out, phx_err *err);

int phx_net_max_batch(const phx_net *n);

/* The model's neuron table, or NULL when it uses the tanh fits (model.c). */
const phx_curve *phx_model_curve(const phx_model *m);
/* Gives `to` the neuron table of `from` as it is (slopes included), or
 * none when `from` has none (model.c). */
phx_status phx_model_copy_table(const phx_model *from, phx_model *to, phx_err *err);
/* Makes the net's neurons the table c (NULL: the tanh fits of its
 * options); phx_net_set_theta does this from the model. With the options'
 * load_aware, hidden neurons are loaded by the next layer's rows. */
phx_status phx_net_set_curve(phx_net *n, const phx_curve *c, phx_err *err);
phx_backend *phx_net_backend(phx_net *n);

/* ---- issue 9: memory check, checkpoint state (additive section) ---------- */

/* PHX_ENOMEM naming what and its size when `bytes` exceed the machine's
 * physical memory (model.c). */
phx_status phx_check_fits(double bytes, const char *what, phx_err *err);

/* Exact parameters of layer l as doubles (theta64 for checkpoints). */
phx_status phx_net_get_theta64(phx_net *n, int l, double *theta, phx_err *err);
/* Optimizer moments m, v of layer l (M x R each) to/from doubles; either
 * pointer may be NULL to skip it. */
phx_status phx_net_get_state64(phx_net *n, int l, double *m, double *v, phx_err *err);
phx_status phx_net_set_state64(phx_net *n, int l, const double *m, const double *v,
                               phx_err *err);
/* Per-sample losses and predictions of a slot's first count positions,
 * read or restored (a partial epoch's metrics in a checkpoint). */
phx_status phx_net_get_metrics_raw(phx_net *n, int slot, int count, double *loss,
                                   int32_t *pred, phx_err *err);
phx_status phx_net_set_metrics_raw(phx_net *n, int slot, int count, const double *loss,
                                   const int32_t *pred, phx_err *err);

/* The training order of epoch `epoch` (1-based): a permutation of 0..n-1
 * that depends on (seed, epoch) only (train.c). */
void phx_epoch_order(uint64_t seed, int epoch, int32_t *order, int n);

#endif /* PHX_NET_H */
