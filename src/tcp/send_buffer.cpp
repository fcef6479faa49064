#include "synack/tcp/send_buffer.hpp"

#include <algorithm>
#include <cstring>

namespace synack::tcp {

SendBuffer::SendBuffer(size_t capacity) : storage_(capacity) {}

size_t SendBuffer::write(wire::Bytes data) {
  const size_t n = std::min(data.size(), free_space());
  if (n == 0) return 0;
  const size_t at = index_of(end_offset_);
  const size_t first = std::min(n, capacity() - at);
  std::memcpy(storage_.data() + at, data.data(), first);
  std::memcpy(storage_.data(), data.data() + first, n - first);
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
  const size_t n = static_cast<size_t>(std::min<uint64_t>(len, end_offset_ - offset));
  const size_t at = index_of(offset);
  const size_t first = std::min(n, capacity() - at);
  return {wire::Bytes(storage_.data() + at, first), wire::Bytes(storage_.data(), n - first)};
}

size_t SendBuffer::copy_out(uint64_t offset, wire::MutableBytes out) const {
  const auto [first, second] = peek(offset, out.size());
  if (!first.empty()) std::memcpy(out.data(), first.data(), first.size());
  if (!second.empty()) std::memcpy(out.data() + first.size(), second.data(), second.size());
  return first.size() + second.size();
}

bool SendBuffer::resize(size_t capacity) {
  if (!empty()) return false;
  // Only before the connection carries data (SO_SNDBUF before connect), never per segment.
  storage_ = std::vector<std::byte>(capacity);
  return true;
}

}  // namespace synack::tcp
