// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Captures the hyperparameters of the layers (OpenCV 4.6 keeps some private: Eltwise operation,
// Permute order, Padding, Softmax axis, CumSum flags, Normalize axes, ...). A constructor is stacked on cv::dnn::LayerFactory for those types when the
// library is loaded; it records the LayerParams and returns the very layer OpenCV itself would create
// (XxxLayer::create), so the user's Net computes bit-identical results and keeps its fusion.
// Because it runs at load time, it also covers Nets read before an explainer was created.
#include "precomp.hpp"
#include <memory>
#include <mutex>

namespace cv {
namespace explain {

namespace {

struct CapturedLayer
{
    std::weak_ptr<dnn::Layer> layer;
    dnn::LayerParams params;
};

std::mutex& captureMutex()
{
    static std::mutex m;
    return m;
}

std::map<const dnn::Layer*, CapturedLayer>& captureStore()
{
    static std::map<const dnn::Layer*, CapturedLayer> store;
    return store;
}

Ptr<dnn::Layer> remember(const Ptr<dnn::Layer>& layer, const dnn::LayerParams& params)
{
    if (!layer)
        return layer;
    std::lock_guard<std::mutex> lock(captureMutex());
    auto& store = captureStore();
    if (store.size() > 4096)  // forget layers that no longer exist
    {
        for (auto it = store.begin(); it != store.end();)
            it = it->second.layer.expired() ? store.erase(it) : std::next(it);
    }
    CapturedLayer entry;
    entry.layer = layer;
    entry.params = params;
    entry.params.blobs.clear();  // weights stay in Layer::blobs
    store[layer.get()] = entry;
    return layer;
}

template <typename LayerClass>
Ptr<dnn::Layer> createAndRemember(dnn::LayerParams& params)
{
    return remember(LayerClass::create(params), params);
}

struct RegisterCaptures
{
    RegisterCaptures()
    {
        // The types whose hyperparameters are private in 4.6 (Eltwise, Permute, Padding, Softmax,
        // Flatten, Resize, ...), and the common float layers, so that parts of a Net can be rebuilt
        // (Ablation-CAM re-runs the layers after the target). Each constructor is the one OpenCV's
        // own registry uses for that type (modules/dnn/src/init.cpp).
        using namespace dnn;
        LayerFactory::registerLayer("Eltwise", createAndRemember<EltwiseLayer>);
        LayerFactory::registerLayer("Permute", createAndRemember<PermuteLayer>);
        LayerFactory::registerLayer("Padding", createAndRemember<PaddingLayer>);
        LayerFactory::registerLayer("Softmax", createAndRemember<SoftmaxLayer>);
        LayerFactory::registerLayer("SoftMax", createAndRemember<SoftmaxLayer>);
        LayerFactory::registerLayer("Flatten", createAndRemember<FlattenLayer>);
        LayerFactory::registerLayer("Scale", createAndRemember<ScaleLayer>);
        LayerFactory::registerLayer("Resize", createAndRemember<ResizeLayer>);
        LayerFactory::registerLayer("Interp", createAndRemember<InterpLayer>);
        LayerFactory::registerLayer("Convolution", createAndRemember<ConvolutionLayer>);
        LayerFactory::registerLayer("Deconvolution", createAndRemember<DeconvolutionLayer>);
        LayerFactory::registerLayer("Pooling", createAndRemember<PoolingLayer>);
        LayerFactory::registerLayer("InnerProduct", createAndRemember<InnerProductLayer>);
        LayerFactory::registerLayer("ReLU", createAndRemember<ReLULayer>);
        LayerFactory::registerLayer("ReLU6", createAndRemember<ReLU6Layer>);
        LayerFactory::registerLayer("PReLU", createAndRemember<ChannelsPReLULayer>);
        LayerFactory::registerLayer("ELU", createAndRemember<ELULayer>);
        LayerFactory::registerLayer("Sigmoid", createAndRemember<SigmoidLayer>);
        LayerFactory::registerLayer("TanH", createAndRemember<TanHLayer>);
        LayerFactory::registerLayer("Swish", createAndRemember<SwishLayer>);
        LayerFactory::registerLayer("Mish", createAndRemember<MishLayer>);
        LayerFactory::registerLayer("HardSigmoid", createAndRemember<HardSigmoidLayer>);
        LayerFactory::registerLayer("HardSwish", createAndRemember<HardSwishLayer>);
        LayerFactory::registerLayer("Power", createAndRemember<PowerLayer>);
        LayerFactory::registerLayer("BatchNorm", createAndRemember<BatchNormLayer>);
        LayerFactory::registerLayer("Concat", createAndRemember<ConcatLayer>);
        LayerFactory::registerLayer("Slice", createAndRemember<SliceLayer>);
        LayerFactory::registerLayer("Split", createAndRemember<SplitLayer>);
        LayerFactory::registerLayer("Reshape", createAndRemember<ReshapeLayer>);
        LayerFactory::registerLayer("Reduce", createAndRemember<ReduceLayer>);
        LayerFactory::registerLayer("LRN", createAndRemember<LRNLayer>);
        LayerFactory::registerLayer("Identity", createAndRemember<BlankLayer>);
        LayerFactory::registerLayer("Dropout", createAndRemember<BlankLayer>);
        LayerFactory::registerLayer("ShuffleChannel", createAndRemember<ShuffleChannelLayer>);
        LayerFactory::registerLayer("CumSum", createAndRemember<CumSumLayer>);
        LayerFactory::registerLayer("Normalize", createAndRemember<NormalizeBBoxLayer>);
        LayerFactory::registerLayer("LSTM", createAndRemember<LSTMLayer>);
        LayerFactory::registerLayer("GRU", createAndRemember<GRULayer>);
#if CV_VERSION_MAJOR == 4 && CV_VERSION_MINOR >= 7  // its operation is private there (OpenCV 5: public)
        LayerFactory::registerLayer("NaryEltwise", createAndRemember<NaryEltwiseLayer>);
#endif
#if CV_VERSION_MAJOR == 4 && CV_VERSION_MINOR >= 9  // transposes, alpha, beta private there (OpenCV 5: public)
        LayerFactory::registerLayer("MatMul", createAndRemember<MatMulLayer>);
#endif
#if CV_VERSION_MAJOR > 4 || CV_VERSION_MINOR >= 9  // private: which of B and C are constants, axis, block size
        LayerFactory::registerLayer("Gemm", createAndRemember<GemmLayer>);
        LayerFactory::registerLayer("Gather", createAndRemember<GatherLayer>);
        LayerFactory::registerLayer("DepthToSpace", createAndRemember<DepthToSpaceLayer>);
        LayerFactory::registerLayer("SpaceToDepth", createAndRemember<SpaceToDepthLayer>);
#endif
#if CV_VERSION_MAJOR > 4  // OpenCV 5's new engine: Clip (4.x imports ReLU6) bounds private
        LayerFactory::registerLayer("Clip", createAndRemember<ClipLayer>);
        LayerFactory::registerLayer("Pad2", createAndRemember<Pad2Layer>);  // mode and paddings private
#endif
#if CV_VERSION_MAJOR > 4 || CV_VERSION_MINOR >= 10  // fused multi-head attention: no public parameters
        LayerFactory::registerLayer("Attention", createAndRemember<AttentionLayer>);
#endif
    }
};
RegisterCaptures registerCapturesAtLoad;

} // namespace

bool getCapturedParams(const Ptr<dnn::Layer>& layer, dnn::LayerParams& params)
{
    if (!layer)
        return false;
    std::lock_guard<std::mutex> lock(captureMutex());
    auto& store = captureStore();
    auto it = store.find(layer.get());
    if (it == store.end())
        return false;
    std::shared_ptr<dnn::Layer> alive = it->second.layer.lock();
    // The address may have been reused by another layer after the captured one was destroyed.
    if (alive.get() != layer.get() ||
        (!it->second.params.name.empty() && it->second.params.name != layer->name))
        return false;
    params = it->second.params;
    return true;
}

CapturedParams requireCapturedParams(const LayerInfo& info, const std::string& what)
{
    CapturedParams captured(info);
    if (!captured.known)
        CV_Error(Error::StsNotImplemented, "explain: the " + what + " of " + describeLayer(info) +
                                               " were not captured (Net read before the explain library was loaded)");
    return captured;
}

}} // namespace cv::explain
