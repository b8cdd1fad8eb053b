/* Monte Carlo over drawn chips: no variation gives the ideal accuracy on
 * every draw; the same seed gives the same draws on every backend (c, c64,
 * every OpenCL device) and run to run; a harder chip loses accuracy; bad
 * settings are refused naming the option.
 * Usage: test_mc DATA_DIR cpu | opencl (77 when no device). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net.h"
#include "phaxcl.h"
#include "test_util.h"

enum { DRAWS = 24 };

/* Draws and samples per backend: fewer on a simulator (Oclgrind), which
 * runs a forward pass some thousand times slower. */
static int draws = DRAWS, limit = 100;

static phx_model *trained(const phx_dataset *train) {
  phx_model_opts o;
  phx_model_opts_default(&o);
  o.sizes[1] = 20;
  phx_err err = {PHX_OK, ""};
  phx_model *m = NULL;
  must(phx_model_new(&o, &m, &err), &err, "model");
  phx_model_init(m, 3);
  phx_backend *b = NULL;
  must(phx_backend_new("c", NULL, 0, &b, &err), &err, "c");
  phx_train_opts t;
  phx_train_opts_default(&t);
  t.epochs = 5;
  must(phx_train(b, m, train, NULL, &t, NULL, &err), &err, "train");
  phx_backend_free(b);
  return m;
}

/* Every draw's accuracy on b for variation v. */
static phx_mc_result run(phx_backend *b, const phx_model *m, const phx_dataset *d,
                         const phx_variation *v, double *acc) {
  phx_mc_result r;
  phx_err err = {PHX_OK, ""};
  must(phx_monte_carlo(b, m, d, limit, v, draws, 42, &r, acc, &err), &err, "monte carlo");
  return r;
}

static void test_backend(phx_backend *b, phx_backend *c, const phx_model *m,
                         const phx_dataset *d) {
  phx_variation none, hard;
  phx_variation_default(&none);
  phx_variation_default(&hard);
  hard.levels = 8, hard.sigma = 0.2, hard.stuck_off = hard.stuck_on = 0.05;
  hard.offset_sigma = 0.01;
  double acc[DRAWS] = {0}, again[DRAWS] = {0}, ref_acc[DRAWS] = {0};
  const double ref_ideal = run(c, m, d, &hard, ref_acc).ideal;
  phx_mc_result r = run(b, m, d, &none, acc);
  int all_ideal = 1;
  for (int k = 0; k < draws; k++) all_ideal &= acc[k] == r.ideal;
  CHECKF(all_ideal && fabs(r.mean - r.ideal) < 1e-12 && r.min == r.ideal && r.std < 1e-12,
         "%s: no variation: mean %.17g ideal %.17g std %g", phx_backend_name(b), r.mean,
         r.ideal, r.std);
  CHECKF(fabs(r.ideal - ref_ideal) < 1.01 / limit, "%s: ideal %g, c says %g", phx_backend_name(b),
         r.ideal, ref_ideal);
  r = run(b, m, d, &hard, acc);
  run(b, m, d, &hard, again);
  CHECKF(memcmp(acc, again, sizeof acc) == 0, "%s: same seed, other draws", phx_backend_name(b));
  /* the same chips on every backend: a sample may flip on a float tie */
  int differ = 0;
  for (int k = 0; k < draws; k++) differ += fabs(acc[k] - ref_acc[k]) > 1.01 / limit;
  CHECKF(!differ, "%s: %d draws differ from the C path's", phx_backend_name(b), differ);
  CHECKF(r.mean < r.ideal && r.min <= r.p5 && r.p5 <= r.mean && r.mean <= r.max,
         "%s: hard chip: ideal %g mean %g min %g p5 %g max %g", phx_backend_name(b), r.ideal,
         r.mean, r.min, r.p5, r.max);
  printf("  %-6s %-40.40s ideal %.1f %%, hard chip mean %.1f %%, p5 %.1f %%\n",
         phx_backend_name(b), phx_backend_device(b), 100 * r.ideal, 100 * r.mean, 100 * r.p5);
}

