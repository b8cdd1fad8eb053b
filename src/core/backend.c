/* Backend selection by name ("auto", "c", "c64", "opencl"), the accessors
 * every backend shares, and the model constants the operations need. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "phx_config.h"

/* Resolves a backend name to an instance. "auto" takes an OpenCL GPU or
 * accelerator when one exists and falls back to the C path otherwise; a
 * device the user named explicitly must work, or the error is returned. */
phx_status phx_backend_new(const char *name, const char *device, int verbose,
                           phx_backend **out, phx_err *err) {
  phx_status s;
  if (!out) return phx_fail(err, PHX_EINVAL, "phx_backend_new: out is NULL");
  *out = NULL;
  if (!name || !*name) name = "auto";
  if (strcmp(name, "c") == 0 || strcmp(name, "c64") == 0) {
    s = phx_backend_cpu_new(name[1] == '6', out, err);
  } else if (strcmp(name, "opencl") == 0) {
#if PHX_HAVE_OPENCL
    s = phx_backend_opencl_new(device, verbose, 0, out, err);
#else
    (void)device;
    s = phx_fail(err, PHX_ENOBACKEND, "backend 'opencl': this build has no OpenCL support");
#endif
  } else if (strcmp(name, "auto") == 0) {
#if PHX_HAVE_OPENCL
    const char *env = getenv("PHAXCL_DEVICE");
    int named = (device && *device) || (env && *env);
    s = phx_backend_opencl_new(device, verbose, 1, out, err);
    /* No runtime, no platform or no GPU: the C path. A failure of a device
     * that exists (kernel build, memory) is reported, not hidden. */
    if ((s == PHX_ENODEV || s == PHX_ENOBACKEND) && !named) {
      if (verbose > 0) fprintf(stderr, "phaxcl: no OpenCL GPU (%s); using the C path\n",
                               err ? err->msg : phx_strerror(s));
      s = phx_backend_cpu_new(0, out, err);
    }
#else
    s = phx_backend_cpu_new(0, out, err);
#endif
  } else {
    return phx_fail(err, PHX_EINVAL, "unknown backend '%s' (expected auto, c, c64, opencl)",
                    name);
  }
  if (s == PHX_OK && *out) (*out)->verbose = verbose;
  if (s == PHX_OK && err) {
    err->status = PHX_OK;
    err->msg[0] = '\0';
  }
  return s;
}

/* Destroys the backend's private state, then the handle itself (each
 * constructor allocates the handle with malloc/calloc). */
void phx_backend_free(phx_backend *b) {
  if (!b) return;
  if (b->ops && b->ops->destroy) b->ops->destroy(b->impl);
  free(b);
}

const char *phx_backend_name(const phx_backend *b) { return b ? b->name : ""; }

const char *phx_backend_device(const phx_backend *b) { return b ? b->device : ""; }

/* The operation constants of a model: k = gmax/gmin - 1. */
void phx_consts_from_opts(phx_consts *k, const phx_model_opts *o) {
  memset(k, 0, sizeof *k);
  k->vdd = o->vdd;
  k->gmin = o->gmin;
  k->k = o->ratio - 1;
  memcpy(k->c, o->c, sizeof k->c);
  memcpy(k->d, o->d, sizeof k->d);
  k->loss = o->loss;
}
