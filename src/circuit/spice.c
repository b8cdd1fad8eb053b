/* The closed loop: a test set through the netlist in ngspice against the
 * model's own outputs. The circuit is parsed once; every input source is a
 * pwl of the swept node idx, so one DC sweep solves all samples (each warm
 * started from the previous one). Where a sample has no operating point the
 * sweep stops there; it is marked and the sweep resumes after it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "circuit.h"

void phx_spice_opts_default(phx_spice_opts *o) {
  memset(o, 0, sizeof *o);
  phx_inverter_default(&o->inv);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int argmax(const double *v, int n) {
  int b = 0;
  for (int j = 1; j < n; j++)
    if (v[j] > v[b]) b = j;
  return b;
}

/* Everything one run holds, freed in one place. */
typedef struct loop {
  phx_engine *eng;
  char *deck;
  double *ref, *sim; /* n x K */
  phx_spice_sample *smp;
  const double **outs, **amp, **amn; /* vectors of one sweep */
  const float *x;                    /* the first sample's inputs */
} loop;

static void loop_free(loop *L) {
  phx_engine_close(L->eng);
  free(L->deck);
  free(L->ref);
  free(L->sim);
  free(L->smp);
  free(L->outs);
  free(L->amp);
  free(L->amn);
}

/* Reads one sweep that started at sample `start`; returns the points done. */
static int take_sweep(loop *L, const phx_model *m, int start, int n) {
  const phx_model_opts *o = phx_model_get_opts(m);
  int K = o->sizes[o->nlayers], N = o->sizes[0], len = n - start, l;
  char name[64];
  for (int j = 0; j < K; j++) {
    phx_circ_out_node(name, sizeof name, o->nlayers - 1, j, 0);
    L->outs[j] = phx_engine_vec(L->eng, name, &l);
    if (!L->outs[j]) return 0;
    if (l < len) len = l;
  }
  const double *idd = phx_engine_vec(L->eng, "vdd#branch", &l);
  if (!idd || l < len) return 0;
  const double *iss = phx_engine_vec(L->eng, "vss#branch", &l);
  if (!iss || l < len) return 0;
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "vap%d#branch", i + 1);
    L->amp[i] = phx_engine_vec(L->eng, name, &l);
    if (!L->amp[i] || l < len) return 0;
    snprintf(name, sizeof name, "van%d#branch", i + 1);
    L->amn[i] = phx_engine_vec(L->eng, name, &l);
    if (!L->amn[i] || l < len) return 0;
  }
  const float *x = L->x;
  for (int p = 0; p < len; p++) {
    int k = start + p;
    phx_spice_sample *s = &L->smp[k];
    double *sim = L->sim + (size_t)k * K;
    for (int j = 0; j < K; j++) sim[j] = L->outs[j][p];
    /* power delivered: -V I through the rails (i is into the + node), V I
     * through the 0 V ammeters that feed the rows */
    double rails = -(o->vdd / 2) * idd[p] + (o->vdd / 2) * iss[p], in = 0;
    for (int i = 0; i < N; i++) {
      double v = ((double)x[(size_t)k * N + i] - 0.5) * o->vdd;
      in += v * L->amp[i][p] - v * L->amn[i][p];
    }
    s->converged = 1;
    s->power_W = rails + in;
    s->rails_W = rails;
    s->inputs_W = in;
  }
  return len;
}

