/* The OpenCL device of this rank (par.h): the node's GPUs and accelerators
 * dealt out by local rank, so ranks on one node do not share a device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "par.h"

const char *phx_par_device(const char *given, char *buf, size_t len) {
  if (given || getenv("PHAXCL_DEVICE") || phx_par_local_size() < 2) return given;
  phx_device_info *d = NULL;
  int n = 0, k = 0;
  phx_err err = {PHX_OK, ""};
  if (phx_devices(&d, &n, &err)) return NULL; /* no OpenCL: the backend says so */
  int pick[256];
  for (int i = 0; i < n && k < 256; i++)
    if (!strcmp(d[i].type, "GPU") || !strcmp(d[i].type, "accelerator")) pick[k++] = i;
  const char *spec = NULL;
  if (k > 0) {
    const phx_device_info *x = &d[pick[phx_par_local_rank() % k]];
    snprintf(buf, len, "%d:%d", x->platform, x->index);
    spec = buf;
  }
  phx_devices_free(d);
  return spec;
}
