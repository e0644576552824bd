// The NATS C client (Debian's libnats-dev), seen by NATSEngine only. Nothing here is variadic:
// the header is imported as it is.
#ifndef KEYGATE_CNATS_SHIM_H
#define KEYGATE_CNATS_SHIM_H

#include <nats/nats.h>

#endif
