/* par.h over MPI (OpenMPI): used only when mpirun started the process, so
 * an MPI build run by hand behaves exactly like one without MPI. */
#define _DEFAULT_SOURCE /* mkstemp, usleep */
#include <fcntl.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "par.h"

static int g_on, g_rank, g_size = 1, g_lrank, g_lsize = 1;
static int g_held = -1, g_stderr = -1; /* held stderr file, the real one */

/* The launcher's variables: OpenMPI's own, then PMIx and PMI ones. */
static int under_launcher(void) {
  return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

/* Ranks but 0: stdout to /dev/null, stderr into an unlinked temp file. */
static void quiet_rank(void) {
  int null = open("/dev/null", O_WRONLY);
  if (null >= 0) {
    fflush(stdout);
    dup2(null, STDOUT_FILENO);
    close(null);
  }
  char tmpl[] = "/tmp/phaxcl-rank-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) return; /* errors then print directly */
  unlink(tmpl);
  fflush(stderr);
  g_stderr = dup(STDERR_FILENO);
  if (g_stderr < 0 || dup2(fd, STDERR_FILENO) < 0) {
    close(fd);
    return;
  }
  g_held = fd;
}

/* Every rank on this node (OpenMPI's variables): a one-machine job. */
static int one_node(void) {
  const char *all = getenv("OMPI_COMM_WORLD_SIZE"), *here = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  return all && here && !strcmp(all, here);
}

int phx_par_init(int *argc, char ***argv) {
  if (!under_launcher()) return 0;
  /* One BLAS thread per rank unless asked otherwise (ranks are the
   * parallelism; the ranks' sums then match a one-thread process). */
  if (!getenv("OPENBLAS_NUM_THREADS")) phx_par_blas_serial();
  /* On one machine, MPI_Init's choice of messaging layer first starts UCX,
   * which probes the network for 0.2-0.3 s a rank before it declines;
   * OpenMPI's own ob1 (shared memory) is what such a job ends up with. A
   * pml the user chose stays. */
  if (one_node() && !getenv("OMPI_MCA_pml")) setenv("OMPI_MCA_pml", "ob1", 0);
  /* A rank waiting in a collective (train's gather, every step) polls;
   * yielding there hands the core to whoever can use it when other jobs
   * share the machine (measured under load 6 on 2 cores: train's CPU time
   * 2.4-2.6 s -> 1.8-2.1 s), and costs nothing on an idle core. */
  setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
  if (MPI_Init(argc, argv) != MPI_SUCCESS) {
    fputs("phaxcl: MPI_Init failed\n", stderr);
    return 1;
  }
  g_on = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  MPI_Comm node;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL,
                          &node) == MPI_SUCCESS) {
    MPI_Comm_rank(node, &g_lrank);
    MPI_Comm_size(node, &g_lsize);
    MPI_Comm_free(&node);
  }
  /* a failure on one rank must not leave the others waiting */
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  if (g_rank > 0) quiet_rank();
  return 0;
}

/* The held stderr onto the real one. */
static void release_held(void) {
  if (g_held < 0) return;
  fflush(stderr);
  char buf[4096];
  ssize_t n;
  lseek(g_held, 0, SEEK_SET);
  while ((n = read(g_held, buf, sizeof buf)) > 0)
    if (write(g_stderr, buf, (size_t)n) != n) break;
}

int phx_par_finish(int rc) {
  if (!g_on) return rc;
  /* 128 + a signal: every rank stopped at the same step (train agrees on
   * it), so the job ends as a whole; an abort would race mpirun's own end */
  if (rc && rc <= 128 && g_size > 1) {
    /* Rank 0's message wins when every rank meets the same error: the
     * others wait a moment for its abort before printing their own. */
    fflush(stdout);
    if (g_rank > 0) usleep(500000);
    release_held();
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, rc);
  }
  MPI_Finalize();
  return rc;
}

int phx_par_active(void) { return g_on; }
int phx_par_rank(void) { return g_rank; }
int phx_par_size(void) { return g_size; }
int phx_par_local_rank(void) { return g_lrank; }
int phx_par_local_size(void) { return g_lsize; }

