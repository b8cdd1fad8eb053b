/* `phaxcl check --device SPEC` through the library: every operation, a
 * whole pass and an optimizer step agree with the C path on each device.
 * Usage: test_opencl_check [SPEC] (default "all").
 * With $OCLGRIND_LOG set (the Oclgrind run with its checks on), the test
 * also fails when Oclgrind wrote any report to that file. */
#include <string.h>
#include <unistd.h>

#include "test_opencl_util.h"

static void row(const phx_check_row *r, void *user) {
  int *rows = user;
  (*rows)++;
  if (r->skipped) {
    printf("%-30s %-36s skipped: %s\n", r->op, r->device, r->skipped);
    return;
  }
  printf("%-30s %-36s abs %.3e rel %.3e nmse %.3e (limit %.0e) %s\n", r->op,
         r->device, r->max_abs, r->max_rel, r->nmse, r->tol_nmse,
         r->pass ? "pass" : "FAIL");
}

int main(int argc, char **argv) {
  int n = 0;
  phx_cl_dev *devs = tcl_devices(&n);
  const char *spec = argc > 1 ? argv[1] : "all";
  const char *log = getenv("OCLGRIND_LOG");
  if (log && *log) {
    /* only meaningful when the simulator is what runs */
    int found = 0;
    for (int i = 0; i < n; i++) found |= tcl_is_simulator(&devs[i]);
    if (!found) {
      fprintf(stderr, "SKIP: Oclgrind is not registered as an OpenCL ICD\n");
      free(devs);
      return 77;
    }
    unlink(log);
  }
  free(devs);
  phx_check_opts o;
  phx_check_opts_default(&o);
  o.device = spec;
  int rows = 0, failures = 0;
  phx_err err = {0};
  phx_status s = phx_check_run(&o, row, &rows, &failures, &err);
  TCL_EXPECT(s == PHX_OK, "phx_check_run: %s (%s)", err.msg, phx_status_name(s));
  TCL_EXPECT(failures == 0, "%d rows failed", failures);
  TCL_EXPECT(rows >= 30, "only %d rows reported", rows);
  if (log && *log) {
    FILE *f = fopen(log, "r");
    if (f) {
      char line[512];
      int lines = 0;
      while (fgets(line, sizeof line, f)) {
        if (lines++ < 40) fputs(line, stderr);
      }
      fclose(f);
      TCL_EXPECT(lines == 0, "Oclgrind reported problems (%d lines in %s)", lines, log);
    }
  }
  return tcl_failures ? 1 : 0;
}
