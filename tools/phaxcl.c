/* phaxcl: the command-line entry point. Dispatches to one subcommand per
 * file (commands.h) and answers --help and --version itself. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "par.h"
#include "phx_config.h"

static const char USAGE[] =
    "usage: phaxcl COMMAND [OPTIONS]\n"
    "\n"
    "Ex-situ training of inverter-based memristive crossbar networks.\n"
    "\n"
    "commands:\n"
    "  train    train a network (one line per epoch), optionally --save it\n"
    "  eval     accuracy, loss and confusion matrix of a saved model\n"
    "  grad     loss and exact gradient of a saved model, as safetensors\n"
    "  info     a saved model's options, sizes and conductance ranges\n"
    "  devices  list OpenCL platforms and devices\n"
    "  check    cross-check every OpenCL operation against the C path\n"
    "  bench    training throughput of the backends\n"
    "  mc       Monte Carlo accuracy over chips drawn with device variation\n"
    "  export   conductances as CSV, the network as an ngspice netlist\n"
    "  spice    run test samples through the netlist in ngspice, compare\n"
    "  vtc      characterise a neuron in ngspice, fit its curves\n"
    "  plot     pictures: training curves, conductances, neuron, spice, mc\n"
    "  sweep    train over lists of sizes, seeds, neurons; mc per variation level\n"
    "\n"
    "Run 'phaxcl COMMAND --help' for a command's options.\n"
    "  phaxcl --version   print the version\n";

/* Subcommand table; `ranks`: the command splits its work over mpirun's
 * ranks (the others run on rank 0 alone, the rest wait). */
static const struct {
  const char *name;
  int (*fn)(int, char **);
  int ranks;
} COMMANDS[] = {
    {"train", phx_cmd_train, 1},     {"eval", phx_cmd_eval, 0},   {"grad", phx_cmd_grad, 0},
    {"info", phx_cmd_info, 0},       {"devices", phx_cmd_devices, 0},
    {"check", phx_cmd_check, 0},     {"bench", phx_cmd_bench, 0}, {"mc", phx_cmd_mc, 1},
    {"export", phx_cmd_export, 0},   {"spice", phx_cmd_spice, 1}, {"vtc", phx_cmd_vtc, 0},
    {"sweep", phx_cmd_sweep, 1},
    {"plot", phx_cmd_plot, 0},
};

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(USAGE, stderr);
    return PHX_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    fputs(USAGE, stdout);
    return PHX_EXIT_OK;
  }
  if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
    printf("phaxcl %s (library %s)\n", PHX_VERSION_STR, PHX_VERSION);
    return PHX_EXIT_OK;
  }
  for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++)
    if (!strcmp(cmd, COMMANDS[i].name)) {
      /* under mpirun: par.h; commands without ranks run on rank 0 */
      int rc = phx_par_init(&argc, &argv);
      if (rc) return rc;
      if (!COMMANDS[i].ranks && phx_par_rank() > 0) return phx_par_finish(0);
      return phx_par_finish(COMMANDS[i].fn(argc - 1, argv + 1));
    }
  return phx_cli_fail(PHX_EXIT_USAGE, "unknown command '%s' (see 'phaxcl --help')", cmd);
}