phx_status phx_spice_run(const phx_model *m, const phx_dataset *d, const phx_spice_opts *o,
                         phx_spice_result *res, phx_spice_sample *samples, double *sim_out,
                         phx_err *err) {
  const phx_model_opts *mo = phx_model_get_opts(m);
  int N = mo->sizes[0], K = mo->sizes[mo->nlayers];
  memset(res, 0, sizeof *res);
  if (phx_dataset_dim(d) != N)
    return phx_fail(err, PHX_ESHAPE, "spice: samples have %d inputs, the model expects %d",
                    phx_dataset_dim(d), N);
  const int first = o->first, total = phx_dataset_count(d);
  if (first < 0 || first >= total)
    return phx_fail(err, PHX_EINVAL, "spice: first sample %d outside the %d of the set", first,
                    total);
  int n = total - first;
  if (o->count > 0 && o->count < n) n = o->count;
  if (n < 1) return phx_fail(err, PHX_EINVAL, "spice: no samples to simulate");
  phx_inverter inv = o->inv;
  phx_status s = phx_circ_check_neuron(m, &inv, err);
  if (!s) s = phx_inverter_check(&inv, err);
  if (s) return s;

  loop L = {0};
  L.x = phx_dataset_x(d) + (size_t)first * N;
  L.ref = malloc((size_t)n * K * sizeof *L.ref);
  L.sim = malloc((size_t)n * K * sizeof *L.sim);
  L.smp = calloc((size_t)n, sizeof *L.smp);
  L.outs = malloc((size_t)K * sizeof *L.outs);
  L.amp = malloc((size_t)N * sizeof *L.amp);
  L.amn = malloc((size_t)N * sizeof *L.amn);
  size_t dlen = 0;
  FILE *f = open_memstream(&L.deck, &dlen);
  if (!L.ref || !L.sim || !L.smp || !L.outs || !L.amp || !L.amn || !f) {
    if (f) fclose(f);
    loop_free(&L);
    return phx_fail(err, PHX_ENOMEM, "out of memory for %d samples", n);
  }
  /* The deck holds one neighbour either side (the set's next sample even
   * past count) at their indices in the whole set: a pwl source's value and
   * slope at a sample depend on its neighbours and index, so every sample
   * sees what it sees in a run over the whole set. */
  const int lo = first > 0 ? first - 1 : 0, hi = first + n < total ? first + n + 1 : total;
  s = phx_circ_deck(f, m, &inv, phx_dataset_x(d) + (size_t)lo * N, hi - lo, 1, lo,
                    "closed loop");
  if (fclose(f) || s) {
    loop_free(&L);
    return phx_fail(err, PHX_ENOMEM, "out of memory writing the netlist");
  }

  double t0 = now();
  s = phx_engine_open(o->engine, o->verbose, &L.eng, err);
  if (!s) phx_engine_threads(L.eng, o->threads);
  if (!s) s = phx_engine_load(L.eng, L.deck, err);
  if (s) {
    loop_free(&L);
    return s;
  }
  snprintf(res->engine, sizeof res->engine, "%s", phx_engine_name(L.eng));
  double t1 = now();
  res->load_seconds = t1 - t0;

  char cmd[96], why[sizeof(((phx_err *)0)->msg)] = "";
  int start = 0, fails_in_row = 0;
  while (start < n) {
    /* sweeps end at multiples of o->sweep in the whole set */
    int end = n;
    if (o->sweep > 0 && ((first + start) / o->sweep + 1) * (long)o->sweep - first < n)
      end = ((first + start) / o->sweep + 1) * o->sweep - first;
    snprintf(cmd, sizeof cmd, "dc vidx %d %d 1", first + start,
             first + (end - 1 > start ? end - 1 : start + 1));
    phx_err e2 = {0};
    phx_status rs = phx_engine_run(L.eng, cmd, &e2);
    int done = take_sweep(&L, m, start, end);
    if (done == end - start) {
      start = end;
      continue;
    }
    /* a failed solve is the sample's; a broken circuit stops the run, and
     * so do ten samples in a row without a solution */
    int broken = rs && (strstr(e2.msg, "Fatal") || strstr(e2.msg, "not in the circuit") ||
                        strstr(e2.msg, "stopped"));
    fails_in_row = done ? 1 : fails_in_row + 1;
    if ((!done && broken) || fails_in_row >= 10) {
      loop_free(&L);
      if (!broken)
        return phx_fail(err, PHX_ESIM, "spice: samples %d..%d did not converge, stopping (%s)",
                        first + start + done - 9, first + start + done,
                        rs ? e2.msg : "sweep stopped");
      return phx_fail(err, PHX_ESIM, "spice: sample %d: %s", first + start, e2.msg);
    }
    if (!why[0]) snprintf(why, sizeof why, "%s", rs ? e2.msg : "sweep stopped");
    if (o->verbose)
      fprintf(stderr, "phaxcl: spice: sample %d did not converge (%s)\n", first + start + done,
              rs ? e2.msg : "sweep stopped");
    start += done + 1;
  }
  res->sim_seconds = now() - t1;

  /* the model in double per sample, then the summary */
  phx_circ_acts a;
  s = phx_circ_acts_new(mo, &a, err);
  if (s) {
    loop_free(&L);
    return s;
  }
  const int32_t *labels = phx_dataset_labels(d) + first;
  const int table = phx_model_table(m, NULL, NULL, NULL, NULL, NULL) > 0;
  for (int k = 0; k < n; k++) {
    phx_spice_sample *sp = &L.smp[k];
    sp->returned_class = -1;
    sp->returned_max_dv = sp->returned_mean_dv = NAN;
    if (table && sp->converged) { /* the return solve first: a overwritten below */
      if ((s = phx_circ_forward_returned(m, L.x + (size_t)k * N, &a, err))) {
        phx_circ_acts_free(&a);
        loop_free(&L);
        return s;
      }
      const double *rv = a.u[mo->nlayers] + 2, *sv = L.sim + (size_t)k * K;
      sp->returned_max_dv = sp->returned_mean_dv = 0;
      for (int j = 0; j < K; j++) {
        const double dv = fabs(sv[j] - rv[j]);
        sp->returned_max_dv = fmax(sp->returned_max_dv, dv);
        sp->returned_mean_dv += dv / K;
      }
      sp->returned_class = argmax(rv, K);
    }
    phx_circ_forward(m, L.x + (size_t)k * N, &a);
    double *ref = L.ref + (size_t)k * K, *sim = L.sim + (size_t)k * K;
    memcpy(ref, a.u[mo->nlayers] + 2, (size_t)K * sizeof *ref);
    sp->index = first + k;
    sp->label = labels[k];
    sp->model_class = argmax(ref, K);
    if (!sp->converged) {
      sp->sim_class = -1;
      sp->max_dv = sp->mean_dv = NAN;
      sp->power_W = sp->rails_W = sp->inputs_W = NAN;
      for (int j = 0; j < K; j++) sim[j] = NAN;
      continue;
    }
    sp->sim_class = argmax(sim, K);
    for (int j = 0; j < K; j++) {
      double dv = fabs(sim[j] - ref[j]);
      if (dv > sp->max_dv) sp->max_dv = dv;
      sp->mean_dv += dv / K;
    }
  }
  phx_circ_acts_free(&a);
  char engine[sizeof res->engine];
  snprintf(engine, sizeof engine, "%s", res->engine);
  const double load = res->load_seconds, sim_s = res->sim_seconds;
  phx_spice_summary(L.smp, n, K, res, err);
  snprintf(res->engine, sizeof res->engine, "%s", engine);
  res->load_seconds = load;
  res->sim_seconds = sim_s;
  if (samples) memcpy(samples, L.smp, (size_t)n * sizeof *samples);
  if (sim_out) memcpy(sim_out, L.sim, (size_t)n * K * sizeof *sim_out);
  loop_free(&L);
  if (res->converged == 0)
    return phx_fail(err, PHX_ESIM, "spice: no sample converged (%s)", why);
  return PHX_OK;
}

