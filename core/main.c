#include <stdio.h>
int main(void) { fprintf(stderr, "webserv: not built yet\n"); return 1; }
