/* A test module whose init() refuses to start. */
#include "webserv/module.h"

static int if_init(const ws_host *h) { (void)h; return 3; }

__attribute__((visibility("default"))) const ws_module webserv_module = {
    WS_MODULE_HEADER, .name = "initfail", .init = if_init,
};
