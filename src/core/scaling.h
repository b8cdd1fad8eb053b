/* A model's data scaling (docs/model.md, "Regression and tabular data"):
 * per-feature ranges that map onto the input range [0, 1], and for a
 * regression model per-target ranges that map onto the output voltages
 * [v_lo, v_hi]. Kept in the model (model.c), fitted and applied in
 * scaling.c, stored as metadata by safetensors.c. */
#ifndef PHX_SCALING_H
#define PHX_SCALING_H

#include "backend.h"

typedef struct phx_scaling {
  int features;              /* 0: inputs used as given; else sizes[0] */
  const double *x_lo, *x_hi; /* features values each */
  int targets;               /* 0: classifier; else the output count */
  const double *y_lo, *y_hi; /* targets values each */
  double v_lo, v_hi;         /* output voltages of y_lo and y_hi */
  phx_data_spec data;        /* the table it was fitted on (target NULL: none) */
} phx_scaling;

/* The model's scaling (pointers into the model, valid until it changes). */
void phx_model_get_scaling(const phx_model *m, phx_scaling *sc);
/* Copies sc (and the strings of sc->data) into the model; its counts must
 * be 0 or match the sizes. */
phx_status phx_model_set_scaling(phx_model *m, const phx_scaling *sc, phx_err *err);

#endif /* PHX_SCALING_H */
