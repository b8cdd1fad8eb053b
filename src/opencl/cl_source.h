/* The kernel sources embedded at build time (the cl/ kernel files turned
 * into strings by tools/embed_cl.py): one entry per file, in program order. */
#ifndef PHX_CL_SOURCE_H
#define PHX_CL_SOURCE_H

typedef struct phx_cl_file {
  const char *name; /* base name, e.g. "map.cl" */
  const char *text;
} phx_cl_file;

extern const phx_cl_file phx_cl_files[];
extern const int phx_cl_nfiles;

#endif /* PHX_CL_SOURCE_H */
