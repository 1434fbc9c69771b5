// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// What the fuzz targets share: quiet sample output and a check that aborts (a finding) with a message.
#ifndef EXPLAIN_FUZZ_COMMON_HPP
#define EXPLAIN_FUZZ_COMMON_HPP

#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <iostream>
#include <streambuf>
#include <string>
#include <unistd.h>

namespace fuzz {

/** Sends std::cout, std::cerr and stdout (printf: cv::CommandLineParser's messages) to nowhere, so that
    the samples' messages do not flood the fuzzer's log; libFuzzer and the sanitizers write to the real
    stderr (fd 2), which stays open. FUZZ_VERBOSE=1 keeps everything (to look at one input). */
inline void quiet()
{
    if (const char* v = std::getenv("FUZZ_VERBOSE"))
        if (v[0] == '1')
            return;
    struct NullBuffer : std::streambuf
    {
        int overflow(int c) override { return c; }
    };
    static NullBuffer null;
    std::cout.rdbuf(&null);
    std::cerr.rdbuf(&null);
    std::fflush(stdout);
    const int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0)
    {
        dup2(fd, 1);
        close(fd);
    }
}

/** What the target is doing (printed with a failed check). */
inline std::string& context()
{
    static std::string text;
    return text;
}

/** Sets context(); FUZZ_VERBOSE=1 also prints it (the steps of one input). */
inline void step(const std::string& text)
{
    context() = text;
    if (const char* v = std::getenv("FUZZ_VERBOSE"))
        if (v[0] == '1')
            std::fprintf(stderr, "step: %s\n", text.c_str());
}

/** An acceptable error; FUZZ_VERBOSE=1 prints it. */
inline void accepted(const std::string& error)
{
    if (const char* v = std::getenv("FUZZ_VERBOSE"))
        if (v[0] == '1')
            std::fprintf(stderr, "accepted error: %s\n", error.c_str());
}

/** A broken invariant: a finding. */
[[noreturn]] inline void fail(const char* what)
{
    std::fprintf(stderr, "FUZZ CHECK FAILED: %s\n  while: %s\n", what, context().c_str());
    std::abort();
}

} // namespace fuzz

#define FUZZ_CHECK(cond) ((cond) ? (void)0 : fuzz::fail(#cond " (" __FILE__ ")"))

#endif
