/* Internal seams of src/circuit: the network walk shared by the netlist,
 * the forward pass and the power estimate, and the ngspice engine. */
#ifndef PHX_CIRCUIT_H
#define PHX_CIRCUIT_H

#include <stdio.h>

#include "phaxcl.h"

/* g = gmin (1 + k s(theta)) in S, docs/model.md. */
double phx_circ_g(const phx_model_opts *o, float theta);

/* One forward pass in double. act[l] (l = 0..nlayers) receives the row
 * voltages u of layer l (2 N_l + 2 values: bias pair, p, n), z[l] the column
 * voltages (sizes[l+1]); act[nlayers] holds the outputs' rows (o- then o+).
 * Buffers come from phx_circ_acts_new, one allocation. */
typedef struct phx_circ_acts {
  double *u[PHX_MAX_LAYERS + 1];
  double *z[PHX_MAX_LAYERS];
  double *mem;
} phx_circ_acts;
phx_status phx_circ_acts_new(const phx_model_opts *o, phx_circ_acts *a, phx_err *err);
void phx_circ_acts_free(phx_circ_acts *a);
void phx_circ_forward(const phx_model *m, const float *x, phx_circ_acts *a);
/* The same circuit with table neurons as the circuit has them, whatever
 * the model's load_aware: every hidden row loaded by the next crossbar,
 * its current returning to that crossbar's column nodes (not to 0 V, as
 * the load-aware model has it), rows and columns solved together. The
 * reference that shows how much of a spice gap that return leaves
 * (docs/model.md, "Table neurons and loading"). PHX_EINVAL for a tanh
 * model, PHX_ESIM when a layer does not settle. */
phx_status phx_circ_forward_returned(const phx_model *m, const float *x, phx_circ_acts *a,
                                     phx_err *err);

/* A table-neuron model's netlist needs a real inverter: behavioural
 * neurons are the tanh fits. PHX_EINVAL naming the way out. */
phx_status phx_circ_check_neuron(const phx_model *m, const phx_inverter *inv, phx_err *err);

/* Node names of the netlist, shared by the deck writer and the runner. */
void phx_circ_out_node(char *buf, size_t len, int layer, int j, int plus);

/* ---- ngspice engine ---- */
typedef struct phx_engine phx_engine;
/* which: 0 auto, 1 library, 2 binary. verbose: ngspice output on stderr. */
phx_status phx_engine_open(int which, int verbose, phx_engine **out, phx_err *err);
void phx_engine_close(phx_engine *e);
const char *phx_engine_name(const phx_engine *e);
/* Loads the deck (netlist text without .control/.end) once. */
phx_status phx_engine_load(phx_engine *e, const char *deck, phx_err *err);
/* ngspice's OpenMP threads for the circuits loaded after this (libngspice;
 * the binary keeps its default). threads <= 0: the default. */
void phx_engine_threads(phx_engine *e, int threads);
/* Runs one analysis ("dc VIDX 0 199 1") on the loaded circuit. Returns
 * PHX_ESIM (with ngspice's message) when it stopped early; the vectors then
 * hold the points done. */
phx_status phx_engine_run(phx_engine *e, const char *analysis, phx_err *err);
/* A vector of the last analysis by name ("om1_3", "vdd#branch"); NULL when
 * absent. *len receives its length. */
const double *phx_engine_vec(phx_engine *e, const char *name, int *len);

/* A deck line "PHX_TRIM_MARK NAME..." before a ".lib FILE SECTION" line:
 * the engine loads that section with only the subcircuits NAME
 * (libtrim.c). *out is the deck so expanded (caller frees), or NULL when
 * the deck has no mark. */
#define PHX_TRIM_MARK "*phaxcl:trim"
phx_status phx_circ_trim_deck(const char *deck, char **out, phx_err *err);
/* The deck's top-level .param definitions that nothing uses and that draw
 * no random number, taken out in place (paramtrim.c). */
phx_status phx_circ_drop_unused_params(char *deck, phx_err *err);

/* The inverter's parallel-device count (mult; 0 reads as 1). */
double phx_inverter_mult(const phx_inverter *inv);
/* A mult the sizing accepts: a whole number from 1 to 1000. */
int phx_inverter_mult_valid(double m);

/* The deck write(f, ctx) writes, loaded into a new engine (*out, to be
 * closed even on failure) and swept by `dc vin` over [-vdd/2, vdd/2] in
 * o->step (vtc.c; vtc and vtc --mc). */
typedef void (*phx_deck_fn)(FILE *f, const void *ctx);
phx_status phx_vtc_sweep(const phx_vtc_opts *o, phx_deck_fn write, const void *ctx,
                         phx_engine **out, phx_err *err);

/* The sky130 model library: inv->models_file, $PHAXCL_SKY130_LIB, then the
 * caches. Fills path or fails naming what was tried. */
phx_status phx_circ_sky130_lib(const char *given, char *path, size_t len, phx_err *err);
/* Writes the neuron subcircuit "phx_neuron in om op vdd vss" (and what it
 * needs: the inverter, the .lib line) for the model's fits c, d. */
void phx_circ_write_neuron(FILE *f, const phx_inverter *inv, const phx_model_opts *o);

/* The .options line a deck of this inverter needs; tight for sweeps. */
void phx_circ_write_options(FILE *f, const phx_inverter *inv, int tight);
/* The network as a deck without .control or .end: xs NULL (inputs at 0 V),
 * one sample as fixed sources (sweep 0), or count samples driven by a pwl
 * of the node idx (sweep 1), swept by VIDX over base..base+count-1. */
phx_status phx_circ_deck(FILE *f, const phx_model *m, const phx_inverter *inv,
                         const float *xs, int count, int sweep, int base, const char *title);

#endif /* PHX_CIRCUIT_H */