/* phx_draw_conductances is the chip the backends evaluate: W S of the
 * c64 net after map_vary, draw 3, every layer. */
static void test_draw(const phx_model *m, const phx_variation *v) {
  phx_err err = {PHX_OK, ""};
  phx_backend *b = NULL;
  phx_net *net = NULL;
  must(phx_backend_new("c64", NULL, 0, &b, &err), &err, "c64");
  must(phx_net_new(b, phx_model_get_opts(m), 1, &net, &err), &err, "net");
  must(phx_net_set_theta(net, m, &err), &err, "theta");
  must(phx_net_map_vary(net, v, 42, 3, &err), &err, "map_vary");
  const phx_model_opts *o = phx_model_get_opts(m);
  double worst = 0;
  for (int l = 0; l < o->nlayers; l++) {
    const int M = o->sizes[l + 1], R = 2 * o->sizes[l] + 2;
    double *g = malloc(sizeof(double) * (size_t)M * R), *w = NULL, *sv = NULL;
    must(phx_draw_conductances(m, v, 42, 3, l, g, &err), &err, "draw");
    must(phx_net_get_map64(net, l, &w, &sv, &err), &err, "map");
    for (int j = 0; j < M; j++)
      for (int r = 0; r < R; r++)
        worst = fmax(worst, fabs(w[j * R + r] * sv[j] - g[j * R + r]) / g[j * R + r]);
    free(g);
    free(w);
    free(sv);
  }
  CHECKF(worst < 1e-12, "drawn conductances differ from the backend's chip by %.2e", worst);
  phx_net_free(net);
  phx_backend_free(b);
}

/* Neuron offsets (issue 7): a drawn model carries draw k's offsets
 * (phx_draw_offset, spread about sigma), evaluating it gives mc's draw k,
 * without offset_sigma it has none, and offset_sigma survives a save. */
static void test_offsets(const phx_model *m, const phx_dataset *d, phx_backend *c) {
  phx_err err = {PHX_OK, ""};
  phx_variation v;
  phx_variation_default(&v);
  v.offset_sigma = 0.02;
  phx_model *dm = NULL;
  must(phx_model_draw(m, &v, 42, 3, &dm, &err), &err, "draw");
  const phx_model_opts *o = phx_model_get_opts(m);
  double sq = 0, worst = 0;
  int count = 0;
  for (int l = 0; l < o->nlayers; l++) {
    const double *off = phx_model_offsets(dm, l);
    CHECKF(off != NULL, "drawn model has no offsets in layer %d", l);
    for (int j = 0; off && j < o->sizes[l + 1]; j++, count++) {
      worst = fmax(worst, fabs(off[j] - phx_draw_offset(&v, 42, 3, l, j)));
      sq += off[j] * off[j];
    }
  }
  const double rms = sqrt(sq / count);
  CHECKF(worst == 0 && rms > 0.5 * v.offset_sigma && rms < 1.5 * v.offset_sigma,
         "drawn offsets: off by %g from phx_draw_offset, rms %g V for sigma %g", worst, rms,
         v.offset_sigma);
  CHECK(phx_draw_offset(&v, 42, 4, 0, 0) != phx_draw_offset(&v, 42, 3, 0, 0));
  /* the drawn model as a chip of its own: the same accuracy as draw 3 */
  double acc[4], ideal = 0;
  phx_variation none;
  phx_variation_default(&none);
  must(phx_monte_carlo_range(c, m, d, limit, &v, 42, 3, 1, acc, NULL, &err), &err, "draw 3");
  must(phx_monte_carlo_range(c, dm, d, limit, &none, 42, 0, 1, acc + 1, &ideal, &err), &err,
       "drawn model");
  CHECKF(fabs(acc[0] - ideal) < 1.01 / limit && ideal < acc[1] + 1e-12 && ideal > acc[1] - 1e-12,
         "offsets: mc's draw 3 %g, the drawn model %g", acc[0], ideal);
  must(phx_monte_carlo_range(c, m, d, limit, &none, 42, 3, 1, acc + 2, NULL, &err), &err, "none");
  CHECKF(acc[2] != acc[0], "offsets of 20 mV changed no accuracy (%g)", acc[0]);
  phx_model_free(dm);
  must(phx_model_draw(m, &none, 42, 3, &dm, &err), &err, "draw");
  CHECK(phx_model_offsets(dm, 0) == NULL);
  /* saved with the variation, read back; refused when negative or NaN */
  must(phx_model_set_variation(dm, &v, &err), &err, "set variation");
  char path[] = "/tmp/phx_test_mc_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  phx_model *back = NULL;
  must(phx_model_save(dm, path, &err), &err, "save");
  must(phx_model_load(path, &back, &err), &err, "load");
  CHECKF(phx_model_get_variation(back) &&
             phx_model_get_variation(back)->offset_sigma == v.offset_sigma,
         "offset_sigma not read back from %s", path);
  unlink(path);
  phx_model_free(back);
  phx_variation bad = v;
  bad.offset_sigma = -1e-3;
  CHECK(phx_model_set_variation(dm, &bad, &err) == PHX_EINVAL && strstr(err.msg, "--offset-sigma"));
  bad.offset_sigma = NAN;
  CHECK(phx_variation_check(&bad, &err) == PHX_EINVAL && strstr(err.msg, "--offset-sigma"));
  phx_model_free(dm);
}

