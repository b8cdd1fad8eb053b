/* A stuck-cell map as read from a fault file (io/faults.c), shared with
 * core/faults.c, which checks it against a model and pins the cells. */
#ifndef PHX_FAULTS_H
#define PHX_FAULTS_H

#include "phaxcl.h"

typedef enum { PHX_STUCK_GMIN = 0, PHX_STUCK_GMAX = 1, PHX_STUCK_G = 2 } phx_stuck;

typedef struct phx_fault {
  int layer, row, col; /* 0-based: crossbar, row (docs/model.md order), column */
  phx_stuck kind;
  double g;            /* S, for PHX_STUCK_G */
  int line;            /* in the file, for messages */
} phx_fault;

struct phx_faults {
  int count, cap;
  phx_fault *f;
  char path[256]; /* as given, for messages (cut when longer) */
};

/* core/faults.c: every fault inside model o (layer, row, column, and a
 * conductance within [gmin, gmax]), no cell twice; messages name the line. */
phx_status phx_faults_check(const phx_faults *f, const phx_model_opts *o, phx_err *err);
/* The parameter that holds a fault's cell at its value: +-PHX_FAULT_PIN
 * for gmax and gmin (sigmoid saturates, so its derivative and with it the
 * gradient is 0 or below 1e-38: no optimizer moves it), the logit of the
 * conductance otherwise (which training must set again after each step). */
#define PHX_FAULT_PIN 100.0
double phx_fault_theta(const phx_fault *ft, const phx_model_opts *o);
/* A fault at a conductance strictly between gmin and gmax. */
int phx_fault_is_free(const phx_fault *ft, const phx_model_opts *o);
/* Sets the faulty cells of layer l in theta (M x R) to their parameter; only
 * the free ones when free_only. */
void phx_faults_pin64(const phx_faults *f, const phx_model_opts *o, int l, int free_only,
                      double *theta);

#endif /* PHX_FAULTS_H */
