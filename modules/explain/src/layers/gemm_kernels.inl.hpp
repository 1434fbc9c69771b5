// The GEMM kernels, compiled once per instruction set into namespace EXPLAIN_GEMM_NAMESPACE.
#include <Eigen/Core>

namespace cv {
namespace explain {
namespace EXPLAIN_GEMM_NAMESPACE {

typedef Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> RowMatrix;
typedef Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<> > ConstMap;
typedef Eigen::Map<RowMatrix, 0, Eigen::OuterStride<> > MutableMap;

void gemmAtB(const float* a, int lda, const float* b, int ldb, float* c, int ldc, int m, int n, int k)
{
    MutableMap(c, m, n, Eigen::OuterStride<>(ldc)).noalias() =
        ConstMap(a, k, m, Eigen::OuterStride<>(lda)).transpose() * ConstMap(b, k, n, Eigen::OuterStride<>(ldb));
}

void gemmAB(const float* a, int lda, const float* b, int ldb, float* c, int ldc, int m, int n, int k)
{
    MutableMap(c, m, n, Eigen::OuterStride<>(ldc)).noalias() =
        ConstMap(a, m, k, Eigen::OuterStride<>(lda)) * ConstMap(b, k, n, Eigen::OuterStride<>(ldb));
}

}}} // namespace cv::explain::EXPLAIN_GEMM_NAMESPACE
