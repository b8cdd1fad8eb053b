/* A trimmed deck's unused top-level .param definitions taken out. The
 * sky130 corner section defines about 1700 parameters for every device of
 * the process; an inverter's two transistors use 70. ngspice matches every
 * top-level line against every parameter name while ordering them (with the
 * network's 40000 crossbar resistors, 2.1 of the deck's 2.7 s parse), so
 * the parameters nothing refers to, directly or through other parameters,
 * are dropped. A definition that draws a random number (AGAUSS ...) stays:
 * ngspice draws at parse time, and the draws of vtc --mc must come in the
 * same order, and a deck that seeds them (".options seed=", vtc --mc)
 * is left whole: ngspice's order of evaluation, and so which parameter
 * gets which draw, depends on the parameters around them (measured: the
 * mismatch offsets changed). Only lines holding exactly one "NAME = VALUE" are dropped;
 * anything else is left as it is and its words count as uses. */
#define _GNU_SOURCE /* strcasestr */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend.h"
#include "circuit.h"

enum { NAME_MAX_LEN = 128 };

/* One droppable definition: its line and name. */
typedef struct pdef {
  size_t line;
  const char *name; /* into the deck, len bytes */
  size_t len;
  const char *value, *value_end;
  int used;
} pdef;

typedef struct lines {
  const char **at;
  size_t *len, n;
} lines;

static int is_id0(int c) { return isalpha(c) || c == '_'; }
static int is_id(int c) { return isalnum(c) || c == '_'; }

/* Whether s (len bytes) starts with keyword kw and then a blank or its end. */
static int starts_kw(const char *s, size_t len, const char *kw) {
  size_t n = strlen(kw);
  return len >= n && !strncasecmp(s, kw, n) && (len == n || isspace((unsigned char)s[n]));
}

static int cmp_name(const char *a, size_t na, const char *b, size_t nb) {
  size_t n = na < nb ? na : nb;
  int c = strncasecmp(a, b, n);
  return c ? c : (na > nb) - (na < nb);
}

static int cmp_def(const void *x, const void *y) {
  const pdef *a = x, *b = y;
  return cmp_name(a->name, a->len, b->name, b->len);
}

/* A line (after ".param" or "+") that is one definition: NAME = VALUE,
 * VALUE without '=' and with balanced brackets, up to a ';' comment. */
static int one_def(const char *p, const char *end, pdef *d) {
  while (p < end && isspace((unsigned char)*p)) p++;
  if (p >= end || !is_id0((unsigned char)*p)) return 0;
  d->name = p;
  while (p < end && is_id((unsigned char)*p)) p++;
  d->len = (size_t)(p - d->name);
  while (p < end && isspace((unsigned char)*p)) p++;
  if (p >= end || *p != '=' || d->len >= NAME_MAX_LEN) return 0;
  d->value = ++p;
  int depth = 0;
  for (; p < end && *p != ';'; p++) {
    if (*p == '=' || depth < 0) return 0;
    depth += (*p == '{' || *p == '(') - (*p == '}' || *p == ')');
  }
  d->value_end = p;
  if (depth) return 0;
  /* ngspice's random functions draw when the value is evaluated */
  static const char *const RANDOM[] = {"gauss", "unif", "limit", "rand", "poisson", "sexp"};
  char v[512];
  size_t n = (size_t)(p - d->value);
  if (n >= sizeof v) return 0;
  memcpy(v, d->value, n);
  v[n] = '\0';
  for (size_t i = 0; i < sizeof RANDOM / sizeof *RANDOM; i++)
    if (strcasestr(v, RANDOM[i])) return 0;
  return 1;
}

/* Marks the definitions named by the words of [p, end) used; newly used
 * ones are pushed on the work stack. */
static void mark_words(const char *p, const char *end, pdef *defs, size_t nd, size_t *stack,
                       size_t *top) {
  while (p < end) {
    if (!is_id0((unsigned char)*p)) {
      /* a number's exponent or a name's tail is not a word of its own */
      const int inside = is_id((unsigned char)*p) || *p == '.';
      p++;
      while (inside && p < end && is_id((unsigned char)*p)) p++;
      continue;
    }
    const char *w = p;
    while (p < end && is_id((unsigned char)*p)) p++;
    pdef key = {.name = w, .len = (size_t)(p - w)};
    pdef *hit = bsearch(&key, defs, nd, sizeof *defs, cmp_def);
    if (!hit) continue;
    while (hit > defs && !cmp_def(hit - 1, &key)) hit--; /* the first of a redefined name */
    for (; hit < defs + nd && !cmp_def(hit, &key); hit++)
      if (!hit->used) {
        hit->used = 1;
        stack[(*top)++] = (size_t)(hit - defs);
      }
  }
}

