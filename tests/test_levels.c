/* Level files (--levels-file): units, comments and line-numbered errors;
 * a list is checked (2 to PHX_MAX_LEVEL_LIST levels, ascending, inside
 * the model's [gmin, gmax], not with --levels) and survives a model file;
 * draws on it take only listed levels, the same on c and c64.
 * Usage: test_levels */
#define _XOPEN_SOURCE 700
#define TEST_UTIL_TMPDIR
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "phaxcl.h"
#include "test_util.h"

static const char *put(const char *text, size_t len) {
  const char *p = in_dir("dev.levels");
  FILE *f = fopen(p, "w");
  if (!f || fwrite(text, 1, len, f) != len || fclose(f)) exit(1);
  return p;
}

static phx_status load(const char *text, phx_variation *v, phx_err *err) {
  phx_variation_default(v);
  return phx_levels_load(put(text, strlen(text)), v, err);
}

static void refused(const char *text, const char *want) {
  phx_variation v;
  phx_err err = {PHX_OK, ""};
  const phx_status s = load(text, &v, &err);
  CHECKF(s == PHX_EFORMAT && strstr(err.msg, want) && strstr(err.msg, "dev.levels") &&
         v.nlist == 0, "'%s': %d '%s' (wanted '%s')", text, (int)s, err.msg, want);
}

int main(void) {
  if (tmpdir_make("levels")) return 1;
  phx_variation v;
  phx_err err = {PHX_OK, ""};
  must(load("# device A\nunit uS\n0.12\n0.3 # comment\n\n450nS\n0.9996uS\n", &v, &err), &err,
       "load");
  CHECK(v.nlist == 4 && v.levels == 0 && fabs(v.list[0] - 0.12e-6) < 1e-21 &&
        fabs(v.list[2] - 0.45e-6) < 1e-21 && fabs(v.list[3] - 0.9996e-6) < 1e-21);
  must(load("1.2e-7\n5e-7\n", &v, &err), &err, "plain S");
  CHECK(v.nlist == 2 && v.list[1] == 5e-7);
  refused("1.2e-7\n", "1 level, at least 2 needed");
  refused("# nothing\n", "0 levels");
  refused("1.2e-7\n1.2e-7\n", "line 2: 1.2e-07 S is not above the level before");
  refused("0.2uS\n0.1uS\n", "line 2:");
  refused("1e-7\nunit uS\n0.5\n", "line 2: expected 'unit S|mS|uS|nS' before the first level");
  refused("unit kS\n1\n2\n", "line 1: expected 'unit");
  refused("1e-7 2e-7\n", "line 1: expected one conductance");
  refused("1e-7\n-2e-7\n", "line 2: '-2e-7' is not a positive conductance");
  refused("1e-7\n0\n", "line 2: '0'");
  refused("1e-7\ninf\n", "line 2: 'inf'");
  char many[2048] = "";
  for (int i = 0; i <= PHX_MAX_LEVEL_LIST; i++)
    snprintf(many + strlen(many), sizeof many - strlen(many), "%d.0nS\n", 100 + i);
  refused(many, "line 33: more than 32 levels");
  phx_variation_default(&v);
  CHECK(phx_levels_load(put("1e-7\n\0 2e-7\n", 11), &v, &err) == PHX_EFORMAT &&
        strstr(err.msg, "line 2: a NUL byte"));

  /* checks against a model, and a model file keeps the list */
  phx_model *m = tiny_model(3, 2); /* gmin 0.12 uS, gmax 0.9996 uS */
  must(load("unit uS\n0.12\n0.2\n0.5\n0.9996\n", &v, &err), &err, "list");
  v.sigma = 0.1;
  must(phx_model_set_variation(m, &v, &err), &err, "set");
  must(phx_model_save(m, in_dir("m.st"), &err), &err, "save");
  phx_model *m2 = NULL;
  must(phx_model_load(in_dir("m.st"), &m2, &err), &err, "load model");
  const phx_variation *v2 = phx_model_get_variation(m2);
  CHECK(v2 && v2->nlist == 4 && !memcmp(v2->list, v.list, 4 * sizeof(double)) &&
        v2->sigma == 0.1);
  phx_variation both = v;
  both.levels = 8;
  CHECK(phx_model_set_variation(m, &both, &err) == PHX_EINVAL &&
        strstr(err.msg, "--levels and --levels-file exclude each other"));
  must(load("unit uS\n0.1\n0.5\n", &v, &err), &err, "low list");
  CHECK(phx_model_set_variation(m, &v, &err) == PHX_EINVAL &&
        strstr(err.msg, "level 1 (1e-07 S) is outside the model's"));

  /* a drawn chip (no spread) holds listed levels only, c and c64 alike */
  must(load("unit uS\n0.12\n0.2\n0.5\n0.9996\n", &v, &err), &err, "list");
  for (int i = 0; i < 8 * 2; i++) phx_model_theta(m, 0)[i] = (float)(i - 8) * 0.7f;
  double g[16];
  must(phx_draw_conductances(m, &v, 1, 0, 0, g, &err), &err, "draw");
  int listed = 1;
  for (int i = 0; i < 16; i++) {
    int hit = 0;
    for (int q = 0; q < v.nlist; q++) hit |= fabs(g[i] - v.list[q]) < 1e-15;
    listed &= hit;
  }
  CHECK(listed);
  phx_model_free(m);
  phx_model_free(m2);
  tmpdir_remove();
  return finish("levels");
}
