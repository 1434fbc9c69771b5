// Captures the hyperparameters OpenCV 4.6 keeps private (Eltwise operation, Permute order, Padding,
// Softmax axis, ...). A constructor is stacked on cv::dnn::LayerFactory for those types when the
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
        // Only types whose hyperparameters are private in 4.6; the others are read from the
        // public members of opencv2/dnn/all_layers.hpp.
        dnn::LayerFactory::registerLayer("Eltwise", createAndRemember<dnn::EltwiseLayer>);
        dnn::LayerFactory::registerLayer("Permute", createAndRemember<dnn::PermuteLayer>);
        dnn::LayerFactory::registerLayer("Padding", createAndRemember<dnn::PaddingLayer>);
        dnn::LayerFactory::registerLayer("Softmax", createAndRemember<dnn::SoftmaxLayer>);
        dnn::LayerFactory::registerLayer("SoftMax", createAndRemember<dnn::SoftmaxLayer>);
        dnn::LayerFactory::registerLayer("Flatten", createAndRemember<dnn::FlattenLayer>);
        dnn::LayerFactory::registerLayer("Scale", createAndRemember<dnn::ScaleLayer>);
        dnn::LayerFactory::registerLayer("Resize", createAndRemember<dnn::ResizeLayer>);
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

}} // namespace cv::explain
