/* `phaxcl devices` and `phaxcl check`: the OpenCL devices this machine
 * offers, and the cross-check of every OpenCL operation against the C
 * path, as a table or as JSON. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

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
    "  --verbose          report kernel compile times and cache hits\n"
    "\n"
    "With --device all and several OpenCL implementations registered, each\n"
    "runs in a child process that loads only its own .icd file (the device\n"
    "column then starts with the file's name): a runtime that crashes, or\n"
    "that crashes the ICD loader next to another LLVM-based runtime, fails\n"
    "its own row ('platform ... crashed') and the others still run.\n"};

typedef struct check_out {
  int json;
  const char *icd; /* in a per-ICD child: the .icd file's stem, else NULL */
} check_out;

/* Prints one result row. */
static void check_row(const phx_check_row *r, void *user) {
  const check_out *o = user;
  char dev[1700];
  snprintf(dev, sizeof dev, "%s%s%s", o->icd ? o->icd : "", o->icd ? ": " : "", r->device);
  if (o->json) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "op", r->op);
    cJSON_AddStringToObject(j, "device", dev);
    if (o->icd) cJSON_AddStringToObject(j, "icd", o->icd);
    cJSON_AddNumberToObject(j, "count", (double)r->count);
    cJSON_AddNumberToObject(j, "max_abs_err", r->max_abs);
    cJSON_AddNumberToObject(j, "max_rel_err", r->max_rel);
    cJSON_AddNumberToObject(j, "nmse", r->nmse);
    cJSON_AddNumberToObject(j, "nmse_limit", r->tol_nmse);
    cJSON_AddBoolToObject(j, "pass", r->pass);
    if (r->skipped) cJSON_AddStringToObject(j, "skipped", r->skipped);
    phx_cli_print_json(j);
  } else if (r->skipped) {
    printf("%-30s %-40.40s skipped: %s\n", r->op, dev, r->skipped);
  } else {
    printf("%-30s %-40.40s %11.3e %11.3e %11.3e %9.0e  %s\n", r->op, dev,
           r->max_abs, r->max_rel, r->nmse, r->tol_nmse, r->pass ? "pass" : "FAIL");
  }
  fflush(stdout);
}

/* Child exit statuses of check_isolated. */
enum { CHILD_PASS = 0, CHILD_FAIL = 1, CHILD_ERROR = 2, CHILD_NODEV = 3 };

static int icd_file(const struct dirent *e) {
  const size_t l = strlen(e->d_name);
  return l > 4 && strcmp(e->d_name + l - 4, ".icd") == 0;
}

/* One ICD's checks in a child process whose loader sees only that file
 * (OCL_ICD_VENDORS narrowed to a temp folder holding a link to it). The
 * child leaves with _exit once its rows are out, so a runtime's exit
 * handlers cannot turn a finished run into a crash. Returns the failures
 * to count: a crash is one failed row. */
static int check_one_icd(const char *vendors, const char *name, phx_check_opts *o,
                         check_out *out, int *devices) {
  char dir[] = "/tmp/phaxcl-icd-XXXXXX", link[1200], target[1200];
  if (!mkdtemp(dir)) {
    phx_cli_fail(PHX_EXIT_RUN, "check: cannot create a temp folder: %s", strerror(errno));
    return 1;
  }
  snprintf(link, sizeof link, "%s/%s", dir, name);
  char cwd[512] = ".";
  if (vendors[0] != '/' && !getcwd(cwd, sizeof cwd)) snprintf(cwd, sizeof cwd, ".");
  snprintf(target, sizeof target, "%s%s%s/%s", vendors[0] == '/' ? "" : cwd,
           vendors[0] == '/' ? "" : "/", vendors, name);
  char stem[256];
  snprintf(stem, sizeof stem, "%.*s", (int)(strlen(name) - 4), name);
  int failures = 0;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = symlink(target, link) == 0 ? fork() : -1;
  if (pid == 0) {
    setenv("OCL_ICD_VENDORS", dir, 1);
    out->icd = stem;
    int f = 0;
    phx_err err = {0};
    phx_status s = phx_check_run(o, check_row, out, &f, &err);
    int code = CHILD_PASS;
    if (s == PHX_ENODEV) code = CHILD_NODEV;
    else if (s == PHX_ECHECK) code = CHILD_FAIL;
    else if (s != PHX_OK) code = CHILD_ERROR;
    if (code == CHILD_FAIL && err.msg[0]) fprintf(stderr, "phaxcl: %s: %s\n", stem, err.msg);
    if (code == CHILD_ERROR) fprintf(stderr, "phaxcl: %s: %s\n", stem, err.msg);
    fflush(stdout);
    fflush(stderr);
    _exit(code);
  }
  int st = 0;
  if (pid < 0) {
    phx_cli_fail(PHX_EXIT_RUN, "check: cannot start a process for %s: %s", name,
                 strerror(errno));
    failures = 1;
  } else if (waitpid(pid, &st, 0) < 0 || WIFSIGNALED(st) ||
             (WIFEXITED(st) && WEXITSTATUS(st) == CHILD_ERROR)) {
    char why[128] = "did not finish";
    if (WIFSIGNALED(st))
      snprintf(why, sizeof why, "crashed (signal %d, %s)", WTERMSIG(st),
               strsignal(WTERMSIG(st)));
    char label[1400];
    snprintf(label, sizeof label, "%s (%s)", why, target);
    phx_check_row row = {"platform", label, NAN, NAN, NAN, 0, 0, 0, NULL};
    check_row(&row, out);
    out->icd = NULL;
    failures = 1;
    (*devices)++;
  } else if (WEXITSTATUS(st) == CHILD_FAIL) {
    failures = 1; /* the child printed its rows and the count */
    (*devices)++;
  } else if (WEXITSTATUS(st) == CHILD_PASS) {
    (*devices)++;
  } else if (o->verbose) {
    fprintf(stderr, "phaxcl: check: %s: no device\n", name);
  }
  unlink(link);
  rmdir(dir);
  return failures;
}

/* --device all where the loader would open several .icd files: each in
 * its own process. Returns -1 when that does not apply (one file, or the
 * vendor folder cannot be listed), else the exit status. */
static int check_isolated(phx_check_opts *o, check_out *out) {
  const char *dev = o->device ? o->device : getenv("PHAXCL_DEVICE");
  if (!dev || strcmp(dev, "all") != 0) return -1;
  const char *vendors = getenv("OCL_ICD_VENDORS");
  if (!vendors || !*vendors) vendors = "/etc/OpenCL/vendors";
  struct dirent **names = NULL;
  const int n = scandir(vendors, &names, icd_file, alphasort);
  if (n < 2) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return -1;
  }
  int failed = 0, devices = 0;
  for (int i = 0; i < n; i++) {
    failed += check_one_icd(vendors, names[i]->d_name, o, out, &devices);
    free(names[i]);
  }
  free(names);
  if (devices == 0)
    return phx_cli_fail(PHX_EXIT_RUN, "check: no OpenCL device in any of the %d .icd files "
                        "in %s", n, vendors);
  if (failed)
    return phx_cli_fail(PHX_EXIT_RUN, "check: %d OpenCL implementation(s) failed", failed);
  if (!out->json) printf("all checks passed\n");
  return PHX_EXIT_OK;
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
  check_out out = {c.json, NULL};
  if (!c.json)
    printf("%-30s %-40s %11s %11s %11s %9s  %s\n", "operation", "device",
           "max abs err", "max rel err", "NMSE", "limit", "result");
  const int isolated = check_isolated(&o, &out);
  if (isolated >= 0) return isolated;
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
