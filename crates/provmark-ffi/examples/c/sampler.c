/* A llama.cpp-style custom sampler backed by provmark (C ABI).
 *
 * llama.cpp hands a sampler a candidate array (token id, logit, probability) and reads back
 * the index of the chosen candidate. This example declares arrays of the same shape, runs a
 * toy "model" (deterministic pseudo-random logits) for 400 steps with a provmark sampler
 * choosing every token, then checks the generated ids with provmark_check and exits non-zero
 * unless they test as watermarked (and a plain run as not watermarked).
 *
 * Usage: sampler PROFILE.json
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "provmark.h"

/* Candidate array in the shape llama.cpp passes to a sampler's apply callback. */
typedef struct {
    int32_t id;
    float logit;
    float p;
} token_data;

typedef struct {
    token_data *data;
    size_t size;
    int64_t selected; /* index into data of the chosen candidate */
    bool sorted;
} token_data_array;

/* The custom sampler: provmark's per-sequence state plus a dense logits buffer. */
typedef struct {
    ProvmarkSampler *pm;
    float *dense; /* logits by token id */
    size_t vocab;
} wm_sampler;

#define CHECK(call)                                                                      \
    do {                                                                                 \
        ProvmarkStatus st_ = (call);                                                     \
        if (st_ != PROVMARK_OK) {                                                        \
            fprintf(stderr, "%s failed (%d): %s\n", #call, (int)st_, provmark_last_error()); \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

/* apply(): candidates in, chosen candidate out. `history` holds the tokens so far. */
static void wm_apply(wm_sampler *s, token_data_array *cur, const uint32_t *history, size_t n_history) {
    for (size_t v = 0; v < s->vocab; v++) s->dense[v] = -INFINITY;
    for (size_t i = 0; i < cur->size; i++) s->dense[cur->data[i].id] = cur->data[i].logit;
    uint32_t token = 0;
    bool watermarked = false;
    CHECK(provmark_sampler_choose(s->pm, history, n_history, s->dense, s->vocab, &token, &watermarked));
    cur->selected = -1;
    for (size_t i = 0; i < cur->size; i++)
        if ((uint32_t)cur->data[i].id == token) cur->selected = (int64_t)i;
    if (cur->selected < 0) {
        fprintf(stderr, "chosen token %u is not a candidate\n", token);
        exit(1);
    }
}

/* Toy model: logits from a hash of the last two tokens (high entropy, like a base model). */
static void toy_logits(const uint32_t *history, size_t n, token_data_array *cur) {
    uint64_t x = 0x9E3779B97F4A7C15ull ^ ((uint64_t)history[n - 1] << 32) ^ history[n - 2];
    for (size_t i = 0; i < cur->size; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        cur->data[i].id = (int32_t)i;
        cur->data[i].logit = (float)((x >> 40) % 1000) / 250.0f; /* 0 .. 4 */
        cur->data[i].p = 0.0f;
    }
}

static int generate(const ProvmarkProfile *profile, bool watermark, bool *verdict) {
    const size_t vocab = 1000, steps = 400;
    uint32_t *history = calloc(steps + 2, sizeof *history);
    token_data_array cur = {calloc(vocab, sizeof(token_data)), vocab, -1, false};
    wm_sampler s = {NULL, calloc(vocab, sizeof(float)), vocab};
    if (!history || !cur.data || !s.dense) return 1;
    CHECK(provmark_sampler_new(profile, "account-42", vocab, 7, &s.pm));
    history[0] = 11; history[1] = 12;
    size_t n = 2;
    uint64_t plain = 12345;
    for (size_t t = 0; t < steps; t++) {
        toy_logits(history, n, &cur);
        if (watermark) {
            wm_apply(&s, &cur, history, n);
        } else { /* a crude plain sampler: one of the ten best by a fixed LCG */
            plain = plain * 6364136223846793005ull + 1442695040888963407ull;
            float best = -1.0f; cur.selected = 0;
            for (size_t i = 0; i < cur.size; i++)
                if (cur.data[i].logit + (float)((plain >> (i % 50)) & 3) > best) {
                    best = cur.data[i].logit + (float)((plain >> (i % 50)) & 3);
                    cur.selected = (int64_t)i;
                }
        }
        history[n++] = (uint32_t)cur.data[cur.selected].id;
    }
    const char *accounts[] = {"account-1", "account-42", "account-7"};
    char *json = NULL;
    CHECK(provmark_check(profile, NULL, history, n, accounts, 3, 0.0, &json, verdict));
    printf("%s: %s\n", watermark ? "watermarked run" : "plain run", json);
    provmark_string_free(json);
    provmark_sampler_free(s.pm);
    free(s.dense);
    free(cur.data);
    free(history);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PROFILE.json\n", argv[0]);
        return 2;
    }
    ProvmarkProfile *profile = NULL;
    CHECK(provmark_profile_load(argv[1], &profile));

    /* Errors come back as codes with a message, never as a crash. */
    ProvmarkSampler *bad = NULL;
    if (provmark_sampler_new(profile, NULL, 0, 1, &bad) == PROVMARK_OK || bad != NULL) {
        fprintf(stderr, "a zero vocabulary was accepted\n");
        return 1;
    }
    printf("expected error: %s\n", provmark_last_error());

    bool wm = false, clean = true;
    if (generate(profile, true, &wm) || generate(profile, false, &clean)) return 1;
    provmark_profile_free(profile);
    if (!wm || clean) {
        fprintf(stderr, "FAIL: watermarked run detected=%d, plain run detected=%d\n", wm, clean);
        return 1;
    }
    printf("OK: the watermarked run is detected (with its account), the plain run is not\n");
    return 0;
}