phx_status phx_spice_summary(const phx_spice_sample *smp, int n, int K, phx_spice_result *res,
                             phx_err *err) {
  if (!smp || !res || n < 1 || K < 1)
    return phx_fail(err, PHX_EINVAL, "phx_spice_summary: samples, outputs and result required");
  memset(res, 0, sizeof *res);
  double sum_dv = 0, ret_sum = 0;
  int agree = 0, right = 0, model_right = 0, ret_agree = 0, table = 0;
  for (int k = 0; k < n; k++) table |= smp[k].returned_class >= 0;
  res->returned_max_dv = res->returned_mean_dv = res->returned_agreement = NAN;
  if (table) res->returned_max_dv = 0;
  for (int k = 0; k < n; k++) {
    const phx_spice_sample *sp = &smp[k];
    model_right += sp->model_class == sp->label;
    if (!sp->converged) continue;
    if (table) {
      res->returned_max_dv = fmax(res->returned_max_dv, sp->returned_max_dv);
      ret_sum += sp->returned_mean_dv;
      ret_agree += sp->returned_class == sp->sim_class;
    }
    res->converged++;
    sum_dv += sp->mean_dv;
    if (sp->max_dv > res->max_dv) res->max_dv = sp->max_dv;
    agree += sp->sim_class == sp->model_class;
    right += sp->sim_class == sp->label;
    res->power_mean_W += sp->power_W;
    res->supply_power_W += sp->rails_W;
    res->input_power_W += sp->inputs_W;
  }
  res->count = n;
  res->outputs = K;
  res->agreement = (double)agree / n;
  res->sim_accuracy = (double)right / n;
  res->model_accuracy = (double)model_right / n;
  if (table) res->returned_agreement = (double)ret_agree / n;
  if (res->converged) {
    if (table) res->returned_mean_dv = ret_sum / res->converged;
    res->mean_dv = sum_dv / res->converged;
    res->power_mean_W /= res->converged;
    res->supply_power_W /= res->converged;
    res->input_power_W /= res->converged;
  } else {
    res->max_dv = res->mean_dv = res->power_mean_W = NAN;
  }
  return PHX_OK;
}
