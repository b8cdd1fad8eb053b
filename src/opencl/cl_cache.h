/* Program builds through an on-disk binary cache. The key hashes the
 * source, the build options, the platform version, the device name, the
 * driver version and the cache format version. Entries are written
 * atomically (temp file + rename) and carry a magic, the key and a checksum;
 * an entry that fails any check, or that the driver refuses, is discarded
 * and rebuilt from source.
 * The folder comes resolved from the backend settings (backend.c:
 * phx_backend_opts.cache_dir, $PHAXCL_CACHE_DIR, ...); none means no cache. */
#ifndef PHX_CL_CACHE_H
#define PHX_CL_CACHE_H

#include "cl_device.h"

typedef enum {
  PHX_CL_BUILT = 0,    /* compiled from source (cache off, or a miss) */
  PHX_CL_HIT = 1,      /* loaded from a valid cache entry */
  PHX_CL_REPLACED = 2  /* an entry existed but was corrupt, stale or refused:
                          discarded, compiled from source, stored again */
} phx_cl_origin;

typedef struct phx_cl_build_info {
  phx_cl_origin origin;
  int stored;       /* a new entry was written */
  double seconds;   /* wall time of the whole build (load or compile) */
  char path[1024];  /* the entry's file ("" when the cache is off) */
} phx_cl_build_info;

/* Builds src with options for device dev in ctx, through the cache in
 * folder cache_dir (created if needed; NULL or "" builds without). On a
 * compile failure: PHX_EBUILD naming the device, with the build log (joined
 * into one line) in the message, and the full log on stderr when verbose.
 * verbose > 0 reports compile time and cache hits on stderr. info may be
 * NULL. */
phx_status phx_cl_build(cl_context ctx, const phx_cl_dev *dev, const char *src,
                        const char *options, const char *cache_dir, int verbose,
                        cl_program *out,
                        phx_cl_build_info *info, phx_err *err);

/* A file in the cache folder for other cached results (the training
 * probe): "<cache_dir>/<prefix><32 hex digits>", the digits hashing fields
 * as the program key does. The folder is created if needed. 0 when the
 * cache is off or the path does not fit. */
int phx_cl_cache_file(const char *cache_dir, const char *prefix, const char *const *fields,
                      int nfields, char *path, size_t size);

#endif /* PHX_CL_CACHE_H */
