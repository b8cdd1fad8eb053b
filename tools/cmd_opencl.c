/* `phaxcl devices` and `phaxcl check`: the OpenCL devices this machine
 * offers, and the cross-check of every OpenCL operation against the C
 * path, as a table or as JSON. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "commands.h"

static const phx_cli_spec devices_spec = {
    "devices", PHX_O_JSON, 0, 0,
    "usage: phaxcl devices [--json]\n"
    "\n"
    "Lists every OpenCL platform and device: P:D (what --device takes), type,\n"
    "vendor, compute units, global memory, OpenCL C version and fp64 support.\n"
    "'*' marks the device --backend opencl uses when none is named: the one\n"
    "that trains fastest in a short probe (the paper task's training step; the\n"
    "'probe' column, samples/s, measured once per device and driver and kept\n"
    "in the program cache), GPUs and accelerators before CPUs on ties (within\n"
    "10 %), software rasterisers (llvmpipe) after native devices, simulators\n"
    "last.\n"
    "--device also takes a case-insensitive part of a platform, vendor or\n"
    "device name, e.g. --device pocl; so does $PHAXCL_DEVICE.\n"
    "\n"
    "  --json   one JSON array of device objects\n"};


/* Lists the devices (table or JSON). */
int phx_cmd_devices(int argc, char **argv) {
  phx_cli c;
  int rc = phx_cli_parse(&devices_spec, argc, argv, &c);
  if (rc >= 0) return rc;
  phx_device_info *d = NULL;
  int n = 0;
  phx_err err = {0};
  if (phx_devices(&d, &n, &err) != PHX_OK) return phx_cli_err(&err);
  if (c.json) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < n; i++) {
      cJSON *o = cJSON_CreateObject();
      char spec[32];
      snprintf(spec, sizeof spec, "%d:%d", d[i].platform, d[i].index);
      cJSON_AddStringToObject(o, "id", spec);
      cJSON_AddStringToObject(o, "platform", d[i].platform_name);
      cJSON_AddStringToObject(o, "platform_vendor", d[i].platform_vendor);
      cJSON_AddStringToObject(o, "platform_version", d[i].platform_version);
      cJSON_AddStringToObject(o, "name", d[i].name);
      cJSON_AddStringToObject(o, "type", d[i].type);
      cJSON_AddStringToObject(o, "vendor", d[i].vendor);
      cJSON_AddStringToObject(o, "version", d[i].version);
      cJSON_AddStringToObject(o, "driver", d[i].driver);
      cJSON_AddStringToObject(o, "opencl_c", d[i].c_version);
      cJSON_AddNumberToObject(o, "compute_units", d[i].compute_units);
      cJSON_AddNumberToObject(o, "global_mem_bytes", (double)d[i].global_mem);
      cJSON_AddNumberToObject(o, "max_work_group", (double)d[i].max_work_group);
      cJSON_AddBoolToObject(o, "fp64", d[i].fp64);
      cJSON_AddBoolToObject(o, "default", d[i].is_default);
      cJSON_AddBoolToObject(o, "software", d[i].software);
      if (d[i].probe > 0) cJSON_AddNumberToObject(o, "probe_samples_per_s", d[i].probe);
      cJSON_AddItemToArray(arr, o);
    }
    phx_devices_free(d);
    return phx_cli_print_json(arr);
  }
  printf("  %-5s %-11s %-40s %-24s %4s %10s  %-30s %4s %9s\n", "id", "type", "device",
         "platform / vendor", "CUs", "memory", "OpenCL C", "fp64", "probe");
  for (int i = 0; i < n; i++) {
    char spec[32], plat[300], type[32], probe[32] = "-";
    snprintf(spec, sizeof spec, "%d:%d", d[i].platform, d[i].index);
    snprintf(plat, sizeof plat, "%s / %s", d[i].platform_name, d[i].vendor);
    snprintf(type, sizeof type, "%s%s", d[i].type, d[i].software ? " (sw)" : "");
    if (d[i].probe > 0) snprintf(probe, sizeof probe, "%.0f", d[i].probe);
    printf("%c %-5s %-11s %-40.40s %-24.24s %4u %7.1f GiB  %-30.30s %4s %9s\n",
           d[i].is_default ? '*' : ' ', spec, type, d[i].name, plat,
           d[i].compute_units, (double)d[i].global_mem / (1024.0 * 1024.0 * 1024.0),
           d[i].c_version, d[i].fp64 ? "yes" : "no", probe);
  }
  printf("* = default for --backend opencl; probe = training samples/s (paper task)\n");
  phx_devices_free(d);
  return PHX_EXIT_OK;
}

