/* The OpenCL subcommands in a build without OpenCL: they exist so that
 * 'phaxcl devices' and 'phaxcl check' explain themselves instead of being
 * unknown commands. */
#include "cli.h"
#include "commands.h"

/* Refuses: this build cannot list devices. */
int phx_cmd_devices(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return phx_cli_fail(PHX_EXIT_RUN, "this build has no OpenCL support");
}

/* Refuses: there is nothing to cross-check against. */
int phx_cmd_check(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return phx_cli_fail(PHX_EXIT_RUN, "this build has no OpenCL support");
}
