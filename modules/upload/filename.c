/* Plain file-name check; see filename.h. */
#include "filename.h"

#include <string.h>

int upload_plain_name(const char *name, size_t len)
{
    if (name == NULL || len == 0 || len > 255)
        return 0;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
            return 0;
    }
    return 1;
}
