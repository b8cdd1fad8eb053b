/* Process parallelism for the CLI (MPI under mpirun, else one process).
 * MPI stays out of libphaxcl: the library takes a gather callback
 * (phx_train_parallel) and works on ranges (mc draws, spice samples); this
 * layer supplies ranks, the collectives and the failure rule. Without MPI
 * in the build (par_none.c) every call is the one-process answer.
 *
 * Under mpirun: rank 0 prints the report (the other ranks' stdout goes to
 * /dev/null) and writes every file; a rank that fails prints its one-line
 * error and ends the whole job (MPI_Abort). Ranks other than 0 hold their
 * stderr until then, so an error every rank meets is printed once. */
#ifndef PHX_PAR_H
#define PHX_PAR_H

#include <stddef.h>

#include "phaxcl.h"

/* Starts MPI when the process runs under mpirun (the launcher's variables
 * are set); otherwise one process of one rank. Returns 0 or an exit status. */
int phx_par_init(int *argc, char ***argv);
/* Ends MPI. rc != 0 on a rank of a multi-rank job: that rank's held error
 * is printed and the job aborted with rc (never returns then), except for
 * rc > 128, a stop by signal that every rank agreed on (train). */
int phx_par_finish(int rc);

/* 1 when mpirun started this process (even as its only rank). */
int phx_par_active(void);
int phx_par_rank(void);
int phx_par_size(void);
/* Rank and rank count on this node (for choosing devices and threads). */
int phx_par_local_rank(void);
int phx_par_local_size(void);

/* [*first, *first + *count) of n items for rank r: contiguous runs of
 * whole units of `unit` items (the last unit may be short), the lower ranks
 * taking one unit more when the units do not divide. */
void phx_par_range(int n, int unit, int r, int *first, int *count);
/* Every rank's range of n items gathered into all (n * width doubles,
 * item i at i * width) on every rank, item order preserved. */
phx_status phx_par_gather_range(int n, int unit, int width, double *all, phx_err *err);
/* Concatenation of every rank's `mine` (counts[r] doubles from rank r) in
 * rank order into all, on every rank (phx_train_parallel's gather). */
phx_status phx_par_allgather(void *user, const double *mine, const size_t *counts, double *all,
                             phx_err *err);

/* The OpenCL device for this rank (par_device.c): `given` (--device) when
 * set, else with several ranks on the node and no $PHAXCL_DEVICE its GPUs
 * and accelerators dealt out by local rank ("P:D" in buf); NULL: the
 * backend's own choice. */
const char *phx_par_device(const char *given, char *buf, size_t len);

/* OpenBLAS on one thread from now on (par_blas.c), for work that runs its
 * own workers on every core (mc's draws): its thread pool would otherwise
 * contend with them and spin (measured: 1.8x the CPU time of one thread). */
void phx_par_blas_serial(void);

/* train's --grad-blocks N, taken out of argv (par_train.c): p becomes the
 * data-parallel set-up of this rank, used when *use is set (under mpirun,
 * or --grad-blocks given: the same blocks in one process give the same
 * theta as any rank count). Returns -1 to go on, or an exit status. */
int phx_par_train_options(int *argc, char **argv, phx_train_parallel *p, int *use);

#endif /* PHX_PAR_H */
