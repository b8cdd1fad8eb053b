/* The CLI's subcommands. Each takes the arguments after its name
 * (argv[0] is the subcommand) and returns the process exit status. */
#ifndef PHX_COMMANDS_H
#define PHX_COMMANDS_H

int phx_cmd_train(int argc, char **argv);   /* cmd_train.c */
int phx_cmd_eval(int argc, char **argv);    /* cmd_eval.c */
int phx_cmd_grad(int argc, char **argv);    /* cmd_eval.c */
int phx_cmd_info(int argc, char **argv);    /* cmd_info.c */
int phx_cmd_bench(int argc, char **argv);   /* cmd_bench.c */
int phx_cmd_devices(int argc, char **argv); /* cmd_opencl.c */
int phx_cmd_check(int argc, char **argv);   /* cmd_opencl.c */
int phx_cmd_export(int argc, char **argv);  /* cmd_circuit.c */
int phx_cmd_spice(int argc, char **argv);   /* cmd_circuit.c */
int phx_cmd_vtc(int argc, char **argv);     /* cmd_circuit.c */

#endif /* PHX_COMMANDS_H */
