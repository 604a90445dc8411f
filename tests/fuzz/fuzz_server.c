/*
 * libFuzzer target for the whole server in one process: the fuzzed bytes are
 * what a client sends on one HTTP/1 connection to the real server of
 * server_harness.h (real config, modules, event loop and request path).
 * Besides sanitizer reports the target checks that
 *   - every answer starts with a status line "HTTP/1.1 ",
 *   - the server closes the connection after the client's EOF (no hang),
 *   - no connection, request or event outlives the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_harness.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    harness_init("fuzz-server", "\"127.0.0.1:1\"", "FUZZ_SERVER_SHOW");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > HARNESS_MAX_INPUT)
        return 0;
    char first[9];
    size_t first_len = harness_connection(data, size, size, first);
    if (first_len > 0 && memcmp(first, "HTTP/1.1 ", first_len) != 0) {
        fprintf(stderr, "fuzz_server: the answer does not start with a status line: %.*s\n", (int)first_len, first);
        abort();
    }
    return 0;
}
