/*
 * The core's settings getters, arena and response-field rules, compiled into the test host so a
 * module under test sees exactly the errors the server would report. They
 * are included rather than listed as sources so that a direct build
 * (gcc with every .c of tests/testhost) needs nothing but -ljansson.
 */
#include "../../core/base/arena.c"
#include "../../core/config/settings.c"
/* The rules for what a module may set on a response (and the token check they use). */
#include "../../core/http/header_rules.c"
/* How open_file opens (the core's, without its cache). */
#include "../../core/fs/file_open.c"
#include "../../core/http/http_parse.c"
/* Shared-memory zones and their allocator (ABI 1.2 shm_*), the core's own. */
#include "../../core/module/shm_heap.c"
#include "../../core/module/shm_zone.c"
