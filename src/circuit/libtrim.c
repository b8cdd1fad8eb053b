/* A model library cut down to the devices a deck uses. The sky130 library's
 * corner sections pull in every device of the process (2.5 MB of cards);
 * ngspice parses all of it before each simulation, 7 s of CPU for an
 * inverter whose two transistors need 200 kB. A deck line "*phaxcl:trim
 * NAME..." before a ".lib FILE SECTION" line asks the engine to inline
 * that section instead: its .param lines, its includes followed, only the
 * .subckt blocks named, and no top-level .model cards (the process's
 * transistors carry their cards inside their subcircuits). A name may
 * carry its device's size, "w=W l=L" in metres: inside its subcircuit only
 * the binned cards whose range holds that size are kept (a subcircuit is
 * copied for every instance, so 40 bins cost 40 times). The cards kept are
 * the library's own text, so the simulation is the same. */
#define _GNU_SOURCE /* strcasestr */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend.h"
#include "circuit.h"

enum { TRIM_DEPTH = 8, TRIM_KEEP = 8, TRIM_LINE = 4096 };

/* Where a file's line falls: copied, inside a dropped .subckt block or
 * .model card, inside a kept block, or inside a .model card of a kept
 * block (held until it ends, then written or dropped by its bin). */
typedef enum { COPY, DROP_BLOCK, DROP_CARD, KEEP_BLOCK, KEEP_CARD } trim_at;

typedef struct trim {
  char names[512];         /* the marker's words, split in place */
  const char *keep[TRIM_KEEP];
  double w[TRIM_KEEP], l[TRIM_KEEP]; /* m; 0: keep every bin */
  int nkeep, cur;          /* cur: the kept subcircuit being copied */
  char *card;              /* a .model card inside it, held back */
  size_t card_len, card_cap;
  FILE *out;
  phx_err *err;
} trim;

/* Whether line starts with the dot keyword kw (case-insensitive) and a
 * blank or its end. */
static int is_kw(const char *line, const char *kw) {
  while (*line == ' ' || *line == '\t') line++;
  size_t n = strlen(kw);
  return strncasecmp(line, kw, n) == 0 &&
         (line[n] == '\0' || isspace((unsigned char)line[n]));
}

/* The next word of *p (quotes removed) into w; 0 when none. */
static int word(const char **p, char *w, size_t len) {
  const char *s = *p;
  while (*s && isspace((unsigned char)*s)) s++;
  if (!*s) return 0;
  char q = (*s == '"' || *s == '\'') ? *s++ : 0;
  size_t i = 0;
  while (*s && (q ? *s != q : !isspace((unsigned char)*s))) {
    if (i + 1 < len) w[i++] = *s;
    s++;
  }
  if (q && *s) s++;
  w[i] = '\0';
  *p = s;
  return 1;
}

/* path relative to the folder of `from` (absolute paths as they are). */
static void relative_to(const char *from, const char *path, char *out, size_t len) {
  const char *slash = strrchr(from, '/');
  if (path[0] == '/' || !slash) snprintf(out, len, "%s", path);
  else snprintf(out, len, "%.*s/%s", (int)(slash - from), from, path);
}

static int wanted(const trim *t, const char *name) {
  for (int i = 0; i < t->nkeep; i++)
    if (!strcasecmp(name, t->keep[i])) return i;
  return -1;
}

/* The number after "key =" in a card's text, or def. */
static double card_value(const char *card, const char *key, double def) {
  const size_t n = strlen(key);
  for (const char *p = card; (p = strcasestr(p, key)) != NULL; p += n) {
    if (p > card && (isalnum((unsigned char)p[-1]) || p[-1] == '_')) continue;
    const char *q = p + n;
    while (*q == ' ' || *q == '\t') q++;
    if (*q != '=') continue;
    char *end;
    double v = strtod(q + 1, &end);
    if (end != q + 1) return v;
  }
  return def;
}

/* A held .model card of the kept subcircuit: written unless its bin
 * (lmin <= l <= lmax, wmin <= w <= wmax, in m) excludes the device's size;
 * the one ngspice picks is always among those written. */
