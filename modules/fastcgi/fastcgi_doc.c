/*
 * Words for `webserv --schema` (module.h ws_module_doc): the keys and their
 * types come from fcgi_configure's getters; the patterns are what it checks
 * (upstream required; index a file name without "/"; extensions suffixes
 * such as ".php"; env names of letters, digits and "_"). Whether the upstream
 * is defined at the top level, and the location's root, are checked by the
 * server only.
 */
#include "webserv/module.h"

static const ws_key_doc fastcgi_keys[] = {
    {"upstream", "Name of a top-level upstream of FastCGI servers, e.g. PHP-FPM (required)", NULL, NULL, NULL},
    {"index", "Script for a folder's path when the location has no index file of its own", "\"index.php\"", NULL,
     "{\"pattern\": \"^[^/]+$\"}"},
    {"split_path", "/app/x.php/more runs x.php with PATH_INFO=/more (false: only exact script paths)", "true", NULL,
     NULL},
    {"extensions", "File-name suffixes that are scripts; other files are not this module's", "[\".php\"]", NULL,
     "{\"items\": {\"pattern\": \"^[.][^/]+$\"}}"},
    {"env", "Extra parameters for every script; the meta-variables win over them", "{}", NULL,
     "{\"propertyNames\": {\"pattern\": \"^[A-Za-z0-9_]+$\"}}"},
    {NULL, NULL, NULL, NULL, NULL},
};

WS_EXPORT const ws_module_doc webserv_module_doc = {
    .size = sizeof(ws_module_doc),
    .key_size = sizeof(ws_key_doc),
    .description = "FastCGI 1.0 to an upstream (PHP-FPM), with the same meta-variables as cgi",
    .keys = fastcgi_keys,
    .schema = "{\"required\": [\"upstream\"]}",
};
