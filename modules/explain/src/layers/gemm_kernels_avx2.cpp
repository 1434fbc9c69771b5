// The GEMM kernels built with -mavx2 -mfma (see CMakeLists.txt). Eigen's namespace is renamed in
// this file so that its AVX2 template instances cannot be merged with the baseline ones.
#define Eigen EigenAVX2
#define EXPLAIN_GEMM_NAMESPACE avx2
#include "gemm_kernels.inl.hpp"
