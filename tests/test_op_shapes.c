/* Every op refuses a buffer one element too short with PHX_ESHAPE, and a
 * missing buffer with PHX_EINVAL, on every backend: driven by the op
 * descriptors, so a new op is covered as soon as it has one.
 * Usage: test_op_shapes cpu      (c and c64)
 *        test_op_shapes opencl   (every OpenCL device; 77 when none) */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "op_desc.h"
#include "phx_config.h"
#include "test_util.h"
#if PHX_HAVE_OPENCL
#include "cl_device.h"
#endif

/* Runs case i of d on b with buffer slot `slot` short (or missing). */
static phx_status run_short(phx_backend *b, const phx_op_desc *d, const phx_op_inst *t,
                            int slot, int missing, phx_err *err) {
  if (!missing) return phx_op_inst_exec(t, b, slot, 1, NULL, NULL, err);
  phx_op_case c = t->c; /* no buffers at all: the first needed one is missing */
  (void)slot;
  return phx_op_run(b, d->id, c.args.bytes, err);
}

static int test_backend(phx_backend *b) {
  const phx_op_sizes sz = {5, 4, 3};
  int checked = 0;
  for (int id = 0; id < PHX_OP_COUNT; id++) {
    const phx_op_desc *d = phx_op_descs[id];
    if (!phx_op_supported(b, d->id)) {
      printf("  %-8s %-18s not implemented (optional)\n", b->name, d->name);
      continue;
    }
    int done[PHX_OP_MAXBUF] = {0};
    /* every buffer in the first case that uses it */
    for (int i = 0; i < d->ncases; i++) {
      phx_op_inst t;
      phx_err err = {PHX_OK, ""};
      must(phx_op_inst_init(&t, d, i, &sz, 7, &err), &err, d->name);
      if (i == 0) {
        phx_status s = run_short(b, d, &t, -1, 1, &err);
        CHECKF(s == PHX_EINVAL, "%s %s without buffers: %s (%s)", b->name, d->name,
               phx_status_name(s), err.msg);
      }
      for (int k = 0; k < d->nbuf; k++) {
        if (!t.need[k] || done[k]) continue;
        done[k] = 1;
        err = (phx_err){PHX_OK, ""};
        phx_status s = run_short(b, d, &t, k, 0, &err);
        CHECKF(s == PHX_ESHAPE, "%s %s(%s) with %s one short: %s (%s)", b->name, d->name,
               t.c.label, d->buf[k].name, phx_status_name(s), err.msg);
        CHECKF(strstr(err.msg, d->buf[k].name) != NULL, "message names the buffer: %s",
               err.msg);
        checked++;
      }
      phx_op_inst_free(&t);
    }
    for (int k = 0; k < d->nbuf; k++)
      CHECKF(done[k], "%s: buffer %s used by no case", d->name, d->buf[k].name);
  }
  printf("  %-8s %s: %d short buffers refused\n", b->name, phx_backend_device(b), checked);
  return checked;
}

int main(int argc, char **argv) {
  const char *which = argc > 1 ? argv[1] : "cpu";
  phx_err err = {PHX_OK, ""};
  if (strcmp(which, "cpu") == 0) {
    for (int f64 = 0; f64 <= 1; f64++) {
      phx_backend *b = NULL;
      must(phx_backend_cpu_new(f64, &b, &err), &err, "backend");
      (void)test_backend(b);
      phx_backend_free(b);
    }
    return finish("op_shapes");
  }
#if PHX_HAVE_OPENCL
  phx_cl_dev *devs = NULL;
  int n = 0;
  if (phx_cl_devices(&devs, &n, &err) != PHX_OK) {
    printf("SKIP: %s\n", err.msg);
    return 77;
  }
  for (int i = 0; i < n; i++) {
    char spec[32];
    snprintf(spec, sizeof spec, "%d:%d", devs[i].pidx, devs[i].didx);
    phx_backend *b = NULL;
    must(phx_backend_new("opencl", spec, 0, &b, &err), &err, spec);
    (void)test_backend(b);
    phx_backend_free(b);
  }
  free(devs);
  return finish("op_shapes");
#else
  printf("SKIP: no OpenCL in this build\n");
  return 77;
#endif
}
