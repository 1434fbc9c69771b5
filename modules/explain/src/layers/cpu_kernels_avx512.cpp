// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The CPU kernels built for AVX-512 (the Skylake-X set, with FMA; see CMakeLists.txt). Eigen's namespace
// is renamed in this file so that its AVX-512 template instances cannot be merged with the others.
#define Eigen EigenAVX512
#define EXPLAIN_KERNELS_NAMESPACE avx512
#include "cpu_kernels.inl.hpp"
