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
    "  sweep    train over lists of sizes, seeds, neurons; mc per variation level\n"
    "\n"
    "Run 'phaxcl COMMAND --help' for a command's options.\n"
    "  phaxcl --version   print the version\n";

/* Subcommand table. */
static const struct {
  const char *name;
  int (*fn)(int, char **);
} COMMANDS[] = {
    {"train", phx_cmd_train}, {"eval", phx_cmd_eval},       {"grad", phx_cmd_grad},
    {"info", phx_cmd_info},   {"devices", phx_cmd_devices}, {"check", phx_cmd_check},
    {"bench", phx_cmd_bench}, {"mc", phx_cmd_mc},           {"export", phx_cmd_export},
    {"spice", phx_cmd_spice}, {"vtc", phx_cmd_vtc},         {"sweep", phx_cmd_sweep},
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
      /* under mpirun every command runs on every rank (par.h) */
      int rc = phx_par_init(&argc, &argv);
      return rc ? rc : phx_par_finish(COMMANDS[i].fn(argc - 1, argv + 1));
    }
  return phx_cli_fail(PHX_EXIT_USAGE, "unknown command '%s' (see 'phaxcl --help')", cmd);
}
