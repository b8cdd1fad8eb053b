/* Helpers shared by the OpenCL tests: the skip rule (77 only when no OpenCL
 * device exists), failure reporting, and the list of devices to run on. */
#ifndef PHX_TEST_OPENCL_UTIL_H
#define PHX_TEST_OPENCL_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cl_device.h"

static int tcl_failures;

/* Records a failed expectation. */
static inline void tcl_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "FAIL: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  tcl_failures++;
}

#define TCL_EXPECT(cond, ...) \
  do {                        \
    if (!(cond)) tcl_fail(__VA_ARGS__); \
  } while (0)

/* Every device, or exit 77 when there is none (no ICD, no platform). */
static inline phx_cl_dev *tcl_devices(int *n) {
  phx_cl_dev *d = NULL;
  phx_err err = {0};
  if (phx_cl_devices(&d, n, &err) != PHX_OK) {
    fprintf(stderr, "SKIP: %s\n", err.msg);
    exit(77);
  }
  return d;
}

static inline int tcl_is_simulator(const phx_cl_dev *d) { return d->cls == PHX_CL_SIMULATOR; }

#endif /* PHX_TEST_OPENCL_UTIL_H */
