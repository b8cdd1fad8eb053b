/* Host threads for the C path's parallel work: Monte Carlo draws (mc.c)
 * and the returned-load solves (cpu_ops.h), each worker a share of jobs
 * whose results do not depend on the split. The one piece of state is a
 * thread-local flag that marks a worker, so that work started inside one
 * (a solve under mc's per-chip workers) stays on that worker instead of
 * oversubscribing the cores. */
#ifndef PHX_HOST_H
#define PHX_HOST_H

#define PHX_HOST_MAX_THREADS 16

/* Workers for up to `want` jobs: the cores this process may use (its
 * affinity mask, so that MPI ranks bound to a core get one), at most want
 * and PHX_HOST_MAX_THREADS, at least 1; 1 inside a worker. */
int phx_host_workers(int want);

/* Runs fn(ctx, t, T) for t = 0 .. T-1 (T capped to 1..PHX_HOST_MAX_THREADS):
 * t = 0 on the caller, the others on threads; where a thread cannot
 * start, the caller runs that share after its own. Returns when all have. */
void phx_host_run(int T, void (*fn)(void *ctx, int t, int T), void *ctx);

#endif
