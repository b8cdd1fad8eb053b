/* The OpenCL entry points of phaxcl.h in a build without the OpenCL
 * backend: the header is the same in every build, so programs link either
 * way and learn at run time, with a one-line message, that this build
 * cannot do it (libuv's no-fsevents pattern). */
#include "backend.h"

static phx_status no_opencl(phx_err *err, const char *what) {
  return phx_fail(err, PHX_ENOBACKEND, "%s: this build has no OpenCL support", what);
}

phx_status phx_devices(phx_device_info **out, int *count, phx_err *err) {
  if (out) *out = NULL;
  if (count) *count = 0;
  return no_opencl(err, "devices");
}

void phx_devices_free(phx_device_info *d) { (void)d; }

phx_status phx_check_run(const phx_check_opts *o, phx_check_fn fn, void *user,
                         int *failures, phx_err *err) {
  (void)o;
  (void)fn;
  (void)user;
  if (failures) *failures = 0;
  return no_opencl(err, "check");
}

long phx_backend_opencl_launches(const phx_backend *b) {
  (void)b;
  return -1;
}

double phx_bench_opencl_sgemm_gflops(const phx_backend *b, int n, double min_seconds,
                                     int *n_used) {
  (void)b;
  (void)n;
  (void)min_seconds;
  if (n_used) *n_used = 0;
  return -1;
}
