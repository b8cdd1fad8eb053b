/* phx_crossbar_power against the definition, computed here in double from
 * the model alone: a forward pass through the circuit, then the sum of
 * g (u - z)^2 over every crosspoint of every layer, per sample. On OpenCL
 * also a layer whose sum loops past 65535 iterations a work-item: equal
 * to the C path's, or refused where the device ends loops there (Mesa's
 * llvmpipe), never a wrong number.
 * Usage: test_power cpu | opencl (every device; 77 when none). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "phaxcl.h"
#include "phx_config.h"
#include "test_util.h"

enum { NS = 37 };

/* The reference: mean power per sample and per layer. */
static double ref_power(const phx_model *m, const float *x, double *per_layer) {
  const phx_model_opts *o = phx_model_get_opts(m);
  const double h = o->vdd / 2, k = o->ratio - 1;
  double total = 0;
  memset(per_layer, 0, sizeof(double) * (size_t)o->nlayers);
  for (int s = 0; s < NS; s++) {
    double u[64], next[64];
    const int N0 = o->sizes[0];
    u[0] = h, u[1] = -h;
    for (int i = 0; i < N0; i++) {
      const double v = (x[s * N0 + i] - 0.5) * o->vdd;
      u[2 + i] = v, u[2 + N0 + i] = -v;
    }
    for (int l = 0; l < o->nlayers; l++) {
      const int N = o->sizes[l], M = o->sizes[l + 1], R = 2 * N + 2;
      const float *th = phx_model_theta_const(m, l);
      next[0] = h, next[1] = -h;
      for (int j = 0; j < M; j++) {
        double S = 0, z = 0, g[64];
        for (int r = 0; r < R; r++) {
          g[r] = o->gmin * (1 + k / (1 + exp(-(double)th[j * R + r])));
          S += g[r];
          z += g[r] * u[r];
        }
        z /= S;
        for (int r = 0; r < R; r++) {
          const double p = g[r] * (u[r] - z) * (u[r] - z);
          per_layer[l] += p / NS;
          total += p;
        }
        next[2 + j] = o->c[0] + o->c[1] * tanh(o->c[3] * (z - o->c[2]));
        next[2 + M + j] = o->d[0] + o->d[1] * tanh(o->d[3] * (z - o->d[2]));
      }
      memcpy(u, next, sizeof u);
    }
  }
  return total / NS;
}

static void test_on(phx_backend *b, const phx_model *m, const phx_dataset *d, const float *x,
                    double tol) {
  double ref_l[PHX_MAX_LAYERS], got_l[PHX_MAX_LAYERS], got = 0;
  const double ref = ref_power(m, x, ref_l);
  phx_err err = {PHX_OK, ""};
  must(phx_crossbar_power(b, m, d, 0, &got, got_l, &err), &err, "power");
  double worst = fabs(got - ref) / ref;
  for (int l = 0; l < phx_model_get_opts(m)->nlayers; l++)
    worst = fmax(worst, fabs(got_l[l] - ref_l[l]) / ref_l[l]);
  printf("  %-6s %-40.40s %.6e W per inference (reference %.6e), rel err %.1e\n",
         phx_backend_name(b), phx_backend_device(b), got, ref, worst);
  CHECKF(worst <= tol, "%s: power off by %.2e relative", phx_backend_name(b), worst);
  /* a bad limit is refused */
  CHECK(phx_crossbar_power(b, m, d, -1, &got, NULL, &err) == PHX_EINVAL);
}

/* An initialised two-layer model n0-n1-n2. */
static phx_model *two_layers(int n0, int n1, int n2, uint64_t seed) {
  phx_model_opts o;
  phx_model_opts_default(&o);
  o.nlayers = 2;
  o.sizes[0] = n0, o.sizes[1] = n1, o.sizes[2] = n2;
  phx_err err = {PHX_OK, ""};
  phx_model *m = NULL;
  must(phx_model_new(&o, &m, &err), &err, "model");
  phx_model_init(m, seed);
  return m;
}

/* A 200-600-2 net: 600 columns of 402 rows, 241200 loop iterations for
 * one sample's first layer (llvmpipe unguarded: 45 % low; a 200-200
 * layer, 80400, came out right, its loops being unrolled). */
static void test_wide(phx_backend *b, const char *spec) {
  phx_err err = {PHX_OK, ""};
  phx_model *m = two_layers(200, 600, 2, 5);
  phx_dataset *d = NULL;
  phx_backend *c = NULL;
  static float x[4 * 200];
  const int32_t lab[4] = {0, 1, 0, 1};
  for (int i = 0; i < 4 * 200; i++) x[i] = (float)((i * 7919) % 101) / 100.0f;
  must(phx_dataset_new(4, 200, 2, x, lab, &d, &err), &err, "wide data");
  must(phx_backend_new("c", NULL, 0, &c, &err), &err, "c");
  double got = 0, ref = 0;
  const phx_status s = phx_crossbar_power(b, m, d, 0, &got, NULL, &err);
  must(phx_crossbar_power(c, m, d, 0, &ref, NULL, &err), &err, "wide power on c");
  if (s == PHX_ENOBACKEND && strstr(phx_backend_device(b), "llvmpipe")) {
    printf("  wide layer refused on %s: %s\n", spec, err.msg);
    CHECKF(strstr(err.msg, "65535") != NULL, "%s: refusal names the limit: %s", spec,
           err.msg);
  } else {
    CHECKF(s == PHX_OK, "%s: wide power: %s", spec, err.msg);
    printf("  wide layer %.6e W (c %.6e), rel err %.1e\n", got, ref, fabs(got - ref) / ref);
    CHECKF(s || fabs(got - ref) <= 1e-4 * ref, "%s: wide power %.6e, c %.6e", spec, got, ref);
  }
  phx_backend_free(c);
  phx_dataset_free(d);
  phx_model_free(m);
}

int main(int argc, char **argv) {
  const int opencl = argc > 1 && strcmp(argv[1], "opencl") == 0;
  phx_err err = {PHX_OK, ""};
  phx_model *m = two_layers(6, 5, 3, 11);
  float x[NS * 6];
  int32_t lab[NS];
  for (int i = 0; i < NS * 6; i++) x[i] = (float)((i * 7919) % 101) / 100.0f;
  for (int i = 0; i < NS; i++) lab[i] = i % 3;
  phx_dataset *d = NULL;
  must(phx_dataset_new(NS, 6, 3, x, lab, &d, &err), &err, "data");
  if (!opencl) {
    const char *names[] = {"c", "c64"};
    const double tol[] = {1e-5, 1e-10};
    for (int i = 0; i < 2; i++) {
      phx_backend *b = NULL;
      must(phx_backend_new(names[i], NULL, 0, &b, &err), &err, names[i]);
      test_on(b, m, d, x, tol[i]);
      phx_backend_free(b);
    }
  } else {
    int n = 0;
    char(*specs)[32] = opencl_specs(&n, NULL);
    if (!specs) {
      phx_model_free(m);
      phx_dataset_free(d);
      return 77;
    }
    for (int i = 0; i < n; i++) {
      phx_backend *b = NULL;
      must(phx_backend_new("opencl", specs[i], 0, &b, &err), &err, specs[i]);
      test_on(b, m, d, x, 1e-4);
      test_wide(b, specs[i]);
      phx_backend_free(b);
    }
    free(specs);
  }
  phx_model_free(m);
  phx_dataset_free(d);
  return finish("power");
}
