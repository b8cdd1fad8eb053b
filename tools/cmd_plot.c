/* phaxcl plot: the pictures come from the Python package (matplotlib), so
 * this command runs `python3 -m phaxcl.plot` with its arguments. From a
 * source tree it uses the tree's package with this very library, so the
 * pictures show what this build computes. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "phx_config.h"

static const char USAGE[] =
    "usage: phaxcl plot KIND [OPTIONS] --out FILE.png|FILE.svg\n"
    "\n"
    "Pictures (matplotlib, through the Python package: pip install .):\n"
    "  curves LOG...        loss and accuracy per epoch from 'train --log' files\n"
    "  conductance MODEL    conductance maps per layer (rows x neurons, uS)\n"
    "  neuron FILE          a neuron's fitted curves against its sweep (phaxcl vtc)\n"
    "  spice MODEL          ngspice against model outputs, |dV| histogram\n"
    "  mc MODEL             Monte Carlo accuracy histogram (--draws, --sigma ...)\n"
    "\n"
    "Run 'phaxcl plot KIND --help' for a kind's options. The interpreter is\n"
    "$PHAXCL_PYTHON, else python3 on PATH.\n";

/* Imports the package and reports a missing one in one line. */
static const char RUNNER[] =
    "import sys\n"
    "try:\n"
    "    from phaxcl.plot import main\n"
    "except ImportError as e:\n"
    "    sys.exit(f'phaxcl plot: {e}: the plots need the phaxcl package with numpy and '\n"
    "             'matplotlib (pip install \\'.[plot]\\')')\n"
    "sys.exit(main(sys.argv[1:]))\n";

/* Source tree: its package first on PYTHONPATH, and this process's
 * library for it (unless PHAXCL_LIBRARY names one). */
static int use_source_tree(void) {
  if (access(PHX_SOURCE_PYDIR "/phaxcl/__init__.py", R_OK)) return 0;
  const char *old = getenv("PYTHONPATH");
  size_t n = strlen(PHX_SOURCE_PYDIR) + (old ? strlen(old) + 1 : 0) + 1;
  char *path = malloc(n);
  if (!path) return phx_cli_fail(PHX_EXIT_RUN, "out of memory");
  snprintf(path, n, "%s%s%s", PHX_SOURCE_PYDIR, old && *old ? ":" : "", old ? old : "");
  int bad = setenv("PYTHONPATH", path, 1);
  free(path);
  Dl_info info;
  if (!bad && !getenv("PHAXCL_LIBRARY") && dladdr((void *)phx_strerror, &info) &&
      info.dli_fname)
    bad = setenv("PHAXCL_LIBRARY", info.dli_fname, 1);
  return bad ? phx_cli_fail(PHX_EXIT_RUN, "cannot set the environment: %s", strerror(errno))
             : 0;
}

int phx_cmd_plot(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    fputs(USAGE, argc < 2 ? stderr : stdout);
    return argc < 2 ? PHX_EXIT_USAGE : PHX_EXIT_OK;
  }
  int rc = use_source_tree();
  if (rc) return rc;
  const char *py = getenv("PHAXCL_PYTHON");
  if (!py || !*py) py = "python3";
  char **args = calloc((size_t)argc + 3, sizeof *args);
  if (!args) return phx_cli_fail(PHX_EXIT_RUN, "out of memory");
  args[0] = (char *)py;
  args[1] = "-c";
  args[2] = (char *)RUNNER;
  for (int i = 1; i < argc; i++) args[i + 2] = argv[i];
  fflush(stdout);
  execvp(py, args);
  int e = errno;
  free(args);
  return phx_cli_fail(PHX_EXIT_RUN, "plot: cannot run %s: %s (set PHAXCL_PYTHON)", py,
                      strerror(e));
}
