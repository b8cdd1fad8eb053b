/* Regular-file opening and atomic replacement for src/io (see file.h). */
#define _GNU_SOURCE /* O_TMPFILE */
#include "file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

phx_status phx_file_open_regular(const char *path, int *fd, phx_err *err) {
  *fd = -1;
  /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
   * writer forever; fstat then tells what was opened. */
  int f = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (f < 0) return phx_fail(err, PHX_EIO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(f, &st) != 0) {
    int e = errno;
    close(f);
    return phx_fail(err, PHX_EIO, "%s: cannot stat: %s", path, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(f);
    const char *what = S_ISDIR(st.st_mode)    ? "a folder"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                       : S_ISBLK(st.st_mode)  ? "a block device"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "not a regular file";
    return phx_fail(err, PHX_EIO, "%s: is %s, not a regular file", path, what);
  }
  int fl = fcntl(f, F_GETFL);
  if (fl < 0 || fcntl(f, F_SETFL, fl & ~O_NONBLOCK) != 0) {
    int e = errno;
    close(f);
    return phx_fail(err, PHX_EIO, "%s: %s", path, strerror(e));
  }
  *fd = f;
  return PHX_OK;
}

/* The folder holding path ("." when it has none). */
static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return strdup(".");
  if (slash == path) return strdup("/");
  size_t n = (size_t)(slash - path);
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, path, n);
    d[n] = 0;
  }
  return d;
}

phx_status phx_file_lines(const char *path, const char *opt, phx_file_line_fn line, void *ctx,
                          phx_err *err) {
  int fd = -1;
  phx_status s = phx_file_open_regular(path, &fd, err);
  if (s) return s;
  FILE *fp = fdopen(fd, "r");
  if (!fp) {
    close(fd);
    return phx_fail(err, PHX_EIO, "%s %s: %s", opt, path, strerror(errno));
  }
  char *buf = NULL;
  size_t cap = 0;
  ssize_t len;
  for (int n = 1; !s && (len = getline(&buf, &cap, fp)) >= 0; n++) {
    if (n == 100000000) s = phx_fail(err, PHX_EFORMAT, "%s: too many lines", path);
    else if (strlen(buf) != (size_t)len)
      s = phx_fail(err, PHX_EFORMAT, "%s: line %d: a NUL byte (not a text file?)", path, n);
    if (s) break;
    char *hash = strchr(buf, '#');
    if (hash) *hash = '\0';
    s = line(buf, n, ctx, err);
  }
  if (!s && ferror(fp)) s = phx_fail(err, PHX_EIO, "%s %s: read error", opt, path);
  free(buf);
  fclose(fp);
  return s;
}

#define TMP_SUFFIX ".tmp."
#define TMP_RANDOM 6 /* characters after TMP_SUFFIX, as mkstemp's XXXXXX */

static int is_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Removes base.tmp.XXXXXX regular files in dir: temps of this target left
 * by a run killed between creating and renaming them. */
static void clean_stale(const char *dir, const char *base) {
  DIR *d = opendir(dir);
  if (!d) return;
  size_t bl = strlen(base), sl = strlen(TMP_SUFFIX);
  struct dirent *e;
  while ((e = readdir(d))) {
    const char *n = e->d_name;
    if (strlen(n) != bl + sl + TMP_RANDOM || strncmp(n, base, bl) != 0 ||
        strncmp(n + bl, TMP_SUFFIX, sl) != 0)
      continue;
    int ok = 1;
    for (int i = 0; i < TMP_RANDOM; i++) ok = ok && is_alnum(n[bl + sl + (size_t)i]);
    struct stat st;
    if (ok && fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
      (void)unlinkat(dirfd(d), n, 0);
  }
  closedir(d);
}

/* A fresh path.tmp.XXXXXX name in tmp (which has room for it). */
static void random_name(char *tmp, size_t plen, unsigned long long *state) {
  static const char al[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  /* splitmix64 step: names only need to differ, not to be secret. */
  unsigned long long z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  char *p = tmp + plen + strlen(TMP_SUFFIX);
  for (int i = 0; i < TMP_RANDOM; i++, z /= 62) p[i] = al[z % 62];
  p[TMP_RANDOM] = 0;
}

/* Gives the unnamed file fd the name tmp (a fresh random one); 0 or errno. */
static int link_tmpfile(int fd, char *tmp, size_t plen) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  unsigned long long st = (unsigned long long)ts.tv_nsec ^
                          ((unsigned long long)ts.tv_sec << 20) ^
                          ((unsigned long long)getpid() << 40);
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  for (int tries = 0; tries < 100; tries++) {
    random_name(tmp, plen, &st);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0) return 0;
    if (errno == EEXIST) continue;
#ifdef AT_EMPTY_PATH
    /* Without /proc; needs CAP_DAC_READ_SEARCH, so usually the last try. */
    if (linkat(fd, "", AT_FDCWD, tmp, AT_EMPTY_PATH) == 0) return 0;
#endif
    return errno ? errno : EIO;
  }
  return EEXIST;
}

