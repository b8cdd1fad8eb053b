/* A program that uses only the public header and the shared library, as a
 * user's would: every declared function links in every build, and the
 * OpenCL entry points answer PHX_ENOBACKEND (with a message) in builds
 * without OpenCL. Usage: test_consumer HAVE_OPENCL (0 or 1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phaxcl.h"

static int failures;

#define EXPECT(cond, ...)                       \
  do {                                          \
    if (!(cond)) {                              \
      fprintf(stderr, "FAIL: " __VA_ARGS__);    \
      fputc('\n', stderr);                      \
      failures++;                               \
    }                                           \
  } while (0)

int main(int argc, char **argv) {
  const int have_opencl = argc > 1 && strcmp(argv[1], "1") == 0;
  phx_err err = {PHX_OK, ""};
  phx_device_info *d = NULL;
  int n = -1;
  phx_status s = phx_devices(&d, &n, &err);
  if (have_opencl) {
    EXPECT(s == PHX_OK || s == PHX_ENODEV, "phx_devices: %s", phx_status_name(s));
  } else {
    EXPECT(s == PHX_ENOBACKEND && strstr(err.msg, "no OpenCL") && n == 0 && !d,
           "phx_devices without OpenCL: %s '%s'", phx_status_name(s), err.msg);
    phx_check_opts o;
    phx_check_opts_default(&o);
    int fails = -1;
    s = phx_check_run(&o, NULL, NULL, &fails, &err);
    EXPECT(s == PHX_ENOBACKEND && fails == 0, "phx_check_run without OpenCL: %s",
           phx_status_name(s));
    phx_backend *b = NULL;
    s = phx_backend_new("opencl", NULL, 0, &b, &err);
    EXPECT(s == PHX_ENOBACKEND && !b, "opencl backend without OpenCL: %s", phx_status_name(s));
  }
  phx_devices_free(d);
  /* the pinned status values and their names */
  EXPECT(PHX_OK == 0 && PHX_ESHAPE == 5 && PHX_ENOBACKEND == 8 && PHX_EINTERNAL == 13,
         "status values moved");
  EXPECT(strcmp(phx_status_name(PHX_ENOBACKEND), "PHX_ENOBACKEND") == 0, "status name");
  /* the C path works from the public API alone */
  phx_backend *c = NULL;
  s = phx_backend_new("c", NULL, 0, &c, &err);
  EXPECT(s == PHX_OK && phx_backend_opencl_launches(c) == -1, "c backend: %s", err.msg);
  phx_backend_free(c);
  if (failures) return 1;
  printf("consumer: all checks passed (OpenCL %s)\n", have_opencl ? "built" : "absent");
  return 0;
}
