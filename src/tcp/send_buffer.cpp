#include "synack/tcp/send_buffer.hpp"

#include <algorithm>

namespace synack::tcp {

SendBuffer::SendBuffer(size_t capacity) : ring_(capacity) {}

size_t SendBuffer::write(wire::Bytes data) {
  const size_t n = std::min(data.size(), free_space());
  if (n == 0) return 0;
  ring_.store(end_offset_, data.first(n));
  end_offset_ += n;
  return n;
}

size_t SendBuffer::acknowledge(uint64_t up_to_offset) {
  const uint64_t to = std::min(up_to_offset, end_offset_);
  if (to <= begin_offset_) return 0;
  const auto dropped = static_cast<size_t>(to - begin_offset_);
  begin_offset_ = to;
  return dropped;
}

std::pair<wire::Bytes, wire::Bytes> SendBuffer::peek(uint64_t offset, size_t len) const {
  if (offset < begin_offset_ || offset >= end_offset_) return {};
  return ring_.view(offset, static_cast<size_t>(std::min<uint64_t>(len, end_offset_ - offset)));
}

size_t SendBuffer::copy_out(uint64_t offset, wire::MutableBytes out) const {
  if (offset < begin_offset_ || offset >= end_offset_) return 0;
  const size_t n = static_cast<size_t>(std::min<uint64_t>(out.size(), end_offset_ - offset));
  ring_.copy_out(offset, out.first(n));
  return n;
}

bool SendBuffer::resize(size_t capacity) {
  if (!empty()) return false;
  // Only before the connection carries data (SO_SNDBUF before connect), never per segment.
  ring_.reset(capacity);
  return true;
}

}  // namespace synack::tcp
