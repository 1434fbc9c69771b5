// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The CPU kernels built with -mavx2 -mfma (see CMakeLists.txt). Eigen's namespace is renamed in
// this file so that its AVX2 template instances cannot be merged with the baseline ones.
#define Eigen EigenAVX2
#define EXPLAIN_KERNELS_NAMESPACE avx2
#include "cpu_kernels.inl.hpp"
