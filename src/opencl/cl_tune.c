/* Per-device choices and CLBlast parameters from data/clblast/ (format in
 * cl_tune.h; CLBlast lines are written by tools/tune_clblast.py), chosen
 * with fallbacks by device, vendor and type, and CLBlast's per-device
 * overrides kept from leaking between backend instances. */
#include <clblast_c.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_tune.h"

#define TUNE_MAX_PARAMS 32

/* Copies the next whitespace-separated word of *s into w (size n). */
static int next_word(const char **s, char *w, size_t n) {
  const char *p = *s;
  while (*p == ' ' || *p == '\t' || *p == '\r') p++;
  size_t len = 0;
  while (p[len] && p[len] != ' ' && p[len] != '\t' && p[len] != '\r' && p[len] != '\n') len++;
  if (len == 0 || len >= n) return 0;
  memcpy(w, p, len);
  w[len] = 0;
  *s = p + len;
  return 1;
}

/* Applies one "Kernel NAME=VALUE ..." line; 1 on success. */
static int apply_line(const phx_cl_dev *d, const char *line, int verbose, const char *src) {
  char kernel[64], words[TUNE_MAX_PARAMS][64];
  const char *names[TUNE_MAX_PARAMS];
  size_t values[TUNE_MAX_PARAMS], n = 0;
  if (!next_word(&line, kernel, sizeof kernel)) return 0;
  while (n < TUNE_MAX_PARAMS && next_word(&line, words[n], sizeof words[n])) {
    char *eq = strchr(words[n], '='), *end = NULL;
    if (!eq) return 0;
    *eq = 0;
    unsigned long v = strtoul(eq + 1, &end, 10);
    if (end == eq + 1 || *end) return 0;
    if (strcmp(words[n], "PRECISION") == 0) continue; /* implied by the call */
    names[n] = words[n];
    values[n] = (size_t)v;
    n++;
  }
  CLBlastStatusCode st = CLBlastOverrideParameters(d->device, kernel, CLBlastPrecisionSingle,
                                                   n, names, values);
  if (st != CLBlastSuccess) {
    if (verbose > 0)
      fprintf(stderr, "phaxcl: opencl: CLBlast refused %s parameters from %s (status %d)\n",
              kernel, src, (int)st);
    return 0;
  }
  return 1;
}

/* The next line of *p into line (comment cut, blanks trimmed at both
 * ends); returns its start, or NULL past the end. *p advances. */
static const char *next_line(const char **p, char *line, size_t size, const char **start) {
  if (!*p || !**p) return NULL;
  const char *eol = strchr(*p, '\n');
  size_t len = eol ? (size_t)(eol - *p) : strlen(*p);
  if (start) *start = *p;
  if (len >= size) len = size - 1;
  memcpy(line, *p, len);
  line[len] = 0;
  *p = eol ? eol + 1 : NULL;
  char *hash = strchr(line, '#');
  if (hash) *hash = 0, len = (size_t)(hash - line);
  while (len && (line[len - 1] == ' ' || line[len - 1] == '\r' || line[len - 1] == '\t'))
    line[--len] = 0;
  const char *l = line;
  while (*l == ' ' || *l == '\t') l++;
  return l;
}

/* Case-insensitive substring test. */
static int has_text(const char *hay, const char *needle) {
  const size_t n = strlen(needle);
  for (; *hay; hay++) {
    size_t i = 0;
    while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
      i++;
    if (i == n) return 1;
  }
  return n == 0;
}

/* How well a section selector fits d: 4 its exact name, 3 type and
 * vendor, 2 type, 1 ANY with a vendor, 0 ANY; -1 no match. */
static int selector_rank(const phx_cl_dev *d, const char *l) {
  if (strncmp(l, "device ", 7) == 0) return strcmp(l + 7, d->dname) == 0 ? 4 : -1;
  if (strncmp(l, "match ", 6) != 0) return -2; /* not a selector */
  char word[160];
  const char *p = l + 6;
  int any = 0, type_ok = 0, vendor = -1;
  while (next_word(&p, word, sizeof word)) {
    if (strncmp(word, "type=", 5) == 0) {
      const char *t = word + 5;
      any = strcmp(t, "ANY") == 0;
      type_ok = any || (strcmp(t, "CPU") == 0 && d->cls == PHX_CL_CPU) ||
                (strcmp(t, "GPU") == 0 && d->cls == PHX_CL_GPU) ||
                (strcmp(t, "ACCELERATOR") == 0 && d->cls == PHX_CL_ACCEL) ||
                (strcmp(t, "SIMULATOR") == 0 && d->cls == PHX_CL_SIMULATOR);
    } else if (strncmp(word, "vendor=", 7) == 0) {
      vendor = has_text(d->dvendor, word + 7) || has_text(d->pname, word + 7);
    }
  }
  if (!type_ok || vendor == 0) return -1;
  return (any ? 0 : 2) + (vendor == 1);
}