static const phx_cli_spec check_spec = {
    "check", PHX_O_DEVICE | PHX_O_JSON | PHX_O_SEED | PHX_O_VERBOSE, 0, 0,
    "usage: phaxcl check [--device all|SPEC] [--json] [--seed N] [--verbose]\n"
    "\n"
    "Runs every OpenCL operation (each kernel, the matrix products, a whole\n"
    "forward/backward pass and one optimizer step) on the selected device(s)\n"
    "and on the C path with identical random inputs, and prints per result:\n"
    "operation, device, max absolute error, max relative error, NMSE, and\n"
    "pass/fail against the operation's NMSE limit. Exit status 1 on any\n"
    "failure. Sizes are small on simulators (Oclgrind), moderate otherwise.\n"
    "\n"
    "  --device all|SPEC  'all', P:D, or part of a platform/vendor/device name\n"
    "                     (default: $PHAXCL_DEVICE, then the default device)\n"
    "  --json             one JSON object per result line\n"
    "  --seed N           inputs' random seed (default 1)\n"
    "  --verbose          report kernel compile times and cache hits\n"};

typedef struct check_out {
  int json;
} check_out;

/* Prints one result row. */
static void check_row(const phx_check_row *r, void *user) {
  const check_out *o = user;
  if (o->json) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "op", r->op);
    cJSON_AddStringToObject(j, "device", r->device);
    cJSON_AddNumberToObject(j, "count", (double)r->count);
    cJSON_AddNumberToObject(j, "max_abs_err", r->max_abs);
    cJSON_AddNumberToObject(j, "max_rel_err", r->max_rel);
    cJSON_AddNumberToObject(j, "nmse", r->nmse);
    cJSON_AddNumberToObject(j, "nmse_limit", r->tol_nmse);
    cJSON_AddBoolToObject(j, "pass", r->pass);
    phx_cli_print_json(j);
  } else {
    printf("%-30s %-40.40s %11.3e %11.3e %11.3e %9.0e  %s\n", r->op, r->device,
           r->max_abs, r->max_rel, r->nmse, r->tol_nmse, r->pass ? "pass" : "FAIL");
  }
  fflush(stdout);
}

/* Cross-checks the selected devices against the C path. */
int phx_cmd_check(int argc, char **argv) {
  phx_cli c;
  int rc = phx_cli_parse(&check_spec, argc, argv, &c);
  if (rc >= 0) return rc;
  phx_check_opts o;
  phx_check_opts_default(&o);
  if (c.given & PHX_O_DEVICE) o.device = c.device;
  if (c.given & PHX_O_SEED) o.seed = c.seed;
  o.verbose = c.verbose;
  check_out out = {c.json};
  if (!c.json)
    printf("%-30s %-40s %11s %11s %11s %9s  %s\n", "operation", "device",
           "max abs err", "max rel err", "NMSE", "limit", "result");
  int failures = 0;
  phx_err err = {0};
  phx_status s = phx_check_run(&o, check_row, &out, &failures, &err);
  if (s == PHX_ECHECK) {
    if (err.msg[0]) phx_cli_fail(PHX_EXIT_RUN, "%s", err.msg);
    return phx_cli_fail(PHX_EXIT_RUN, "%d check(s) failed", failures);
  }
  if (s != PHX_OK) return phx_cli_err(&err);
  if (!c.json) printf("all checks passed\n");
  return PHX_EXIT_OK;
}
