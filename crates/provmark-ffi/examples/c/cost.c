/* Per-token cost of the C call (provmark_sampler_choose), for the Rust / C / Python overhead
 * table (crates/provmark-python/bench/cost.py). Same logits and loop as
 * crates/provmark-ffi/examples/cost.rs. Usage: cost PROFILE VOCAB TOKENS */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "provmark.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s PROFILE VOCAB TOKENS\n", argv[0]);
        return 2;
    }
    size_t vocab = strtoul(argv[2], NULL, 10), tokens = strtoul(argv[3], NULL, 10);
    float *logits = malloc(vocab * sizeof *logits);
    uint32_t *history = malloc((tokens + 2) * sizeof *history);
    if (!logits || !history) return 1;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < vocab; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        logits[i] = (float)((x >> 40) % 1000) / 250.0f;
    }
    ProvmarkProfile *profile = NULL;
    ProvmarkSampler *s = NULL;
    if (provmark_profile_load(argv[1], &profile) != PROVMARK_OK ||
        provmark_sampler_new(profile, "account-42", vocab, 7, &s) != PROVMARK_OK) {
        fprintf(stderr, "%s\n", provmark_last_error());
        return 1;
    }
    history[0] = 11; history[1] = 12;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t t = 0; t < tokens; t++) {
        if (provmark_sampler_choose(s, history, t + 2, logits, vocab, &history[t + 2], NULL) != PROVMARK_OK) {
            fprintf(stderr, "%s\n", provmark_last_error());
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)tokens;
    printf("{\"lang\":\"c\",\"vocab\":%zu,\"ns_per_token\":%.1f}\n", vocab, ns);
    provmark_sampler_free(s);
    provmark_profile_free(profile);
    free(logits);
    free(history);
    return 0;
}
