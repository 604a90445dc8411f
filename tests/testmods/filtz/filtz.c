/* mod_filtz: mod_filty under another name, to check the order of a chain of
 * body filters (the config's "modules" list). */
#define FILTY_NAME "filtz"
#define FILTY_SAW "X-Filtz-Saw"
#include "../filty/filty.c"