/* Variation-aware training: deterministic per seed, not the ideal run,
 * refused for lbfgs. */
static void test_aware(const phx_dataset *train, const phx_variation *v) {
  phx_model_opts o;
  phx_model_opts_default(&o);
  o.sizes[1] = 12;
  phx_err err = {PHX_OK, ""};
  phx_backend *b = NULL;
  must(phx_backend_new("c", NULL, 0, &b, &err), &err, "c");
  phx_model *m[3] = {NULL, NULL, NULL};
  for (int i = 0; i < 3; i++) {
    must(phx_model_new(&o, &m[i], &err), &err, "model");
    phx_model_init(m[i], 5);
    phx_train_opts t;
    phx_train_opts_default(&t);
    t.epochs = 2;
    t.limit = 200;
    t.vary = i < 2 ? v : NULL;
    must(phx_train(b, m[i], train, NULL, &t, NULL, &err), &err, "train");
  }
  const size_t n = (size_t)phx_model_rows(m[0], 0) * (size_t)phx_model_cols(m[0], 0);
  CHECKF(memcmp(phx_model_theta(m[0], 0), phx_model_theta(m[1], 0), n * sizeof(float)) == 0,
         "variation-aware training is not deterministic per seed");
  CHECKF(memcmp(phx_model_theta(m[0], 0), phx_model_theta(m[2], 0), n * sizeof(float)) != 0,
         "variation-aware training gave the ideal run's theta");
  phx_train_opts t;
  phx_train_opts_default(&t);
  t.optimizer = PHX_OPT_LBFGS;
  t.vary = v;
  CHECK(phx_train(b, m[0], train, NULL, &t, NULL, &err) == PHX_EINVAL && strstr(err.msg, "lbfgs"));
  for (int i = 0; i < 3; i++) phx_model_free(m[i]);
  phx_backend_free(b);
}

/* Variation-aware training with two chips per step takes the same steps
 * on b as on the C path: SGD from the same start, the change of theta
 * equal within float tolerance (relative to its largest entry). */
