/* The dataset record shared by the readers in src/io (IDX, CSV, NumPy) and
 * its allocation; the public accessors are in dataset.c. */
#ifndef PHX_DATASET_H
#define PHX_DATASET_H

#include "backend.h"

struct phx_dataset {
  int count, dim, classes;
  int targets;     /* regression targets per sample; 0 for class labels */
  float *x;        /* count x dim */
  int32_t *labels; /* count (all 0 for regression) */
  float *y;        /* count x targets, NULL for class labels */
};

/* An uninitialised dataset of the given shape (labels zeroed, y allocated
 * when targets > 0). */
phx_status phx_dataset_alloc(int count, int dim, int classes, int targets,
                             phx_dataset **out, phx_err *err);

#endif /* PHX_DATASET_H */
