/* The training probe (issue 13): how fast a device trains, measured rather
 * than guessed from its type or compute units. A short run of the paper
 * task's training step (196-100-10, batch 32, Adam) on random data, timed
 * after a warm-up and calibrated to about PROBE_SECONDS; the figure
 * (samples/s) is kept in the program cache folder under a key of platform,
 * device, device and driver version and the probe's own version, so that it
 * runs once per device and driver. */
#include "cl_probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl_cache.h"
#include "file.h"
#include "net.h"
#include "rng.h"

/* Bump when the probe's work changes: old figures are then not reused. */
#define PROBE_VERSION "1"
#define PROBE_SECONDS 0.2
#define PROBE_BATCH 32
#define PROBE_SAMPLES 256

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The cache file of device d, or 0 when the cache is off. */
static int probe_path(const phx_cl_dev *d, const char *cache_dir, char *path, size_t size) {
  const char *fields[] = {"probe " PROBE_VERSION, d->pname, d->pversion, d->dname,
                          d->dversion, d->driver};
  return phx_cl_cache_file(cache_dir, "probe-", fields, 6, path, size);
}

/* A cached figure, or 0 when there is none or it does not parse. */
static double probe_load(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  double v = 0;
  char tail;
  if (fscanf(f, "phaxcl-probe " PROBE_VERSION " %lf %c", &v, &tail) != 1 || !(v > 0)) v = 0;
  fclose(f);
  return v;
}

static int probe_write(FILE *f, const void *ctx) {
  return fprintf(f, "phaxcl-probe " PROBE_VERSION " %.17g\n", *(const double *)ctx) < 0;
}

/* Training steps on backend b until PROBE_SECONDS have passed: samples/s. */
static phx_status probe_run(phx_backend *b, double *sps, phx_err *err) {
  phx_model_opts o;
  phx_model_opts_default(&o);
  o.nlayers = 2;
  o.sizes[0] = 196;
  o.sizes[1] = 100;
  o.sizes[2] = 10;
  const int B = PROBE_BATCH, count = PROBE_SAMPLES;
  float *x = malloc((size_t)count * 196 * sizeof *x);
  int32_t *lab = malloc((size_t)count * sizeof *lab);
  phx_model *m = NULL;
  phx_dataset *d = NULL;
  phx_net *n = NULL;
  phx_status s = (!x || !lab) ? phx_fail(err, PHX_ENOMEM, "probe: out of memory") : PHX_OK;
  phx_rng rng;
  phx_rng_seed(&rng, 1);
  for (int i = 0; !s && i < count * 196; i++) x[i] = (float)phx_rng_uniform(&rng);
  for (int i = 0; !s && i < count; i++) lab[i] = i % 10;
  if (!s) s = phx_dataset_new(count, 196, 10, x, lab, &d, err);
  if (!s) s = phx_model_new(&o, &m, err);
  if (!s) phx_model_init(m, 1);
  if (!s) s = phx_net_new(b, &o, B, &n, err);
  if (!s) s = phx_net_set_theta(n, m, err);
  if (!s) s = phx_net_bind(n, PHX_SLOT_TRAIN, d, count, err);
  phx_optim adam = {PHX_OPT_ADAM, 0.001, 0.9, 0.9, 0.999, 1e-8, 0};
  /* two warm-up steps (first launches compile on some runtimes), one timed
   * step to calibrate, then the measured run */
  double t0 = 0, one = 0;
  long steps = 3, done = 0;
  for (int round = 0; round < 3 && !s; round++) {
    if (round == 2) {
      steps = one > 0 ? (long)(PROBE_SECONDS / one) : 200;
      steps = steps < 2 ? 2 : steps > 200 ? 200 : steps;
    }
    const long k = round == 0 ? 2 : round == 1 ? 1 : steps;
    t0 = now_s();
    for (long i = 0; i < k && !s; i++, done++) {
      adam.t = done + 1;
      const size_t off = (size_t)(done % (count / B)) * B;
      s = phx_net_batch(n, PHX_SLOT_TRAIN, off, B, 1.0 / B, 1, 0, err);
      if (!s) s = phx_net_grad_step(n, &adam, err);
    }
    if (!s) s = phx_backend_finish(b, err);
    if (round == 1) one = now_s() - t0;
  }
  const double secs = now_s() - t0;
  if (!s) *sps = secs > 0 ? (double)(steps * B) / secs : 0;
  phx_net_free(n);
  phx_model_free(m);
  phx_dataset_free(d);
  free(x);
  free(lab);
  return s;
}

double phx_cl_probe(const phx_cl_dev *d, const phx_backend_conf *conf) {
  char path[1200];
  const int cached = probe_path(d, conf->cache_dir, path, sizeof path);
  double v = cached ? probe_load(path) : 0;
  if (v > 0) return v;
  phx_backend_conf one = *conf;
  snprintf(one.device, sizeof one.device, "%d:%d", d->pidx, d->didx);
  one.device_from = "probe";
  phx_backend *b = NULL;
  phx_err err = {PHX_OK, ""};
  phx_status s = phx_backend_opencl_new(&one, 0, &b, &err);
  if (!s) s = probe_run(b, &v, &err);
  phx_backend_free(b);
  if (s) {
    /* a device that cannot train is left to the class order */
    if (conf->verbose > 0)
      fprintf(stderr, "phaxcl: probe of %s failed: %s\n", d->dname, err.msg);
    return 0;
  }
  if (conf->verbose > 0) fprintf(stderr, "phaxcl: probe of %s: %.0f samples/s\n", d->dname, v);
  if (cached) phx_file_save_atomic(path, probe_write, &v, NULL);
  return v;
}

void phx_cl_probe_devices(phx_cl_dev *d, int n, const phx_backend_conf *conf, int all) {
  const int needed = phx_cl_needs_probe(d, n);
  for (int i = 0; i < n; i++) {
    if (d[i].cls == PHX_CL_SIMULATOR) continue; /* hours, and last anyway */
    const int native = d[i].cls != PHX_CL_OTHER && !d[i].software;
    if (all || (needed && native)) d[i].probe = phx_cl_probe(&d[i], conf);
  }
}