static void test_aware_backend(phx_backend *b, const phx_dataset *train,
                               const phx_variation *v) {
  phx_model_opts o;
  phx_model_opts_default(&o);
  o.sizes[1] = 12;
  phx_err err = {PHX_OK, ""};
  phx_backend *c = NULL;
  must(phx_backend_new("c", NULL, 0, &c, &err), &err, "c");
  phx_model *m[3] = {NULL, NULL, NULL};
  for (int i = 0; i < 3; i++) {
    must(phx_model_new(&o, &m[i], &err), &err, "model");
    phx_model_init(m[i], 5);
    if (i == 2) break; /* the start */
    phx_train_opts t;
    phx_train_opts_default(&t);
    t.optimizer = PHX_OPT_SGD;
    t.lr = 50;
    t.epochs = 1;
    t.batch = 8;
    t.limit = 24;
    t.vary = v;
    t.vary_draws = 2;
    must(phx_train(i ? b : c, m[i], train, NULL, &t, NULL, &err), &err, "aware training");
  }
  double most = 0, diff = 0;
  for (int l = 0; l < o.nlayers; l++) {
    const float *tc = phx_model_theta_const(m[0], l), *tb = phx_model_theta_const(m[1], l);
    const float *t0 = phx_model_theta_const(m[2], l);
    const size_t n = (size_t)phx_model_rows(m[0], l) * (size_t)phx_model_cols(m[0], l);
    for (size_t i = 0; i < n; i++) {
      most = fmax(most, fabs((double)tc[i] - t0[i]));
      diff = fmax(diff, fabs((double)tb[i] - tc[i]));
    }
  }
  CHECKF(most > 1e-3 && diff <= 1e-4 * most,
         "%s: variation-aware steps differ from the C path's by %.3g (largest change %.3g)",
         phx_backend_name(b), diff, most);
  for (int i = 0; i < 3; i++) phx_model_free(m[i]);
  phx_backend_free(c);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: test_mc DATA_DIR cpu|opencl\n");
    return 2;
  }
  phx_err err = {PHX_OK, ""};
  phx_dataset *train = NULL, *test = NULL;
  must(phx_dataset_load_dir(argv[1], 1, &train, &test, &err), &err, argv[1]);
  phx_model *m = trained(train);
  /* the reference: the C path */
  phx_backend *c = NULL;
  must(phx_backend_new("c", NULL, 0, &c, &err), &err, "c");
  phx_variation hard;
  phx_variation_default(&hard);
  hard.levels = 8, hard.sigma = 0.2, hard.stuck_off = hard.stuck_on = 0.05;
  hard.offset_sigma = 0.01;
  test_draw(m, &hard);
  test_aware(train, &hard);
  test_offsets(m, test, c);
  /* refusals */
  phx_variation bad = hard;
  bad.sigma = -0.1;
  phx_mc_result r;
  CHECK(phx_monte_carlo(c, m, test, 0, &bad, 2, 1, &r, NULL, &err) == PHX_EINVAL &&
        strstr(err.msg, "--sigma"));
  bad = hard, bad.stuck_off = 0.7, bad.stuck_on = 0.7;
  CHECK(phx_monte_carlo(c, m, test, 0, &bad, 2, 1, &r, NULL, &err) == PHX_EINVAL &&
        strstr(err.msg, "--stuck"));
  bad = hard, bad.levels = 1;
  CHECK(phx_monte_carlo(c, m, test, 0, &bad, 2, 1, &r, NULL, &err) == PHX_EINVAL &&
        strstr(err.msg, "--levels"));
  CHECK(phx_monte_carlo(c, m, test, 0, &hard, 0, 1, &r, NULL, &err) == PHX_EINVAL);
  if (strcmp(argv[2], "opencl") == 0) {
    int n = 0, *sim = NULL;
    char(*specs)[32] = opencl_specs(&n, &sim);
    if (!specs) return 77;
    for (int i = 0; i < n; i++) {
      phx_backend *b = NULL;
      must(phx_backend_new("opencl", specs[i], 0, &b, &err), &err, specs[i]);
      draws = sim[i] ? 3 : DRAWS;
      limit = sim[i] ? 20 : 100;
      test_backend(b, c, m, test);
      test_aware_backend(b, train, &hard);
      phx_backend_free(b);
    }
    free(specs);
    free(sim);
  } else {
    test_backend(c, c, m, test);
    phx_backend *b = NULL;
    must(phx_backend_new("c64", NULL, 0, &b, &err), &err, "c64");
    test_backend(b, c, m, test);
    test_aware_backend(b, train, &hard);
    phx_backend_free(b);
  }
  phx_backend_free(c);
  phx_model_free(m);
  phx_dataset_free(train);
  phx_dataset_free(test);
  return finish("mc");
}
