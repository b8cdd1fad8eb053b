/* Host threads (host.h). */
#define _GNU_SOURCE /* sched_getaffinity */
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "host.h"

/* Set while this thread runs a worker's share. */
static _Thread_local int in_worker;

int phx_host_workers(int want) {
  if (in_worker || want <= 1) return 1;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
#ifdef CPU_COUNT
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) < cores)
    cores = CPU_COUNT(&set);
#endif
  if (cores < 1) cores = 1;
  if (cores > PHX_HOST_MAX_THREADS) cores = PHX_HOST_MAX_THREADS;
  return want < cores ? want : (int)cores;
}

typedef struct host_share {
  void (*fn)(void *ctx, int t, int T);
  void *ctx;
  int t, T;
} host_share;

static void *host_thread(void *arg) {
  const host_share *s = arg;
  in_worker = 1;
  s->fn(s->ctx, s->t, s->T);
  return NULL;
}

void phx_host_run(int T, void (*fn)(void *ctx, int t, int T), void *ctx) {
  if (T < 1) T = 1;
  if (T > PHX_HOST_MAX_THREADS) T = PHX_HOST_MAX_THREADS;
  host_share sh[PHX_HOST_MAX_THREADS];
  pthread_t th[PHX_HOST_MAX_THREADS];
  int started[PHX_HOST_MAX_THREADS] = {0};
  for (int t = 1; t < T; t++) {
    sh[t] = (host_share){fn, ctx, t, T};
    started[t] = pthread_create(&th[t], NULL, host_thread, &sh[t]) == 0;
  }
  const int was = in_worker;
  in_worker = 1;
  fn(ctx, 0, T);
  for (int t = 1; t < T; t++)
    if (!started[t]) fn(ctx, t, T);
  in_worker = was;
  for (int t = 1; t < T; t++)
    if (started[t]) pthread_join(th[t], NULL);
}
