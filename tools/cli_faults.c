/* --faults FILE, a chip's known stuck cells, for every command that runs
 * or trains a model (train, eval, mc, export, spice): taken out of argv
 * before the common parser sees it, read, and pinned in the model. */
#include <string.h>

#include "cli.h"

int phx_cli_faults(int *argc, char **argv, phx_faults **out) {
  *out = NULL;
  int n = 1;
  for (int i = 1; i < *argc; i++) {
    if (strcmp(argv[i], "--faults") != 0) {
      argv[n++] = argv[i];
      continue;
    }
    if (i + 1 >= *argc) return phx_cli_fail(PHX_EXIT_USAGE, "--faults needs a value");
    if (*out) {
      phx_faults_free(*out);
      *out = NULL;
      return phx_cli_fail(PHX_EXIT_USAGE, "--faults given twice");
    }
    phx_err err = {PHX_OK, ""};
    if (phx_faults_load(argv[++i], out, &err)) return phx_cli_err(&err);
  }
  *argc = n;
  return -1;
}

int phx_cli_apply_faults(const phx_faults *f, phx_model *m) {
  phx_err err = {PHX_OK, ""};
  if (f && phx_model_apply_faults(m, f, &err)) return phx_cli_err(&err);
  return 0;
}
