// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The activations of a forward pass and whether they are still current (see activation_store.hpp).
#include "activation_store.hpp"
#include "ocl_ops.hpp"
#include "opencv_compat.hpp"
#include <algorithm>
#include <cstring>

namespace cv {
namespace explain {
namespace detail {

Mat& Blob::mat()
{
    if (host.empty() && !device.empty())
    {
        host = device.getMat(ACCESS_READ).clone();
        countHostRoundTrip();
    }
    return host;
}

UMat& Blob::umat()
{
    if (device.empty() && !host.empty())
    {
        host.copyTo(device);
        countHostRoundTrip();
    }
    return device;
}

Blob Blob::reshaped(const MatShape& s) const
{
    Blob b;
    if (onDevice())
        b.device = device.reshape(1, (int)s.size(), s.data());
    else
        b.host = host.reshape(1, s);
    return b;
}

std::shared_ptr<NetRecord> NetRecord::of(const dnn::Net& net)
{
    static std::mutex registryMutex;
    static std::map<const void*, std::weak_ptr<NetRecord> > records;
    const void* key = compat::netIdentity(net);
    std::lock_guard<std::mutex> guard(registryMutex);
    for (auto it = records.begin(); it != records.end();)
        it = it->second.expired() ? records.erase(it) : std::next(it);
    std::shared_ptr<NetRecord> record = records[key].lock();
    if (!record)
    {
        record = std::make_shared<NetRecord>();
        records[key] = record;
    }
    return record;
}

uint64 NetRecord::countPass(const std::vector<String>& outputs)
{
    std::lock_guard<std::recursive_mutex> guard(lock);
    return ++passCount[outputs];
}

uint64 NetRecord::passes(const std::vector<String>& outputs) const
{
    auto it = passCount.find(outputs);
    return it == passCount.end() ? 0 : it->second;
}

void ActivationStore::reset(const std::vector<Mat>& inputs, bool onDevice)
{
    device = onDevice;
    for (auto& a : acts)
        a.clear();
    for (auto& a : deviceActs)
        a.clear();
    deviceInputs.clear();
    acts[0] = inputs;
}

void ActivationStore::clear()
{
    reset(std::vector<Mat>(), false);
    request.clear();
    pass = 0;
    samples.clear();
}

void ActivationStore::setHost(const std::vector<int>& ids, const std::vector<std::vector<Mat> >& outs,
                              const std::vector<Mat>& inputs)
{
    CV_Assert(outs.size() == ids.size());
    reset(inputs, false);
    for (size_t i = 0; i < ids.size(); i++)
        acts[ids[i]] = outs[i];
}

void ActivationStore::setDevice(const std::vector<int>& ids, const std::vector<UMat>& outs,
                                const std::vector<Mat>& inputs, const std::vector<int>& outputCounts)
{
    CV_Assert(outs.size() == ids.size());
    reset(inputs, true);
    for (size_t i = 0; i < ids.size(); i++)
    {
        // cv::dnn's multi-output forward pass hands out fresh device copies of its host buffers: kept as they are
        deviceActs[ids[i]].push_back(outs[i]);
        // host copies are made only if a CPU rule needs them
        acts[ids[i]].assign(std::max(1, outputCounts[ids[i]]), Mat());
    }
    for (const Mat& m : inputs)
    {
        UMat u;
        m.copyTo(u);
        deviceInputs.push_back(u);
    }
    countHostRoundTrip(inputs.size());
}

void ActivationStore::setOrigin(const std::vector<String>& request_, uint64 pass_)
{
    request = request_;
    pass = pass_;
    samples = sampleValues();
}

const Mat& ActivationStore::host(const Pin& p) const
{
    static const Mat notKept;
    if (p.second < 0 || p.second >= (int)acts[p.first].size())
        return notKept;
    Mat& m = acts[p.first][p.second];
    if (m.empty() && (int)deviceActs[p.first].size() > p.second)
    {
        m = deviceActs[p.first][p.second].getMat(ACCESS_READ).clone();
        countHostRoundTrip();
    }
    return m;
}

int ActivationStore::depthOf(const Pin& p) const
{
    const UMat u = deviceAct(p);
    if (!u.empty())
        return u.depth();
    const bool kept = p.second < (int)acts[p.first].size() && !acts[p.first][p.second].empty();
    return kept ? acts[p.first][p.second].depth() : CV_32F;
}

UMat ActivationStore::deviceAct(const Pin& p) const
{
    if (p.first == 0)
        return p.second < (int)deviceInputs.size() ? deviceInputs[p.second] : UMat();
    return (int)deviceActs[p.first].size() > p.second ? deviceActs[p.first][p.second] : UMat();
}

bool ActivationStore::isCurrent(const NetRecord& record) const
{
    if (record.passes(request) != pass)
        return false;
    // a forward pass of the user's own with the same request: spot-checked
    const std::vector<float> now = sampleValues();
    return now.size() == samples.size() &&
           (now.empty() || std::memcmp(now.data(), samples.data(), now.size() * sizeof(float)) == 0);
}

/** A few values of every kept host activation, spread over each blob (device mode keeps copies). */
std::vector<float> ActivationStore::sampleValues() const
{
    std::vector<float> values;
    if (device)
        return values;
    for (size_t id = 1; id < acts.size(); id++)
        for (const Mat& m : acts[id])
            if (!m.empty() && m.isContinuous() && m.depth() == CV_32F)
            {
                const size_t total = m.total() * m.channels(), count = std::min<size_t>(total, 8);
                for (size_t k = 0; k < count; k++)
                    values.push_back(m.ptr<float>()[(total - 1) * k / std::max<size_t>(1, count - 1)]);
            }
    return values;
}

}}} // namespace cv::explain::detail
