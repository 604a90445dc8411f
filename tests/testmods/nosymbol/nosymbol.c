/* A shared object without the webserv_module symbol: not a module. */
__attribute__((visibility("default"))) int not_a_webserv_module = 1;