static void flush_card(trim *t) {
  if (!t->card_len) return;
  const double w = t->w[t->cur], l = t->l[t->cur], e = 1e-9;
  int in = 1;
  if (w > 0 && l > 0)
    in = card_value(t->card, "lmin", 0) <= l * (1 + e) &&
         card_value(t->card, "lmax", 1) >= l * (1 - e) &&
         card_value(t->card, "wmin", 0) <= w * (1 + e) &&
         card_value(t->card, "wmax", 1) >= w * (1 - e);
  if (in) fwrite(t->card, 1, t->card_len, t->out);
  t->card_len = 0;
}

static int hold_card(trim *t, const char *line) {
  const size_t n = strlen(line);
  if (t->card_len + n + 1 > t->card_cap) {
    size_t cap = (t->card_len + n + 1) * 2;
    char *c = realloc(t->card, cap);
    if (!c) return phx_fail(t->err, PHX_ENOMEM, "out of memory for a model card");
    t->card = c;
    t->card_cap = cap;
  }
  memcpy(t->card + t->card_len, line, n + 1);
  t->card_len += n;
  return 0;
}

static phx_status trim_file(trim *t, const char *path, const char *section, int depth);

/* One line of a file being inlined, at *at (trim_at). */
static phx_status trim_line(trim *t, const char *path, const char *line, trim_at *at,
                            int depth) {
  const char *p = line;
  char kw[64], arg[1024], sec[64];
  const int more = line[0] == '+'; /* a continuation of the line before */
  if (*at == DROP_CARD && more) return PHX_OK;
  if (*at == DROP_CARD) *at = COPY;
  if (*at == KEEP_CARD && more) return hold_card(t, line);
  if (*at == KEEP_CARD) {
    flush_card(t);
    *at = KEEP_BLOCK;
  }
  if (*at == KEEP_BLOCK && is_kw(line, ".model")) {
    *at = KEEP_CARD;
    return hold_card(t, line);
  }
  if (*at == DROP_BLOCK || *at == KEEP_BLOCK) {
    if (*at == KEEP_BLOCK && line[0] != '*') fprintf(t->out, "%s", line);
    if (is_kw(line, ".ends")) *at = COPY;
    return PHX_OK;
  }
  if (line[0] == '*' || !word(&p, kw, sizeof kw)) return PHX_OK;
  if (!strcasecmp(kw, ".subckt")) {
    t->cur = word(&p, arg, sizeof arg) ? wanted(t, arg) : -1;
    *at = t->cur >= 0 ? KEEP_BLOCK : DROP_BLOCK;
    if (*at == KEEP_BLOCK) fprintf(t->out, "%s", line);
    return PHX_OK;
  }
  if (!strcasecmp(kw, ".model")) {
    *at = DROP_CARD;
    return PHX_OK;
  }
  if (!strcasecmp(kw, ".include") || !strcasecmp(kw, ".inc")) {
    if (!word(&p, arg, sizeof arg))
      return phx_fail(t->err, PHX_EFORMAT, "%s: .include without a file", path);
    char sub[2048];
    relative_to(path, arg, sub, sizeof sub);
    return trim_file(t, sub, NULL, depth + 1);
  }
  if (!strcasecmp(kw, ".lib")) {
    if (!word(&p, arg, sizeof arg) || !word(&p, sec, sizeof sec))
      return phx_fail(t->err, PHX_EFORMAT, "%s: .lib needs a file and a section", path);
    char sub[2048];
    relative_to(path, arg, sub, sizeof sub);
    return trim_file(t, sub, sec, depth + 1);
  }
  fprintf(t->out, "%s", line);
  return PHX_OK;
}

