// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Grad-CAM and the CAM family on the backward engine: forward pass, target layer, and the maps of the
// methods of the CAM method table (by kind: gradient-based here, forward passes in cam_perturbation.cpp).
#include "gradcam_impl.hpp"
#include "backprop_impl.hpp"
#include "blob_utils.hpp"
#include "ocl_ops.hpp"
#include <opencv2/core/utils/logger.hpp>
#include <set>

namespace cv {
namespace explain {
namespace detail {

void requireFiniteActivation(Backprop& b, const String& layer)
{
    if (b.isOnDevice())
        return;  // the device path makes no host copies to check
    const Mat a = b.getActivation(layer);
    if (!allFinite(a))
    {
        BackpropImpl::of(b).reportNonFiniteActivations();  // throws, naming the first such layer
        checkFinite(a, "the output of layer '" + layer + "'");
    }
}

GradCAMImpl::GradCAMImpl(const dnn::Net& net, const String& layerName_, const String& scoreLayerName)
    : bp(Backprop::create(net)), layerName(layerName_)  // Backprop::create throws on an empty Net
{
    if (!layerName.empty())
        bp->getLayerInfo(layerName);  // throws on an unknown name
    fwd = makePtr<ScoredForward>(net, bp, scoreLayerName, "GradCAM");
    attribution = makePtr<InputAttributionImpl>(fwd);
}

void GradCAMImpl::forward(InputArray blob, OutputArray scoresOut, const String& inputName)
{
    forwardInputs(std::vector<Mat>{blob.getMat()}, std::vector<String>{inputName}, scoresOut);
}

void GradCAMImpl::forwardInputs(InputArrayOfArrays blobs_, const std::vector<String>& names, OutputArray scoresOut)
{
    auto guard = fwd->lock();
    std::vector<Mat> blobs;
    blobs_.getMatVector(blobs);
    // Grad-CAM needs only the layers between the target and the scores; input gradients widen the plan
    // on first use (see Backprop::keepOnly). The default layer is read from the shapes at these inputs:
    // inferred before the pass where they can be, else from a first pass that keeps every activation (a
    // Net with dynamic axes infers some only when its layers have run at them); the plan made after it
    // narrows the next passes.
    const bool chooseLayer = layerName.empty() && !blobs.empty() && !blobs[0].empty();
    String inferred;
    if (chooseLayer && BackpropImpl::of(*bp).inferShapes(blobs, names))
    {
        inferred = layerName = defaultTargetLayer();
        planLayers();
    }
    if (!planned && !layerName.empty())
        planLayers();
    fwd->forwardInputs(blobs, names, scoresOut);
    if (chooseLayer)
    {
        const String chosen = defaultTargetLayer();
        CV_LOG_INFO(NULL, "explain: Grad-CAM target layer '" << chosen << "' (the last layer with a spatial output)");
        if (chosen == inferred)
            return;
        layerName = chosen;
        planLayers();
        if (!inferred.empty())  // the pass gave other shapes than inferred: it kept the plan of another layer
            fwd->forwardInputs(blobs, names, scoresOut);
    }
}

void GradCAMImpl::planLayers()
{
    bp->keepOnly({fwd->scoreLayer()}, {layerName});
    planned = true;
}

void GradCAMImpl::compute(int classId, OutputArrayOfArrays gradcam, OutputArrayOfArrays counterfactual)
{
    computeFromGradient(fwd->scoreLayer(), fwd->classSeed(classId), gradcam, counterfactual);
}

void GradCAMImpl::computeFromGradient(const String& outputLayer, InputArray outputGrad, OutputArrayOfArrays gradcam,
                                      OutputArrayOfArrays counterfactual)
{
    auto guard = fwd->lock();
    fwd->requireForward();
    requireSpatialOutput(layerName);
    const CamMethodSpec& spec = camMethod(method);
    if (spec.kind == CamKind::FORWARD_PASSES && tokens.height > 0)
        CV_Error(Error::StsNotImplemented, std::string("explain: ") + spec.name +
                                               " does not read token layers (setTokenGrid); use a gradient-based "
                                               "method or Eigen-CAM");
    checkCounterfactual(spec, counterfactual.needed());
    requireFiniteActivation(*bp, layerName);
    if (spec.kind != CamKind::FORWARD_PASSES)
    {
        gradientMaps(spec, outputLayer, outputGrad.getMat(), gradcam, counterfactual);
        return;
    }
    std::vector<Mat> maps, counter;
    spec.perturb(perturbationInputs(outputLayer, outputGrad.getMat()), perturbation, gradcam.needed(),
                 counterfactual.needed(), maps, counter);
    assignMaps(gradcam, maps);
    assignMaps(counterfactual, counter);
}

void GradCAMImpl::gradientMaps(const CamMethodSpec& spec, const String& outputLayer, const Mat& seed,
                               OutputArrayOfArrays gradcam, OutputArrayOfArrays counterfactual)
{
    // the methods with kernels in cam.cl; the principal-component ones and eigenSmooth need an SVD (CPU)
    if (bp->isOnDevice() && spec.oclName && !eigenSmooth && tokens.height == 0)
    {
        // Net on DNN_TARGET_OPENCL: gradients, weights and maps stay on the device; the
        // counterfactual is the same method with negated gradients
        std::vector<UMat> grads;
        bp->backward({outputLayer}, {seed}, {layerName}, grads, RECTIFIER_EXACT);
        UMat ua = bp->getDeviceActivation(layerName), neg;
        computeCAM(method, ua, grads[0], gradcam);
        if (counterfactual.needed())
        {
            as2D(grads[0], 1).convertTo(neg, CV_32F, -1.0);
            computeCAM(method, ua, neg.reshape(1, grads[0].dims, grads[0].size.p), counterfactual);
        }
        return;
    }
    Mat a = spatial(bp->getActivation(layerName)), g;
    if (spec.needsGradients)
    {
        std::vector<Mat> grads;
        bp->backward({outputLayer}, {seed}, {layerName}, grads, RECTIFIER_EXACT);
        g = spatial(grads[0]);
    }
    std::vector<Mat> maps, counter;
    computeCAM(method, a, g, maps, eigenSmooth);
    if (counterfactual.needed())
        computeCAM(method, a, Mat(-g), counter, eigenSmooth);
    assignMaps(gradcam, maps);
    assignMaps(counterfactual, counter);
}

void GradCAMImpl::setTokenGrid(int height, int width, int prefixTokens)
{
    if (height < 0 || width < 0 || prefixTokens < 0 || (height == 0) != (width == 0))
        CV_Error(Error::StsBadArg, format("explain: setTokenGrid(%d, %d, %d): the grid needs height, width > 0 "
                                          "(or both 0 to turn it off) and prefixTokens >= 0",
                                          height, width, prefixTokens));
    tokens.height = height;
    tokens.width = width;
    tokens.prefix = height > 0 ? prefixTokens : 0;
}

void GradCAMImpl::requireSpatialOutput(const String& layer) const
{
    const std::vector<MatShape>& shapes = bp->getLayerInfo(layer).outputShapes;
    const MatShape shape = shapes.empty() ? MatShape() : shapes[0];
    const int dims = (int)shape.size();
    if (tokens.height == 0)
    {
        if (dims != 4)
            CV_Error(Error::StsBadArg, format("explain: the target layer '%s' has a %dD output; Grad-CAM needs a spatial "
                                              "N x K x H x W output (or tokens read with setTokenGrid)",
                                              layer.c_str(), dims));
        return;
    }
    const int h = tokens.height, w = tokens.width, p = tokens.prefix;
    const bool fits = (dims == 3 && shape[1] == p + h * w) || (dims == 4 && p == 0 && shape[1] == h && shape[2] == w);
    if (!fits)
        CV_Error(Error::StsBadArg, format("explain: the output of the target layer '%s' is %s; the token grid "
                                          "%d x %d with %d prefix token(s) reads N x %d x C tokens%s",
                                          layer.c_str(), shapeToString(shape).c_str(), h, w, p, p + h * w,
                                          p == 0 ? format(" or N x %d x %d x C", h, w).c_str() : ""));
}

Mat GradCAMImpl::spatial(const Mat& blob) const
{
    if (tokens.height == 0)
        return blob;
    // token (prefix + y * width + x), channel c -> channel c at (y, x), as pytorch-grad-cam's reshape_transform
    const int n = blob.size[0], channels = blob.size[blob.dims - 1], cells = tokens.height * tokens.width;
    const int shape[] = {n, channels, tokens.height, tokens.width};
    Mat grid(4, shape, CV_32F);
    for (int b = 0; b < n; b++)
    {
        const Mat cellsByChannel(cells, channels, CV_32F, (void*)(blob.ptr<float>(b) + (size_t)tokens.prefix * channels));
        Mat channelsByCell(channels, cells, CV_32F, grid.ptr<float>(b));
        transpose(cellsByChannel, channelsByCell);
    }
    return grid;
}

void GradCAMImpl::setMethod(int m)
{
    camMethod(m);  // throws for a value without an entry
    method = m;
}

PerturbationInputs GradCAMImpl::perturbationInputs(const String& outputLayer, const Mat& seed) const
{
    PerturbationInputs in;
    in.bp = bp;
    in.net = fwd->net();
    in.targetLayer = layerName;
    in.outputLayer = outputLayer;
    in.seed = seed.channels() > 1 ? seed.reshape(1) : seed;  // a 3-D numpy gradient arrives with channels
    in.input = fwd->input();
    in.inputName = fwd->inputName();
    in.singleInput = fwd->singleInput();
    return in;
}

void GradCAMImpl::guidedGradCAM(int classId, OutputArray dst)
{
    auto guard = fwd->lock();
    Mat seed = fwd->classSeed(classId);
    // with UMats, maps, gradient and product stay on the OpenCL device when the Net runs there
    auto run = [&](auto maps, auto guided) {
        computeFromGradient(fwd->scoreLayer(), seed, maps, noArray());
        attribution->gradientFromGradient(fwd->scoreLayer(), seed, guided, RECTIFIER_GUIDED);
        combineGuidedGradCAM(maps, guided, dst);
    };
    if (dst.isUMat())
        run(std::vector<UMat>(), UMat());
    else
        run(std::vector<Mat>(), Mat());
}

void GradCAMImpl::requireGradientMethod(const char* what) const
{
    if (camMethod(method).kind == CamKind::FORWARD_PASSES)
        CV_Error(Error::StsNotImplemented,
                 std::string("explain: ") + what + " supports the gradient-based methods and Eigen-CAM");
}

String GradCAMImpl::defaultTargetLayer() const
{
    const String& scoreLayerName = fwd->scoreLayer();
    const NetGraph& graph = BackpropImpl::of(*bp).getGraph();
    const std::vector<char> feeds = graph.layersBetween(graph.producerPins(), {}, {graph.find(scoreLayerName)});
    std::vector<String> layers = bp->getLayerNames();
    for (auto it = layers.rbegin(); it != layers.rend(); ++it)
    {
        if (!feeds[graph.find(*it)] || *it == scoreLayerName)
            continue;  // the scores themselves are no target (dense outputs: segmentation, detection heads)
        const LayerInfo& info = bp->getLayerInfo(*it);
        // the new engine's layout moves and constants are no layers of the model's own
        if (info.type == "Identity" || info.type == "Dropout" || info.type == "TransformLayout" ||
            info.type == "Constant" || info.outputShapes.empty())
            continue;
        const MatShape& shape = info.outputShapes[0];
        if (shape.size() == 4 && shape[2] * shape[3] > 1)
            return *it;
    }
    CV_Error(Error::StsError, "explain: the Net has no layer with a spatial (N x K x H x W) output before its "
                              "scores; pass the target layer name to GradCAM::create");
}

}}} // namespace cv::explain::detail

namespace cv {
namespace explain {

Ptr<GradCAM> GradCAM::create(const dnn::Net& net, const String& layerName, const String& scoreLayerName)
{
    return makePtr<detail::GradCAMImpl>(net, layerName, scoreLayerName);
}

}} // namespace cv::explain
