/* CLBlast parameter files: a line "device NAME" names the OpenCL device
 * (CL_DEVICE_NAME, exact), then one line per CLBlast kernel family,
 * "Kernel NAME=VALUE ...", e.g. "XgemmDirect WGD=32 MDIMCD=16 ...".
 * '#' starts a comment. Written by tools/tune_clblast.py. */
#include <clblast_c.h>
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

/* Applies text when its device line names d; the number of kernels set. */
static int apply_text(const phx_cl_dev *d, const char *text, int verbose, const char *src) {
  int matched = 0, applied = 0;
  for (const char *p = text; p && *p;) {
    const char *eol = strchr(p, '\n');
    size_t len = eol ? (size_t)(eol - p) : strlen(p);
    char line[1024];
    if (len >= sizeof line) len = sizeof line - 1;
    memcpy(line, p, len);
    line[len] = 0;
    p = eol ? eol + 1 : NULL;
    char *hash = strchr(line, '#');
    if (hash) *hash = 0;
    while (len && (line[len - 1] == ' ' || line[len - 1] == '\r' || line[len - 1] == '\t'))
      line[--len] = 0;
    const char *l = line;
    while (*l == ' ' || *l == '\t') l++;
    if (!*l) continue;
    if (strncmp(l, "device ", 7) == 0) {
      matched = strcmp(l + 7, d->dname) == 0;
      continue;
    }
    if (!matched) continue;
    if (apply_line(d, l, verbose, src)) applied++;
    else if (verbose > 0)
      fprintf(stderr, "phaxcl: opencl: bad CLBlast parameter line in %s: %s\n", src, l);
  }
  if (applied && verbose > 0)
    fprintf(stderr, "phaxcl: opencl: CLBlast parameters for %s from %s (%d kernels)\n",
            d->dname, src, applied);
  return applied;
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

int phx_cl_tune_apply(const phx_cl_dev *d, int verbose) {
  const char *env = getenv("PHAXCL_CLBLAST_PARAMS");
  if (env && strcmp(env, "0") == 0) return 0;
  if (env && *env) {
    char *text = slurp(env);
    if (!text) {
      if (verbose > 0)
        fprintf(stderr, "phaxcl: opencl: cannot read PHAXCL_CLBLAST_PARAMS=%s\n", env);
      return 0;
    }
    int n = apply_text(d, text, verbose, env);
    free(text);
    return n;
  }
  int n = 0;
  for (int i = 0; i < phx_clblast_nfiles && !n; i++)
    n = apply_text(d, phx_clblast_files[i].text, verbose, phx_clblast_files[i].name);
  return n;
}
