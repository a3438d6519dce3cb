/* Reads test cases on stdin and prints what the provmark C ABI does with them, for the
 * C/Rust bit-identity test (crates/provmark-ffi/tests/c_abi.rs).
 *
 * Input: "PROFILE_PATH\n", then one case per line:
 *   seed vocab steps n_ctx ctx_1..ctx_n logit_bits_1..logit_bits_vocab
 * (logits as IEEE-754 bit patterns in hex; account "-" means the master key, given as the
 * field after seed). Output per case:
 *   token_1 wm_1 .. token_steps wm_steps | biased bits_1..bits_vocab (or "-" when not biased)
 * where tokens come from `steps` provmark_sampler_choose calls on one sampler (each step's
 * context = the case context followed by the tokens chosen so far) and the biased logits from
 * one provmark_sampler_bias call on a fresh sampler (green profiles; "n/a" for Gumbel).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provmark.h"

static void die(const char *what) {
    fprintf(stderr, "%s: %s\n", what, provmark_last_error());
    exit(1);
}

int main(void) {
    char path[4096];
    if (!fgets(path, sizeof path, stdin)) return 1;
    path[strcspn(path, "\n")] = 0;
    ProvmarkProfile *profile = NULL;
    if (provmark_profile_load(path, &profile) != PROVMARK_OK) die("load");
    uint64_t seed;
    char account[256];
    size_t vocab, steps, n_ctx;
    while (scanf("%" SCNu64 " %255s %zu %zu %zu", &seed, account, &vocab, &steps, &n_ctx) == 5) {
        uint32_t *ctx = calloc(n_ctx + steps, sizeof *ctx);
        float *logits = calloc(vocab, sizeof *logits);
        float *biased = calloc(vocab, sizeof *biased);
        if (!ctx || !logits || !biased) return 1;
        for (size_t i = 0; i < n_ctx; i++)
            if (scanf("%" SCNu32, &ctx[i]) != 1) return 1;
        for (size_t i = 0; i < vocab; i++) {
            uint32_t bits;
            if (scanf("%" SCNx32, &bits) != 1) return 1;
            memcpy(&logits[i], &bits, sizeof bits);
        }
        const char *acct = strcmp(account, "-") == 0 ? NULL : account;
        ProvmarkSampler *s = NULL;
        if (provmark_sampler_new(profile, acct, vocab, seed, &s) != PROVMARK_OK) die("new");
        for (size_t t = 0; t < steps; t++) {
            uint32_t token;
            bool wm;
            if (provmark_sampler_choose(s, ctx, n_ctx + t, logits, vocab, &token, &wm) != PROVMARK_OK)
                die("choose");
            ctx[n_ctx + t] = token;
            printf("%" PRIu32 " %d ", token, (int)wm);
        }
        provmark_sampler_free(s);
        printf("|");
        s = NULL;
        if (provmark_sampler_new(profile, acct, vocab, seed, &s) != PROVMARK_OK) die("new");
        memcpy(biased, logits, vocab * sizeof *logits);
        bool done = false;
        if (provmark_sampler_bias(s, ctx, n_ctx, biased, vocab, &done) != PROVMARK_OK) {
            printf(" n/a");
        } else if (!done) {
            printf(" -");
        } else {
            for (size_t i = 0; i < vocab; i++) {
                uint32_t bits;
                memcpy(&bits, &biased[i], sizeof bits);
                printf(" %" PRIx32, bits);
            }
        }
        printf("\n");
        provmark_sampler_free(s);
        free(ctx);
        free(logits);
        free(biased);
    }
    provmark_profile_free(profile);
    return 0;
}