/* Whether an .options line (len bytes) sets the random seed. */
static int has_seed(const char *p, size_t len) {
  for (size_t i = 0; i + 4 <= len; i++)
    if (!strncasecmp(p + i, "seed", 4)) return 1;
  return 0;
}

static phx_status split_lines(const char *deck, lines *L, phx_err *err) {
  size_t n = 1;
  for (const char *p = deck; *p; p++) n += *p == '\n';
  L->at = malloc(n * sizeof *L->at);
  L->len = malloc(n * sizeof *L->len);
  if (!L->at || !L->len) return phx_fail(err, PHX_ENOMEM, "out of memory for the deck");
  L->n = 0;
  for (const char *p = deck; *p;) {
    const char *eol = strchr(p, '\n');
    size_t len = eol ? (size_t)(eol - p) : strlen(p);
    L->at[L->n] = p;
    L->len[L->n++] = len;
    p += len + (eol != NULL);
  }
  return PHX_OK;
}

/* Whether line i's statement goes on: its next line that is not blank or
 * a comment starts with '+'. */
static int continued(const lines *L, size_t i) {
  for (size_t k = i + 1; k < L->n; k++) {
    const char *p = L->at[k], *end = p + L->len[k];
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    if (p < end && *p != '*') return *p == '+';
  }
  return 0;
}

phx_status phx_circ_drop_unused_params(char *deck, phx_err *err) {
  lines L = {0};
  pdef *defs = NULL;
  size_t *stack = NULL;
  char *keep = NULL;
  phx_status s = split_lines(deck, &L, err);
  if (!s) {
    defs = malloc((L.n + 1) * sizeof *defs);
    stack = malloc((L.n + 1) * sizeof *stack);
    keep = malloc(L.n + 1);
    if (!defs || !stack || !keep) s = phx_fail(err, PHX_ENOMEM, "out of memory for the deck");
  }
  size_t nd = 0, top = 0;
  /* the droppable definitions: top level, outside .control blocks */
  int depth = 0, control = 0, in_param = 0;
  for (size_t i = 0; !s && i < L.n; i++) {
    const char *p = L.at[i], *end = p + L.len[i];
    keep[i] = 1;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    const size_t len = (size_t)(end - p);
    if (p == end || *p == '*') continue; /* ngspice skips these inside a statement */
    if (starts_kw(p, len, ".subckt")) depth++;
    else if (starts_kw(p, len, ".ends") && depth > 0) depth--;
    else if (starts_kw(p, len, ".control")) control = 1;
    else if (starts_kw(p, len, ".endc")) control = 0;
    if ((starts_kw(p, len, ".options") || starts_kw(p, len, ".option")) && has_seed(p, len)) {
      nd = 0; /* drawn numbers: every parameter stays */
      break;
    }
    const int param = starts_kw(p, len, ".param");
    if (*p != '+') in_param = param && !depth && !control;
    if (!in_param || (!param && *p != '+')) continue;
    pdef d = {.line = i};
    if (one_def(p + (param ? 6 : 1), end, &d)) {
      defs[nd++] = d;
      keep[i] = 0;
    }
  }
  if (!s && nd) {
    qsort(defs, nd, sizeof *defs, cmp_def);
    /* uses: every other line's words, then the definitions they use */
    for (size_t i = 0; i < L.n; i++) {
      const char *p = L.at[i];
      while (p < L.at[i] + L.len[i] && (*p == ' ' || *p == '\t')) p++;
      if (keep[i] && *p != '*') mark_words(p, L.at[i] + L.len[i], defs, nd, stack, &top);
    }
    while (top > 0) {
      const pdef *d = &defs[stack[--top]];
      mark_words(d->value, d->value_end, defs, nd, stack, &top);
    }
    for (size_t k = 0; k < nd; k++) keep[defs[k].line] = (char)defs[k].used;
    /* the lines kept, in place; a dropped ".param NAME = V" that heads
     * continuation lines leaves its ".param" */
    char *w = deck;
    for (size_t i = 0; i < L.n; i++) {
      const char *p = L.at[i];
      size_t n = L.len[i];
      const int newline = p[n] == '\n'; /* the last line may have none */
      if (!keep[i]) {
        while (*p == ' ' || *p == '\t') p++;
        if (strncasecmp(p, ".param", 6) || !continued(&L, i)) continue;
        n = 6;
      }
      memmove(w, p, n);
      w += n;
      if (newline) *w++ = '\n';
    }
    *w = '\0';
  }
  free(L.at);
  free(L.len);
  free(defs);
  free(stack);
  free(keep);
  return s;
}