/* Runs write on fd, then flush and fsync; 0 or errno. Leaves f open. */
static int fill(FILE *f, phx_file_writer write, const void *ctx) {
  errno = 0;
  int e = write(f, ctx);
  if (!e && fflush(f) != 0) e = errno ? errno : EIO;
  if (!e && fsync(fileno(f)) != 0) e = errno;
  return e;
}

/* Writes the content into a temp file that ends up named tmp: unnamed
 * until complete when unnamed is set, else a named mkstemp file. *named
 * tells whether tmp now exists. 0, -1 when unnamed files are not
 * available here (nothing was created), or errno. */
static int write_temp(const char *dir, char *tmp, size_t plen, mode_t mode, int unnamed,
                      phx_file_writer write, const void *ctx, int *named) {
  int fd = -1;
  *named = 0;
  if (unnamed) {
#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
#endif
    if (fd < 0) return -1; /* old kernel, or a file system without it */
  } else {
    memcpy(tmp + plen + strlen(TMP_SUFFIX), "XXXXXX", TMP_RANDOM + 1);
    fd = mkstemp(tmp);
    if (fd < 0) return errno;
    *named = 1;
  }
  (void)fchmod(fd, mode);
  FILE *f = fdopen(fd, "wb");
  if (!f) {
    int e = errno;
    close(fd);
    return e;
  }
  int e = fill(f, write, ctx);
  /* The name appears only now that the content is complete and durable. */
  if (!e && unnamed) {
    e = link_tmpfile(fileno(f), tmp, plen);
    if (!e) *named = 1;
    else if (e != EEXIST) e = -1; /* no /proc: use a named temp instead */
  }
  if (fclose(f) != 0 && e == 0) e = errno ? errno : EIO;
  return e;
}

phx_status phx_file_save_atomic(const char *path, phx_file_writer write,
                                const void *ctx, phx_err *err) {
  size_t plen = strlen(path);
  char *tmp = malloc(plen + strlen(TMP_SUFFIX) + TMP_RANDOM + 1);
  char *dir = dir_of(path);
  if (!tmp || !dir) {
    free(tmp), free(dir);
    return phx_fail(err, PHX_ENOMEM, "%s: out of memory while saving", path);
  }
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, TMP_SUFFIX, strlen(TMP_SUFFIX) + 1);
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  clean_stale(dir, base);
  struct stat st;
  mode_t mode = stat(path, &st) == 0 ? (st.st_mode & 07777) : 0644;
  phx_status s = PHX_OK;
  int named = 0;
  int e = write_temp(dir, tmp, plen, mode, 1, write, ctx, &named);
  if (e == -1) e = write_temp(dir, tmp, plen, mode, 0, write, ctx, &named);
  if (e) {
    if (named) (void)unlink(tmp);
    s = phx_fail(err, PHX_EIO, "%s: writing a temporary file in %s failed: %s", path, dir,
                 strerror(e));
    goto out;
  }
  if (rename(tmp, path) != 0) {
    s = phx_fail(err, PHX_EIO, "%s: cannot rename %s over it: %s", path, tmp,
                 strerror(errno));
    unlink(tmp);
    goto out;
  }
  int dfd = open(dir, O_RDONLY | O_CLOEXEC);
  if (dfd >= 0) {
    /* Some file systems cannot fsync a folder (EINVAL); the data is safe. */
    if (fsync(dfd) != 0 && errno != EINVAL && errno != EROFS)
      s = phx_fail(err, PHX_EIO, "%s: fsync of folder %s failed: %s", path, dir,
                   strerror(errno));
    close(dfd);
  }
out:
  free(tmp);
  free(dir);
  return s;
}