/* Inlines file path (only its .lib `section` when given) into t->out. */
static phx_status trim_file(trim *t, const char *path, const char *section, int depth) {
  if (depth > TRIM_DEPTH)
    return phx_fail(t->err, PHX_EFORMAT, "%s: includes nest deeper than %d", path, TRIM_DEPTH);
  FILE *f = fopen(path, "r");
  if (!f) return phx_fail(t->err, PHX_EIO, "%s: %s", path, strerror(errno));
  char *line = malloc(TRIM_LINE);
  if (!line) {
    fclose(f);
    return phx_fail(t->err, PHX_ENOMEM, "out of memory reading %s", path);
  }
  phx_status s = PHX_OK;
  int in = section == NULL, found = in;
  trim_at at = COPY;
  while (!s && fgets(line, TRIM_LINE, f)) {
    if (strlen(line) == TRIM_LINE - 1 && line[TRIM_LINE - 2] != '\n') {
      s = phx_fail(t->err, PHX_EFORMAT, "%s: a line longer than %d bytes", path, TRIM_LINE);
      break;
    }
    if (section) {
      const char *p = line;
      char kw[16], name[64];
      if (word(&p, kw, sizeof kw) && (!strcasecmp(kw, ".lib") || !strcasecmp(kw, ".endl"))) {
        int named = word(&p, name, sizeof name) && !strcasecmp(name, section);
        if (!strcasecmp(kw, ".lib") && named && !in) {
          in = found = 1;
          continue;
        }
        if (!strcasecmp(kw, ".endl") && in) break;
      }
      if (!in) continue;
    }
    s = trim_line(t, path, line, &at, depth);
  }
  if (!s && at == KEEP_CARD) flush_card(t);
  if (!s && ferror(f)) s = phx_fail(t->err, PHX_EIO, "%s: read error", path);
  if (!s && !found)
    s = phx_fail(t->err, PHX_EFORMAT, "%s: no section .lib %s", path, section);
  free(line);
  fclose(f);
  return s;
}

phx_status phx_circ_trim_deck(const char *deck, char **out, phx_err *err) {
  *out = NULL;
  if (!strstr(deck, PHX_TRIM_MARK)) return PHX_OK;
  size_t len = 0;
  trim t = {.err = err};
  t.out = open_memstream(out, &len);
  if (!t.out) return phx_fail(err, PHX_ENOMEM, "out of memory for the deck");
  phx_status s = PHX_OK;
  const char *p = deck;
  while (!s && *p) {
    const char *eol = strchr(p, '\n');
    size_t n = eol ? (size_t)(eol - p + 1) : strlen(p);
    const size_t mark = strlen(PHX_TRIM_MARK);
    if (n > mark && !strncmp(p, PHX_TRIM_MARK, mark)) {
      /* the names kept, then the .lib line it stands for */
      snprintf(t.names, sizeof t.names, "%.*s", (int)(n - mark), p + mark);
      char *save = NULL;
      t.nkeep = 0;
      for (char *w = strtok_r(t.names, " \t\r\n", &save); w;
           w = strtok_r(NULL, " \t\r\n", &save)) {
        if (!strncasecmp(w, "w=", 2) && t.nkeep) t.w[t.nkeep - 1] = strtod(w + 2, NULL);
        else if (!strncasecmp(w, "l=", 2) && t.nkeep) t.l[t.nkeep - 1] = strtod(w + 2, NULL);
        else if (t.nkeep < TRIM_KEEP) {
          t.w[t.nkeep] = t.l[t.nkeep] = 0;
          t.keep[t.nkeep++] = w;
        }
      }
      const char *lib = eol ? eol + 1 : p + n, *le = strchr(lib, '\n');
      char libline[2200], kw[16], file[2048], sec[64];
      snprintf(libline, sizeof libline, "%.*s", (int)(le ? le - lib : (long)strlen(lib)), lib);
      const char *r = libline;
      if (!word(&r, kw, sizeof kw) || strcasecmp(kw, ".lib") || !word(&r, file, sizeof file) ||
          !word(&r, sec, sizeof sec)) {
        s = phx_fail(err, PHX_EINVAL, "deck: %s not followed by a .lib line", PHX_TRIM_MARK);
        break;
      }
      fprintf(t.out, "* %s section %s, only the subcircuits", file, sec);
      for (int i = 0; i < t.nkeep; i++) fprintf(t.out, " %s", t.keep[i]);
      fprintf(t.out, " and their bins for the sizes given\n");
      s = trim_file(&t, file, sec, 0);
      p = le ? le + 1 : lib + strlen(lib);
      continue;
    }
    fwrite(p, 1, n, t.out);
    p += n;
  }
  free(t.card);
  if (fclose(t.out) && !s) s = phx_fail(err, PHX_ENOMEM, "out of memory for the deck");
  /* most of the section's parameters are for devices not kept */
  if (!s) s = phx_circ_drop_unused_params(*out, err);
  if (s) {
    free(*out);
    *out = NULL;
  }
  return s;
}
