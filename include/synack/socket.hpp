// synack's socket API: non-blocking BSD-like sockets (api::Host, api::Socket), the event
// loop that drives them (api::EventLoop) and the devices it runs over. The thread-safe
// blocking facade is in synack/api/blocking.hpp.
#pragma once

#include "synack/api/device.hpp"      // IWYU pragma: export
#include "synack/api/event_loop.hpp"  // IWYU pragma: export
#include "synack/api/socket.hpp"      // IWYU pragma: export
