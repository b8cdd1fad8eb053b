/* The safetensors reader and writer behind phx_model_load/save, with room
 * for extra tensors and metadata: checkpoints (checkpoint.c) are model
 * files plus tensors named "train.*" and metadata keys "train.*". Readers
 * that want only the model validate the extras and skip them. */
#ifndef PHX_SAFETENSORS_H
#define PHX_SAFETENSORS_H

#include <cjson/cJSON.h>

#include "backend.h"

#define PHX_ST_EXTRA_PREFIX "train."
#define PHX_ST_MAX_EXTRA 64

typedef enum { PHX_ST_F64 = 0, PHX_ST_I32 = 1 } phx_st_dtype;

/* One extra 1-D tensor. On load, data is allocated (free it). */
typedef struct phx_st_tensor {
  char name[48];       /* starts with PHX_ST_EXTRA_PREFIX */
  phx_st_dtype dtype;
  size_t count;
  void *data;
} phx_st_tensor;

/* Saves m plus nx extra tensors and nmeta extra metadata pairs
 * (meta[2i] key, meta[2i+1] value; keys start with PHX_ST_EXTRA_PREFIX),
 * atomically. Non-finite values are refused (PHX_ENAN), nothing written. */
phx_status phx_st_save(const phx_model *m, const char *path, const phx_st_tensor *x,
                       int nx, const char *const *meta, int nmeta, phx_err *err);

/* Loads and validates a whole file. When x is not NULL it receives the extra
 * tensors (free each data, then the array) and *nx their count; when meta
 * is not NULL it receives the "__metadata__" object (cJSON_Delete it). */
phx_status phx_st_load(const char *path, phx_model **out, phx_st_tensor **x, int *nx,
                       cJSON **meta, phx_err *err);

#endif /* PHX_SAFETENSORS_H */
