/* Data-parallel gradients: every batch is cut into nb fixed blocks (block j
 * holds positions off + j B / nb up to off + (j + 1) B / nb), rank r owns a
 * contiguous run of blocks, and the block gradients are summed in double
 * over the binary tree on [0, nb). A rank sends the sums of the largest
 * tree nodes inside its run (computed with the same tree), every rank
 * gathers them and finishes the tree; each node is always the sum of its
 * two children, left + right, so the total is the same bits for any rank
 * count. Each rank's stop request travels with its gradient, so that all
 * ranks stop at the same step. */
#include <stdlib.h>
#include <string.h>

#include "train_parallel.h"

struct phx_dp {
  phx_train_parallel par;
  int L, n, batch, nb, depth; /* depth: log2(nb) */
  size_t off[PHX_MAX_LAYERS + 1], P; /* layer offsets in a gradient vector */
  size_t *counts;        /* doubles each rank sends (gradient, then metrics) */
  int *nodes;            /* every rank's tree nodes, rank by rank (heap ids) */
  int *first_node;       /* rank r's nodes start at nodes[first_node[r]] */
  double *stack;         /* depth + 2 vectors for the recursion */
  double *mine, *all;    /* this rank's node sums, everyone's */
  const double **node;   /* 2 nb: gathered sum of each heap node, or NULL */
  int *owner;            /* rank that computes each position of the epoch */
  double *loss, *pack, *packall;
  int32_t *pred;
  const volatile sig_atomic_t *stop; /* this rank's request, or NULL */
  int stopped;           /* some rank's request came with the last gradient */
};

/* Blocks [*b0, *b1) of rank r. */
static void rank_blocks(const phx_dp *dp, int r, int *b0, int *b1) {
  const int q = dp->nb / dp->par.size, m = dp->nb % dp->par.size;
  *b0 = r * q + (r < m ? r : m);
  *b1 = *b0 + q + (r < m);
}

/* Heap ids (root 1) of the largest nodes covering [a, b), left to right. */
static int cover(int id, int lo, int hi, int a, int b, int *out) {
  if (b <= lo || hi <= a) return 0;
  if (a <= lo && hi <= b) {
    if (out) *out = id;
    return 1;
  }
  const int mid = (lo + hi) / 2;
  int k = cover(2 * id, lo, mid, a, b, out);
  return k + cover(2 * id + 1, mid, hi, a, b, out ? out + k : NULL);
}

/* The leaves [lo, hi) of heap node id. */
static void node_range(const phx_dp *dp, int id, int *lo, int *hi) {
  int level = 0;
  while ((id >> level) > 1) level++;
  const int size = dp->nb >> level;
  *lo = (id - (1 << level)) * size;
  *hi = *lo + size;
}

void phx_dp_free(phx_dp *dp) {
  if (!dp) return;
  free(dp->counts);
  free(dp->nodes);
  free(dp->first_node);
  free(dp->stack);
  free(dp->mine);
  free(dp->all);
  free(dp->node);
  free(dp->owner);
  free(dp->loss);
  free(dp->pack);
  free(dp->packall);
  free(dp->pred);
  free(dp);
}

