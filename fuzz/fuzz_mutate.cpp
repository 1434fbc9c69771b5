// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Deterministic mutants of a seed corpus, for the bounded run of scripts/fuzz.sh:
//   fuzz_mutate <seed> <count> <max_len> <out_dir> <corpus_dir>
// writes <count> files m000000 ... to <out_dir>, each one to five byte-level mutations (libFuzzer's kinds:
// bit flip, random byte, interesting value, insert, erase, duplicate, +-delta on a little-endian integer,
// crossover) of a corpus file or of an earlier mutant (so that mutations stack), chosen by std::mt19937
// from <seed> alone: the same files on every machine and every run.
// Why not libFuzzer's own fixed -seed/-runs loop: its mutations follow coverage, and coverage of the same
// corpus differed from process to process here (in part Eigen's and libstdc++'s inline code), so a
// fixed-seed run did not take the same inputs twice. The targets run these files one by one in a fixed
// order, which is reproducible; coverage-guided fuzzing stays for exploration (scripts/fuzz.sh --explore).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <dirent.h>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

typedef std::vector<uint8_t> Bytes;

static Bytes readFile(const std::string& path)
{
    std::ifstream f(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

int main(int argc, char** argv)
{
    if (argc != 6)
    {
        std::fprintf(stderr, "usage: fuzz_mutate <seed> <count> <max_len> <out_dir> <corpus_dir>\n");
        return 2;
    }
    std::mt19937 rng((uint32_t)std::stoul(argv[1]));
    const size_t count = std::stoul(argv[2]), maxLen = std::stoul(argv[3]);
    const std::string out = argv[4], corpusDir = argv[5];
    std::vector<std::string> names;
    if (DIR* d = opendir(corpusDir.c_str()))
    {
        while (dirent* e = readdir(d))
            if (e->d_name[0] != '.')
                names.push_back(e->d_name);
        closedir(d);
    }
    std::sort(names.begin(), names.end());  // not the directory's order: the same on every file system
    std::vector<Bytes> pool;
    for (const std::string& n : names)
        pool.push_back(readFile(corpusDir + "/" + n));
    if (pool.empty())
    {
        std::fprintf(stderr, "fuzz_mutate: no files in %s\n", corpusDir.c_str());
        return 2;
    }
    const size_t seeds = pool.size();
    auto below = [&](size_t n) { return n ? (size_t)(rng() % n) : 0; };
    static const uint8_t interesting[] = {0, 1, 2, 7, 8, 15, 16, 31, 32, 63, 64, 100, 127, 128, 129, 200, 254, 255};
    for (size_t i = 0; i < count; i++)
    {
        // half from the corpus, half from an earlier mutant
        Bytes b = pool[below(2) || pool.size() == seeds ? below(seeds) : seeds + below(pool.size() - seeds)];
        const size_t steps = 1 + below(5);
        for (size_t s = 0; s < steps; s++)
        {
            const size_t n = b.size();
            switch (below(8))
            {
            case 0: if (n) b[below(n)] ^= (uint8_t)(1u << below(8)); break;
            case 1: if (n) b[below(n)] = (uint8_t)rng(); break;
            case 2: if (n) b[below(n)] = interesting[below(sizeof(interesting))]; break;
            case 3:
            {
                const size_t at = below(n + 1), len = 1 + below(8);
                Bytes ins(len);
                for (uint8_t& c : ins)
                    c = (uint8_t)rng();
                b.insert(b.begin() + at, ins.begin(), ins.end());
                break;
            }
            case 4:
                if (n > 1)
                {
                    const size_t at = below(n), len = 1 + below(std::min<size_t>(8, n - at));
                    b.erase(b.begin() + at, b.begin() + at + len);
                }
                break;
            case 5:
                if (n)
                {
                    const size_t from = below(n), len = 1 + below(std::min<size_t>(16, n - from)), at = below(n + 1);
                    const Bytes part(b.begin() + from, b.begin() + from + len);
                    b.insert(b.begin() + at, part.begin(), part.end());
                }
                break;
            case 6:
                if (n >= 2)
                {
                    const size_t at = below(n - 1);
                    uint16_t v = (uint16_t)(b[at] | b[at + 1] << 8);
                    v = (uint16_t)(v + (below(2) ? 1 : -1) * (int)(1 + below(16)));
                    b[at] = (uint8_t)v;
                    b[at + 1] = (uint8_t)(v >> 8);
                }
                break;
            default:
            {
                const Bytes& other = pool[below(seeds)];
                const size_t cut = below(n + 1), from = below(other.size() + 1);
                b.resize(cut);
                b.insert(b.end(), other.begin() + from, other.end());
                break;
            }
            }
        }
        if (b.size() > maxLen)
            b.resize(maxLen);
        char name[32];
        std::snprintf(name, sizeof(name), "/m%06zu", i);
        std::ofstream(out + name, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), (std::streamsize)b.size());
        pool.push_back(std::move(b));
    }
    return 0;
}
