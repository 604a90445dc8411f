/*
 * The core's settings getters, arena and response-field rules, compiled into the test host so a
 * module under test sees exactly the errors the server would report. They
 * are included rather than listed as sources so that a direct build
 * (gcc with every .c of tests/testhost) needs nothing but -ljansson.
 */
#include "../../core/arena.c"
#include "../../core/settings.c"
/* The rules for what a module may set on a response (and the token check they use). */
#include "../../core/header_rules.c"
/* How open_file opens (the core's, without its cache). */
#include "../../core/file_open.c"
#include "../../core/http_parse.c"