phx_status phx_dp_new(const phx_train_parallel *par, const phx_model_opts *o, int n, int batch,
                      const volatile sig_atomic_t *stop, phx_dp **out, phx_err *err) {
  *out = NULL;
  if (!par->gather || par->size < 1 || par->rank < 0 || par->rank >= par->size)
    return phx_fail(err, PHX_EINVAL, "parallel training: rank %d of %d, gather %s", par->rank,
                    par->size, par->gather ? "set" : "missing");
  if (par->blocks < 1 || par->blocks > 1024 || (par->blocks & (par->blocks - 1)))
    return phx_fail(err, PHX_EINVAL, "--grad-blocks: %d (expected a power of two, 1 to 1024)",
                    par->blocks);
  phx_dp *dp = calloc(1, sizeof *dp);
  if (!dp) return phx_fail(err, PHX_ENOMEM, "out of memory for parallel training");
  dp->par = *par;
  dp->stop = stop;
  dp->L = o->nlayers;
  dp->n = n;
  dp->batch = batch;
  dp->nb = par->blocks;
  while ((1 << dp->depth) < dp->nb) dp->depth++;
  for (int l = 0; l < dp->L; l++)
    dp->off[l + 1] = dp->off[l] + (size_t)o->sizes[l + 1] * (2 * (size_t)o->sizes[l] + 2);
  dp->P = dp->off[dp->L];
  const int S = par->size;
  int total = 0, most = 0;
  dp->first_node = malloc(((size_t)S + 1) * sizeof *dp->first_node);
  for (int r = 0; dp->first_node && r < S; r++) {
    int b0, b1;
    rank_blocks(dp, r, &b0, &b1);
    dp->first_node[r] = total;
    const int k = cover(1, 0, dp->nb, b0, b1, NULL);
    total += k;
    if (k > most) most = k;
  }
  dp->counts = malloc((size_t)S * sizeof *dp->counts);
  dp->nodes = malloc(((size_t)total + 1) * sizeof *dp->nodes);
  dp->stack = malloc((size_t)(dp->depth + 2) * dp->P * sizeof *dp->stack);
  dp->mine = malloc(((size_t)most + 1) * dp->P * sizeof *dp->mine);
  /* each rank's nodes, then its stop request */
  dp->all = malloc((((size_t)total + 1) * dp->P + (size_t)S) * sizeof *dp->all);
  dp->node = calloc(2 * (size_t)dp->nb, sizeof *dp->node);
  dp->owner = malloc((size_t)n * sizeof *dp->owner);
  dp->loss = malloc((size_t)n * sizeof *dp->loss);
  dp->pred = malloc((size_t)n * sizeof *dp->pred);
  dp->pack = malloc(2 * (size_t)n * sizeof *dp->pack);
  dp->packall = malloc(2 * (size_t)n * sizeof *dp->packall);
  if (!dp->first_node || !dp->counts || !dp->nodes || !dp->stack || !dp->mine || !dp->all ||
      !dp->node || !dp->owner || !dp->loss || !dp->pred || !dp->pack || !dp->packall) {
    phx_dp_free(dp);
    return phx_fail(err, PHX_ENOMEM, "out of memory for parallel training");
  }
  dp->first_node[S] = total;
  for (int r = 0; r < S; r++) {
    int b0, b1;
    rank_blocks(dp, r, &b0, &b1);
    cover(1, 0, dp->nb, b0, b1, dp->nodes + dp->first_node[r]);
  }
  /* who computes each position: block by block, batch by batch */
  for (int off = 0; off < n; off += batch) {
    const int B = n - off < batch ? n - off : batch;
    for (int r = 0; r < S; r++) {
      int b0, b1;
      rank_blocks(dp, r, &b0, &b1);
      for (int p = off + (int)((long)b0 * B / dp->nb); p < off + (int)((long)b1 * B / dp->nb); p++)
        dp->owner[p] = r;
    }
  }
  *out = dp;
  return PHX_OK;
}

/* Gradient of block j of the batch at off (size B) into g; zero when the
 * block is empty. Chunks of the net's largest batch accumulate. */
static phx_status leaf(phx_dp *dp, phx_net *net, int off, int B, double scale, int j, double *g,
                       phx_err *err) {
  const int p0 = off + (int)((long)j * B / dp->nb), p1 = off + (int)((long)(j + 1) * B / dp->nb);
  if (p0 == p1) {
    memset(g, 0, dp->P * sizeof *g);
    return PHX_OK;
  }
  const int mb = phx_net_max_batch(net);
  phx_status s = PHX_OK;
  for (int p = p0; p < p1 && !s; p += mb)
    s = phx_net_batch(net, PHX_SLOT_TRAIN, (size_t)p, p1 - p < mb ? p1 - p : mb, scale, 1,
                      p > p0, err);
  if (!s) s = phx_net_grad_finish(net, err);
  for (int l = 0; l < dp->L && !s; l++) s = phx_net_get_grad64(net, l, g + dp->off[l], err);
  return s;
}

static void add(double *out, const double *x, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] += x[i];
}

/* Sum of heap node id over its leaves, computed here (level: recursion
 * depth, for the scratch vectors). */
static phx_status node_sum(phx_dp *dp, phx_net *net, int off, int B, double scale, int id,
                           int level, double *out, phx_err *err) {
  int lo, hi;
  node_range(dp, id, &lo, &hi);
  if (hi - lo == 1) return leaf(dp, net, off, B, scale, lo, out, err);
  double *right = dp->stack + (size_t)(level + 1) * dp->P;
  phx_status s = node_sum(dp, net, off, B, scale, 2 * id, level + 1, out, err);
  if (!s) s = node_sum(dp, net, off, B, scale, 2 * id + 1, level + 1, right, err);
  if (!s) add(out, right, dp->P);
  return s;
}

/* The whole tree from the gathered nodes: a gathered node is taken as is,
 * any other is the sum of its children, as node_sum forms it. */
static void combine(phx_dp *dp, int id, int level, double *out) {
  if (dp->node[id]) {
    memcpy(out, dp->node[id], dp->P * sizeof *out);
    return;
  }
  double *right = dp->stack + (size_t)(level + 1) * dp->P;
  combine(dp, 2 * id, level + 1, out);
  combine(dp, 2 * id + 1, level + 1, right);
  add(out, right, dp->P);
}

