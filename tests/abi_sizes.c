/* Prints sizeof and the offset of the last field of every struct the
 * Python package mirrors with ctypes (tools/python/phaxcl/_lib.py), so
 * that its test sees a header change the mirror missed instead of a
 * crash. */
#include <stddef.h>
#include <stdio.h>

#include "phaxcl.h"

#define ROW(type, last) printf("%s %zu %zu\n", #type, sizeof(type), offsetof(type, last))

int main(void) {
  ROW(phx_err, msg);
  ROW(phx_model_opts, load_aware);
  ROW(phx_backend_opts, clblast_params);
  ROW(phx_variation, offset_sigma);
  ROW(phx_train_opts, vary_draws);
  ROW(phx_epoch_stats, seconds);
  ROW(phx_train_hooks, parallel);
  ROW(phx_eval_result, accuracy);
  ROW(phx_mc_result, max);
  ROW(phx_device_info, probe);
  ROW(phx_check_row, skipped);
  ROW(phx_check_opts, verbose);
  ROW(phx_inverter, mult);
  ROW(phx_spice_opts, sweep);
  ROW(phx_spice_sample, returned_class);
  ROW(phx_spice_result, returned_agreement);
  ROW(phx_table_opts, header_size);
  ROW(phx_regress_result, max_err);
  ROW(phx_data_spec, rows);
  return 0;
}
