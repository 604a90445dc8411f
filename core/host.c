/*
 * The host function table handed to every module: the one place that maps
 * the public API (include/webserv/module.h) onto the core's internals.
 */
#include "modules.h"
#include "settings.h"

const ws_host ws_core_host = {
    .size = sizeof(ws_host),
    .abi_major = WS_ABI_MAJOR,
    .abi_minor = WS_ABI_MINOR,
    .server_software = "webserv/" WEBSERV_VERSION,
    .cfg_bool = settings_bool,
    .cfg_int = settings_int,
    .cfg_size = settings_size,
    .cfg_seconds = settings_seconds,
    .cfg_string = settings_string,
    .cfg_path = settings_path,
    .cfg_string_list = settings_string_list,
    .cfg_string_map = settings_string_map,
    .cfg_error = settings_error,
    .cfg_alloc = settings_alloc,
};