void phx_par_range(int n, int unit, int r, int *first, int *count) {
  const int units = (n + unit - 1) / unit, q = units / g_size, m = units % g_size;
  const int u0 = r * q + (r < m ? r : m), u1 = u0 + q + (r < m);
  *first = u0 * unit < n ? u0 * unit : n;
  *count = (u1 * unit < n ? u1 * unit : n) - *first;
}

/* The library's phx_fail is internal; the CLI fills phx_err itself. */
static phx_status par_fail(phx_err *err, phx_status s, const char *msg) {
  if (err) {
    err->status = s;
    snprintf(err->msg, sizeof err->msg, "%s", msg);
  }
  return s;
}

static phx_status mpi_fail(int rc, const char *what, phx_err *err) {
  char msg[MPI_MAX_ERROR_STRING], line[MPI_MAX_ERROR_STRING + 64];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  snprintf(line, sizeof line, "MPI %s failed: %s", what, msg);
  return par_fail(err, PHX_EIO, line);
}

phx_status phx_par_allgather(void *user, const double *mine, const size_t *counts, double *all,
                             phx_err *err) {
  (void)user;
  if (!g_on) {
    memcpy(all, mine, counts[0] * sizeof *all);
    return PHX_OK;
  }
  int *cnt = malloc(2 * (size_t)g_size * sizeof *cnt);
  if (!cnt) return par_fail(err, PHX_ENOMEM, "out of memory for the gather");
  int *disp = cnt + g_size;
  size_t at = 0;
  for (int r = 0; r < g_size; r++) {
    if (counts[r] > INT32_MAX || at > INT32_MAX) {
      free(cnt);
      return par_fail(err, PHX_EINVAL, "MPI gather: more than 2^31 values");
    }
    cnt[r] = (int)counts[r];
    disp[r] = (int)at;
    at += counts[r];
  }
  int rc = MPI_Allgatherv(mine, cnt[g_rank], MPI_DOUBLE, all, cnt, disp, MPI_DOUBLE,
                          MPI_COMM_WORLD);
  free(cnt);
  return rc == MPI_SUCCESS ? PHX_OK : mpi_fail(rc, "allgather", err);
}

/* Waits for every rank without spinning: a rank done with its share of a
 * long job would otherwise burn the core a slower rank needs (OpenMPI
 * polls in blocking collectives). */
static phx_status wait_all(phx_err *err) {
  MPI_Request req;
  int rc = MPI_Ibarrier(MPI_COMM_WORLD, &req), done = 0;
  while (rc == MPI_SUCCESS && !done) {
    rc = MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (rc == MPI_SUCCESS && !done) usleep(2000);
  }
  return rc == MPI_SUCCESS ? PHX_OK : mpi_fail(rc, "barrier", err);
}

phx_status phx_par_gather_range(int n, int unit, int width, double *all, phx_err *err) {
  if (!g_on || g_size == 1) return PHX_OK;
  if (wait_all(err)) return err->status;
  size_t *counts = malloc((size_t)g_size * sizeof *counts);
  if (!counts) return par_fail(err, PHX_ENOMEM, "out of memory for the gather");
  int first = 0, count = 0;
  for (int r = 0; r < g_size; r++) {
    phx_par_range(n, unit, r, &first, &count);
    counts[r] = (size_t)count * (size_t)width;
  }
  phx_par_range(n, unit, g_rank, &first, &count);
  /* a copy of this rank's part: MPI_IN_PLACE would do with Allgatherv too,
   * but this keeps one code path */
  double *mine = malloc(((size_t)count * width + 1) * sizeof *mine);
  phx_status s = mine ? PHX_OK : par_fail(err, PHX_ENOMEM, "out of memory for the gather");
  if (!s) {
    memcpy(mine, all + (size_t)first * width, (size_t)count * width * sizeof *mine);
    s = phx_par_allgather(NULL, mine, counts, all, err);
  }
  free(mine);
  free(counts);
  return s;
}