phx_status phx_dp_gradient(phx_dp *dp, phx_net *net, int off, int B, double scale, double *g,
                           phx_err *err) {
  const int S = dp->par.size, me = dp->par.rank;
  phx_status s = PHX_OK;
  const int k0 = dp->first_node[me], k1 = dp->first_node[me + 1];
  for (int k = k0; k < k1 && !s; k++)
    s = node_sum(dp, net, off, B, scale, dp->nodes[k], 0, dp->mine + (size_t)(k - k0) * dp->P,
                 err);
  for (int r = 0; r < S; r++)
    dp->counts[r] = (size_t)(dp->first_node[r + 1] - dp->first_node[r]) * dp->P + 1;
  dp->mine[(size_t)(k1 - k0) * dp->P] = dp->stop && *dp->stop;
  if (!s) s = dp->par.gather(dp->par.user, dp->mine, dp->counts, dp->all, err);
  if (s) return s;
  memset(dp->node, 0, 2 * (size_t)dp->nb * sizeof *dp->node);
  dp->stopped = 0;
  for (int r = 0; r < S; r++) {
    /* rank r's part starts after r stop requests of the ranks before it */
    const double *part = dp->all + (size_t)dp->first_node[r] * dp->P + (size_t)r;
    for (int k = dp->first_node[r]; k < dp->first_node[r + 1]; k++)
      dp->node[dp->nodes[k]] = part + (size_t)(k - dp->first_node[r]) * dp->P;
    dp->stopped |= part[(size_t)(dp->first_node[r + 1] - dp->first_node[r]) * dp->P] != 0;
  }
  double *total = dp->stack; /* level 0 */
  combine(dp, 1, 0, total);
  for (int l = 0; l < dp->L && !s; l++) s = phx_net_set_grad64(net, l, total + dp->off[l], err);
  if (!s && g) memcpy(g, total, dp->P * sizeof *g);
  return s;
}

phx_status phx_dp_metrics(phx_dp *dp, phx_net *net, phx_err *err) {
  const int S = dp->par.size, me = dp->par.rank, n = dp->n;
  if (S == 1) return PHX_OK;
  phx_status s = phx_net_get_metrics_raw(net, PHX_SLOT_TRAIN, n, dp->loss, dp->pred, err);
  if (s) return s;
  size_t k = 0;
  for (int r = 0; r < S; r++) dp->counts[r] = 0;
  for (int p = 0; p < n; p++) {
    dp->counts[dp->owner[p]] += 2;
    if (dp->owner[p] != me) continue;
    dp->pack[k++] = dp->loss[p];
    dp->pack[k++] = dp->pred[p];
  }
  s = dp->par.gather(dp->par.user, dp->pack, dp->counts, dp->packall, err);
  if (s) return s;
  /* rank r's entries start after those of the ranks before it */
  size_t at[1024 + 1];
  size_t *start = S <= 1024 ? at : malloc(((size_t)S + 1) * sizeof *start);
  if (!start) return phx_fail(err, PHX_ENOMEM, "out of memory for parallel training");
  start[0] = 0;
  for (int r = 0; r < S; r++) start[r + 1] = start[r] + dp->counts[r];
  for (int p = 0; p < n; p++) {
    const double *e = dp->packall + start[dp->owner[p]];
    start[dp->owner[p]] += 2;
    dp->loss[p] = e[0];
    dp->pred[p] = (int32_t)e[1];
  }
  if (start != at) free(start);
  return phx_net_set_metrics_raw(net, PHX_SLOT_TRAIN, n, dp->loss, dp->pred, err);
}

int phx_dp_stopped(const phx_dp *dp) { return dp->stopped; }

int phx_dp_rank(const phx_dp *dp) { return dp->par.rank; }

phx_status phx_dp_agree(phx_dp *dp, phx_status s, phx_err *err) {
  const int S = dp->par.size;
  if (S == 1) return s;
  for (int r = 0; r < S; r++) dp->counts[r] = 1;
  const double mine = (double)s;
  phx_err e2 = {PHX_OK, ""};
  double *all = malloc((size_t)S * sizeof *all);
  phx_status g = all ? dp->par.gather(dp->par.user, &mine, dp->counts, all, &e2)
                     : phx_fail(&e2, PHX_ENOMEM, "out of memory for parallel training");
  if (s) {
    free(all);
    return s; /* this rank's own error */
  }
  if (g) {
    free(all);
    return phx_fail(err, g, "%s", e2.msg);
  }
  for (int r = 0; r < S && !s; r++)
    if (all[r] != 0) s = phx_fail(err, (phx_status)all[r], "rank %d failed (its error says why)", r);
  free(all);
  return s;
}
