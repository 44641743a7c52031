#include "signalr/signalr.h"

const char *signalr_version(void) { return SIGNALR_VERSION_STRING; }

int signalr_version_number(void) { return SIGNALR_VERSION_NUMBER; }
