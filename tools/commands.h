/* The CLI's subcommands. Each takes the arguments after its name
 * (argv[0] is the subcommand) and returns the process exit status. */
#ifndef PHX_COMMANDS_H
#define PHX_COMMANDS_H

#include "phaxcl.h"

int phx_cmd_train(int argc, char **argv);   /* cmd_train.c */
int phx_cmd_eval(int argc, char **argv);    /* cmd_eval.c */
int phx_cmd_grad(int argc, char **argv);    /* cmd_eval.c */
int phx_cmd_info(int argc, char **argv);    /* cmd_info.c */
int phx_cmd_bench(int argc, char **argv);   /* cmd_bench.c */
int phx_cmd_devices(int argc, char **argv); /* cmd_opencl.c */
int phx_cmd_check(int argc, char **argv);   /* cmd_opencl.c */
int phx_cmd_mc(int argc, char **argv);      /* cmd_mc.c */
int phx_cmd_export(int argc, char **argv);  /* cmd_circuit.c */
int phx_cmd_spice(int argc, char **argv);   /* cmd_circuit.c */
int phx_cmd_vtc(int argc, char **argv);     /* cmd_circuit.c */
int phx_cmd_plot(int argc, char **argv);    /* cmd_plot.c */
int phx_cmd_sweep(int argc, char **argv);   /* cmd_sweep.c */

/* For train and eval (cmd_circuit.c). --neuron FILE into the model options
 * of c (fits, vdd; lr and epochs from the file's hint unless given); 0 or
 * an exit status. */
struct phx_cli;
int phx_cli_apply_neuron(struct phx_cli *c);
/* For train and sweep (cmd_train.c): the model --layers, the model options
 * and --init/--resume describe, initialised from --seed; 0 or an exit status. */
int phx_cli_make_model(const struct phx_cli *c, const phx_dataset *train, phx_model **out);
/* --curve table: the neuron file's table onto m (cmd_circuit.c). */
int phx_cli_neuron_table(const struct phx_cli *c, phx_model *m);
/* eval --power: the static power estimate per inference of m on d, with
 * --neuron's supply current when given; 0 or an exit status. */
int phx_cli_power(const struct phx_cli *c, const phx_model *m, const phx_dataset *d,
                  phx_power *p);

/* bench --mc: the Monte Carlo speed of `draws` chips on each backend
 * (bench_mc.c); 0 or an exit status. */
int phx_bench_mc(const struct phx_cli *c, phx_backend **bs, int nb, int draws);

#endif /* PHX_COMMANDS_H */
