/*
 * libFuzzer target for the server's HTTP/2 session (core/h2) in one process:
 * the fuzzed bytes are the frames an h2c client sends after the connection
 * preface on one connection (the target writes the preface itself, so every
 * input reaches nghttp2 and the stream/request mapping behind it), to the
 * real server of server_harness.h on an h2c address. The input comes in two
 * halves with a quiet moment between: an idle session sleeps at once here
 * (h2_sleep_after_ms = 0), so the second half may wake a sleeping one.
 * Besides sanitizer reports the target checks that
 *   - the answer starts with the server's SETTINGS frame (RFC 9113 §3.4),
 *   - the server closes the connection after the client's EOF (no hang),
 *   - no connection, request or event outlives the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h2.h"
#include "server_harness.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    harness_init("fuzz-h2", "[{\"address\": \"127.0.0.1:1\", \"protocols\": [\"h2c\", \"http/1.1\"]}]",
                 "FUZZ_H2_SHOW");
    h2_sleep_after_ms = 0; /* an idle session sleeps at once (h2_idle.c) */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t input_size)
{
    if (input_size > HARNESS_MAX_INPUT)
        return 0;
    static uint8_t data[H2_PREFACE_LEN + HARNESS_MAX_INPUT];
    memcpy(data, H2_PREFACE, H2_PREFACE_LEN);
    memcpy(data + H2_PREFACE_LEN, input, input_size);
    char first[9];
    size_t first_len = harness_connection(data, H2_PREFACE_LEN + input_size, H2_PREFACE_LEN + input_size / 2, first);
    /* The first frame: SETTINGS (type 4) on stream 0. */
    if (first_len >= 9 && (first[3] != 4 || first[5] || first[6] || first[7] || first[8])) {
        fprintf(stderr, "fuzz_h2: the answer does not start with a SETTINGS frame\n");
        abort();
    }
    return 0;
}
