/* A test module with no configure(): any key in its settings is unknown. */
#include "webserv/module.h"

static const char *const methods[] = {"PUT", "DELETE", NULL};
static int p_match(ws_request *r) { (void)r; return WS_DECLINE; }
static int p_handle(ws_request *r) { (void)r; return 500; }

__attribute__((visibility("default"))) const ws_module webserv_module = {
    WS_MODULE_HEADER, .name = "plain", .methods = methods, .match = p_match, .handle = p_handle,
};
