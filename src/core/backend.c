/* Backend selection by name ("auto", "c", "c64", "opencl"), the accessors
 * every backend shares, and the model constants the operations need. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "phx_config.h"

void phx_check_opts_default(phx_check_opts *o) {
  memset(o, 0, sizeof *o);
  o->small = -1;
  o->seed = 1;
}

void phx_backend_opts_default(phx_backend_opts *o) {
  memset(o, 0, sizeof *o);
  o->use_env = 1;
  o->cache = -1;
}

/* A setting: the option when given, else the environment variable when
 * allowed, else NULL. */
static const char *setting(const phx_backend_opts *o, const char *value, const char *env) {
  if (value) return value;
  if (!o->use_env) return NULL;
  const char *e = getenv(env);
  return e && *e ? e : NULL;
}

/* Copies s into a fixed field, refusing what does not fit. */
static phx_status put(char *dst, size_t size, const char *s, const char *what, phx_err *err) {
  if (!s) s = "";
  if (strlen(s) >= size)
    return phx_fail(err, PHX_EINVAL, "%s: value longer than %zu characters", what, size - 1);
  memcpy(dst, s, strlen(s) + 1);
  return PHX_OK;
}

phx_status phx_backend_conf_resolve(const phx_backend_opts *o, phx_backend_conf *c,
                                    phx_err *err) {
  phx_backend_opts def;
  if (!o) {
    phx_backend_opts_default(&def);
    o = &def;
  }
  memset(c, 0, sizeof *c);
  c->verbose = o->verbose;
  const char *dev = setting(o, o->device && *o->device ? o->device : NULL, "PHAXCL_DEVICE");
  c->device_from = o->device && *o->device ? "--device" : "PHAXCL_DEVICE";
  phx_status s = put(c->device, sizeof c->device, dev, c->device_from, err);
  if (s) return s;
  if ((s = put(c->kernel_dir, sizeof c->kernel_dir,
               setting(o, o->kernel_dir, "PHAXCL_KERNEL_DIR"), "PHAXCL_KERNEL_DIR", err)) ||
      (s = put(c->clblast_params, sizeof c->clblast_params,
               setting(o, o->clblast_params, "PHAXCL_CLBLAST_PARAMS"), "PHAXCL_CLBLAST_PARAMS",
               err)))
    return s;
  const char *gemm = setting(o, o->gemm, "PHAXCL_GEMM");
  c->gemm = -1;
  if (gemm && strcmp(gemm, "own") == 0) c->gemm = 1;
  else if (gemm && strcmp(gemm, "clblast") == 0) c->gemm = 0;
  else if (gemm && strcmp(gemm, "auto") != 0)
    return phx_fail(err, PHX_EINVAL, "%s '%s' (expected own, clblast or auto)",
                    o->gemm ? "gemm" : "PHAXCL_GEMM", gemm);
  /* the program cache: off, or a folder */
  int cache = o->cache;
  if (cache < 0) {
    const char *e = o->use_env ? getenv("PHAXCL_CACHE") : NULL;
    cache = !(e && strcmp(e, "0") == 0);
  }
  if (!cache) return PHX_OK;
  const char *dir = setting(o, o->cache_dir, "PHAXCL_CACHE_DIR");
  if (dir) return put(c->cache_dir, sizeof c->cache_dir, dir, "PHAXCL_CACHE_DIR", err);
  const char *xdg = o->use_env ? getenv("XDG_CACHE_HOME") : NULL;
  const char *home = o->use_env ? getenv("HOME") : NULL;
  int w = 0;
  if (xdg && *xdg) w = snprintf(c->cache_dir, sizeof c->cache_dir, "%s/phaxcl", xdg);
  else if (home && *home) w = snprintf(c->cache_dir, sizeof c->cache_dir, "%s/.cache/phaxcl", home);
  if (w < 0 || (size_t)w >= sizeof c->cache_dir) c->cache_dir[0] = 0; /* no place: off */
  return PHX_OK;
}

/* Resolves a backend name to an instance. "auto" takes an OpenCL GPU or
 * accelerator when one exists and falls back to the C path otherwise; a
 * device the user named explicitly must work, or the error is returned. */
phx_status phx_backend_new_opts(const char *name, const phx_backend_opts *o,
                                phx_backend **out, phx_err *err) {
  phx_status s;
  if (!out) return phx_fail(err, PHX_EINVAL, "phx_backend_new: out is NULL");
  *out = NULL;
  phx_backend_conf c;
  if ((s = phx_backend_conf_resolve(o, &c, err))) return s;
  if (!name || !*name) name = "auto";
  if (strcmp(name, "c") == 0 || strcmp(name, "c64") == 0) {
    s = phx_backend_cpu_new(name[1] == '6', out, err);
  } else if (strcmp(name, "opencl") == 0) {
#if PHX_HAVE_OPENCL
    s = phx_backend_opencl_new(&c, 0, out, err);
#else
    s = phx_fail(err, PHX_ENOBACKEND, "backend 'opencl': this build has no OpenCL support");
#endif
  } else if (strcmp(name, "auto") == 0) {
#if PHX_HAVE_OPENCL
    s = phx_backend_opencl_new(&c, 1, out, err);
    /* No runtime, no platform or no GPU: the C path. A failure of a device
     * that exists (kernel build, memory) is reported, not hidden. */
    if ((s == PHX_ENODEV || s == PHX_ENOBACKEND) && !c.device[0]) {
      if (c.verbose > 0) fprintf(stderr, "phaxcl: no OpenCL GPU (%s); using the C path\n",
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
  if (s == PHX_OK && *out) (*out)->verbose = c.verbose;
  if (s == PHX_OK && err) {
    err->status = PHX_OK;
    err->msg[0] = '\0';
  }
  return s;
}

phx_status phx_backend_new(const char *name, const char *device, int verbose,
                           phx_backend **out, phx_err *err) {
  phx_backend_opts o;
  phx_backend_opts_default(&o);
  o.device = device;
  o.verbose = verbose;
  return phx_backend_new_opts(name, &o, out, err);
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
