/*
 * The in-process server that fuzz_server and fuzz_h2 feed: the real server
 * (config loaded from a JSON file with real modules, the event loop,
 * conn/request/response, the static, autoindex, echo and delay modules), set
 * up as server_run does but without signals or listening sockets. Each input
 * gets a socketpair whose one end is handed to conn_new, as an accepted socket
 * is. Modules come from the build tree: <exe dir>/modules (static, autoindex)
 * and <exe dir>/fuzz-modules (echo and delay, built by tests/fuzz/fuzz.cmake).
 */
#ifndef FUZZ_SERVER_HARNESS_H
#define FUZZ_SERVER_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#define HARNESS_MAX_INPUT (256 * 1024)

/* Writes the document root and a config whose two servers listen on
 * `listen_json` (a JSON value for "listen"), loads it and sets the server up.
 * `name` prefixes error messages; when the environment variable `show_env` is
 * set, everything the server answers is copied to stderr (to debug a seed).
 * Aborts on any failure: a harness that cannot start is a broken build. */
void harness_init(const char *name, const char *listen_json, const char *show_env);

/* One client connection: writes `data` as fast as the server takes it (the
 * first `pause_at` bytes, then, once the server is quiet, the rest), reads
 * and drops the answers, half-closes once the server is quiet, and returns
 * when the server has closed. Aborts when the connection outlives the
 * client's EOF by 3 s (a hang) or when a connection, request or event
 * outlives the input. The first up to 9 bytes answered are copied to `first`;
 * returns their count. */
size_t harness_connection(const uint8_t *data, size_t size, size_t pause_at, char first[9]);

#endif