/* What the search keeps: the best rank seen per choice. */
typedef struct tune_pick {
  int gemm, gv, wg;
  int rank_gemm, rank_gv, rank_wg, rank_cl;
  int konst[PHX_CK_COUNT], rank_konst[PHX_CK_COUNT];
  const char *cl_text; /* first CLBlast line of the best section */
  const char *cl_src;
} tune_pick;

/* Reads one "phaxcl key=value ..." line into the pick at rank r. */
static void take_choices(tune_pick *k, const char *l, int r, int verbose, const char *src) {
  char word[64];
  const char *p = l + 7;
  while (next_word(&p, word, sizeof word)) {
    const char *v = strchr(word, '=');
    int ok = v != NULL;
    if (ok && strncmp(word, "gemm=", 5) == 0) {
      ok = strcmp(v + 1, "own") == 0 || strcmp(v + 1, "clblast") == 0;
      if (ok && r > k->rank_gemm) k->gemm = strcmp(v + 1, "own") == 0, k->rank_gemm = r;
    } else if (ok && strncmp(word, "gv=", 3) == 0) {
      const int g = strcmp(v + 1, "native") == 0 ? 0 : atoi(v + 1);
      ok = g == 0 || g == 1 || g == 8 || g == 16;
      if (ok && r > k->rank_gv) k->gv = g, k->rank_gv = r;
    } else if (ok && strncmp(word, "wg=", 3) == 0) {
      const int w = atoi(v + 1);
      ok = w >= 1 && w <= 1024 && (w & (w - 1)) == 0;
      if (ok && r > k->rank_wg) k->wg = w, k->rank_wg = r;
    } else {
      ok = 0;
#define PHX_CL_CONST_TAKE(macro, key, def, lo, hi)                              \
  if (v && (size_t)(v - word) == strlen(#key) && strncmp(word, #key, strlen(#key)) == 0) { \
    const int x = atoi(v + 1);                                                  \
    ok = x >= lo && x <= hi;                                                    \
    if (ok && r > k->rank_konst[PHX_CK_##key])                                  \
      k->konst[PHX_CK_##key] = x, k->rank_konst[PHX_CK_##key] = r;              \
  }
      PHX_CL_CONSTS(PHX_CL_CONST_TAKE)
#undef PHX_CL_CONST_TAKE
    }
    if (!ok && verbose > 0)
      fprintf(stderr, "phaxcl: opencl: unknown choice '%s' in %s\n", word, src);
  }
}

/* Scans one file's sections for d (rank offset bias puts a user's file
 * ahead of the stored ones). */
static void scan(const phx_cl_dev *d, const char *text, const char *src, int bias, int with_cl,
                 int verbose, tune_pick *k) {
  int rank = -1;
  char line[1024];
  const char *p = text, *l, *line_start = NULL;
  while ((l = next_line(&p, line, sizeof line, &line_start))) {
    if (!*l) continue;
    const int r = selector_rank(d, l);
    if (r != -2) {
      rank = r < 0 ? -1 : r + bias;
      continue;
    }
    if (rank < 0) continue;
    if (strncmp(l, "phaxcl ", 7) == 0) {
      take_choices(k, l, rank, verbose, src);
    } else if (with_cl && rank > k->rank_cl) {
      k->rank_cl = rank;
      k->cl_text = line_start;
      k->cl_src = src;
    }
  }
}

/* The CLBlast lines of the section that starts at text: up to the next
 * selector. Caller frees. */
static char *section_lines(const char *text) {
  const char *end = text;
  while (*end) {
    const char *l = end;
    while (*l == ' ' || *l == '\t') l++;
    if (end != text && (strncmp(l, "device ", 7) == 0 || strncmp(l, "match ", 6) == 0)) break;
    const char *eol = strchr(end, '\n');
    end = eol ? eol + 1 : end + strlen(end);
  }
  char *s = malloc((size_t)(end - text) + 1);
  if (!s) return NULL;
  memcpy(s, text, (size_t)(end - text));
  s[end - text] = 0;
  return s;
}

/* Reads a small text file (caller frees); NULL when unreadable. */
static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *s = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long n = ftell(f);
    if (n >= 0 && n < (1L << 20) && fseek(f, 0, SEEK_SET) == 0 && (s = malloc((size_t)n + 1))) {
      if (fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
      } else {
        s[n] = 0;
      }
    }
  }
  fclose(f);
  return s;
}

void phx_cl_tune_choose(const phx_cl_dev *d, const char *params, int verbose,
                        phx_cl_tuning *t) {
  memset(t, 0, sizeof *t);
  tune_pick k = {0, 0, 64, -1, -1, -1, -1, {0}, {0}, NULL, NULL};
#define PHX_CL_CONST_DEF(macro, key, def, lo, hi) \
  k.konst[PHX_CK_##key] = def, k.rank_konst[PHX_CK_##key] = -1;
  PHX_CL_CONSTS(PHX_CL_CONST_DEF)
#undef PHX_CL_CONST_DEF
  char *user = NULL;
  const int want_cl = !(params && strcmp(params, "0") == 0);
  if (params && *params && want_cl) {
    user = slurp(params);
    if (!user && verbose > 0)
      fprintf(stderr, "phaxcl: opencl: cannot read CLBlast parameters %s\n", params);
    if (user) scan(d, user, params, 10, 1, verbose, &k);
  }
  /* a user's file with no section for d falls back to the stored ones */
  for (int i = 0; i < phx_clblast_nfiles; i++)
    scan(d, phx_clblast_files[i].text, phx_clblast_files[i].name, 0, want_cl && k.rank_cl < 0,
         verbose, &k);
  t->gemm = k.gemm;
  t->wg = k.wg;
  memcpy(t->konst, k.konst, sizeof t->konst);
  /* native: vectors only where the hardware has them (the scalar form suits
   * GPUs, and Oclgrind's uninitialised-value checker crashes on wide ones) */
  t->gv = k.gv ? k.gv : d->native_float >= 16 ? 16 : d->native_float >= 8 ? 8 : 1;
  if (k.cl_text) {
    t->clblast = section_lines(k.cl_text);
    snprintf(t->source, sizeof t->source, "%s", k.cl_src);
  }
  free(user);
}

void phx_cl_tuning_free(phx_cl_tuning *t) {
  if (!t) return;
  free(t->clblast);
  t->clblast = NULL;
}

/* The one piece of process-wide state (documented in phaxcl.h): which
 * backend instance last set CLBlast's parameters on each device, and
 * whether any instance has overridden them at all. */
#define TUNE_DEVICES 64
static pthread_mutex_t tune_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  cl_device_id dev;
  const void *owner;
  int overridden;
} tune_owner[TUNE_DEVICES];

/* The registry slot of a device (created on first use); NULL when full. */
static int tune_slot(cl_device_id dev) {
  int free_slot = -1;
  for (int i = 0; i < TUNE_DEVICES; i++) {
    if (tune_owner[i].dev == dev) return i;
    if (!tune_owner[i].dev && free_slot < 0) free_slot = i;
  }
  if (free_slot >= 0) tune_owner[free_slot].dev = dev;
  return free_slot;
}

int phx_cl_tune_claim(const phx_cl_dev *d, const void *owner, const phx_cl_tuning *t,
                      int verbose) {
  pthread_mutex_lock(&tune_lock);
  const int i = tune_slot(d->device);
  int ok = 1;
  if (i < 0) {
    ok = !t->clblast; /* more devices than slots: only CLBlast's own is safe */
  } else if (tune_owner[i].owner != owner) {
    if (t->clblast) {
      int applied = 0;
      char line[1024];
      const char *p = t->clblast, *l;
      while ((l = next_line(&p, line, sizeof line, NULL))) {
        if (!*l || strncmp(l, "device ", 7) == 0 || strncmp(l, "match ", 6) == 0 ||
            strncmp(l, "phaxcl ", 7) == 0)
          continue;
        if (apply_line(d, l, verbose, t->source)) applied++;
        else if (verbose > 0)
          fprintf(stderr, "phaxcl: opencl: bad CLBlast parameter line in %s: %s\n", t->source, l);
      }
      if (applied) tune_owner[i].overridden = 1;
      if (applied && verbose > 0)
        fprintf(stderr, "phaxcl: opencl: CLBlast parameters for %s from %s (%d kernels)\n",
                d->dname, t->source, applied);
    } else {
      ok = !tune_owner[i].overridden;
    }
    if (ok) tune_owner[i].owner = owner;
  }
  pthread_mutex_unlock(&tune_lock);
  return ok;
}

void phx_cl_tune_release(const phx_cl_dev *d, const void *owner) {
  pthread_mutex_lock(&tune_lock);
  for (int i = 0; i < TUNE_DEVICES; i++)
    if (tune_owner[i].dev == d->device && tune_owner[i].owner == owner) tune_owner[i].owner = NULL;
  pthread_mutex_unlock(&tune_lock);
}
