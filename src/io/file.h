/* Careful file handling shared by every reader and writer in src/io:
 * opening only regular files for reading (never blocking on a FIFO or
 * reading a device forever), and atomic replacement that leaves no temp
 * file behind even when the process is killed. */
#ifndef PHX_FILE_H
#define PHX_FILE_H

#include <stdio.h>

#include "backend.h"

/* Opens path read-only when it is a regular file (after following links);
 * *fd receives a blocking descriptor. A FIFO, device, socket or folder is
 * refused without blocking: PHX_EIO with a message naming path. */
phx_status phx_file_open_regular(const char *path, int *fd, phx_err *err);

/* Reads the text file path line by line for the small formats users
 * write (fault maps, level lists): each line, '#' comment cut, goes to
 * line(text, number, ctx, err), which stops the read by returning an
 * error. A NUL byte is an error naming the line; opt names the option in
 * open and read errors ("--faults"). */
typedef phx_status (*phx_file_line_fn)(char *text, int number, void *ctx, phx_err *err);
phx_status phx_file_lines(const char *path, const char *opt, phx_file_line_fn line, void *ctx,
                          phx_err *err);

/* Writes the whole content; returns 0 or an errno value. */
typedef int (*phx_file_writer)(FILE *f, const void *ctx);

/* Replaces path atomically with what write produces: an unnamed temp file
 * (O_TMPFILE) in path's folder, fsync, a link under a fresh temp name,
 * rename over path, fsync of the folder; a named temp where the file system
 * has no O_TMPFILE. Stale temps of path left by killed runs
 * (path.tmp.XXXXXX) are removed first. path keeps its mode, new files get
 * 0644. On failure path is untouched and no temp file remains. */
phx_status phx_file_save_atomic(const char *path, phx_file_writer write,
                                const void *ctx, phx_err *err);

#endif /* PHX_FILE_H */
