/* The table readers behind phx_dataset_load_table (table.c): delimited
 * text (csv.c) and NumPy arrays (npy.c). */
#ifndef PHX_TABLE_H
#define PHX_TABLE_H

#include "backend.h"

phx_status phx_table_load_csv(const char *path, const phx_table_opts *o, phx_dataset **out,
                              phx_err *err);
phx_status phx_table_load_npy(const char *x_path, const char *y_path, const phx_table_opts *o,
                              phx_dataset **out, phx_err *err);
phx_status phx_table_load_npz(const char *path, const phx_table_opts *o, phx_dataset **out,
                              phx_err *err);

#endif /* PHX_TABLE_H */
