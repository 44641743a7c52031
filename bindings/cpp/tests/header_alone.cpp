// signalr.hpp is the first and only include: it brings everything it needs.
#include <signalr/signalr.hpp>

int signalr_cpp_header_alone() { return signalr::value().is_null() ? 0 : 1; }
