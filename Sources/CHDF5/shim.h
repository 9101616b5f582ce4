#ifndef SKIFF_CHDF5_SHIM_H
#define SKIFF_CHDF5_SHIM_H
#include <hdf5.h>

/* HDF5 exposes its predefined types and property-list classes as macros that expand to
   (H5open(), global_id), which Swift cannot import; these accessors make them callable. */
static inline hid_t skiff_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t skiff_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t skiff_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t skiff_h5t_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t skiff_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t skiff_h5t_c_s1(void) { return H5T_C_S1; }
static inline hid_t skiff_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t skiff_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t skiff_h5s_all(void) { return H5S_ALL; }
static inline unsigned skiff_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline hid_t skiff_h5e_default(void) { return H5E_DEFAULT; }
#endif
