#include "synack/trace/pcap.hpp"

#include <fmt/format.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <utility>

#include "synack/trace/tcpdump.hpp"

namespace synack::trace {

namespace {

std::string describe_link_type(int dlt, bool description) {
  const char* text =
      description ? pcap_datalink_val_to_description(dlt) : pcap_datalink_val_to_name(dlt);
  return text != nullptr ? std::string(text) : fmt::format("{}", dlt);
}

}  // namespace

// ---------------------------------------------------------------------------- PcapReader

PcapReader::PcapReader(pcap* handle, std::string path)
    : handle_(handle), path_(std::move(path)), link_type_(pcap_datalink(handle)) {}

PcapReader::PcapReader(PcapReader&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)),
      path_(std::move(other.path_)),
      link_type_(other.link_type_) {}

PcapReader& PcapReader::operator=(PcapReader&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) pcap_close(handle_);
    handle_ = std::exchange(other.handle_, nullptr);
    path_ = std::move(other.path_);
    link_type_ = other.link_type_;
  }
  return *this;
}

PcapReader::~PcapReader() {
  if (handle_ != nullptr) pcap_close(handle_);
}

expected<PcapReader, std::string> PcapReader::open(const std::string& path) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  // Microsecond precision: libpcap scales nanosecond files down, as tcpdump without
  // --nano does, so Instants and printed timestamps agree with tcpdump.
  pcap_t* handle =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, errbuf);
  if (handle == nullptr) {
    // libpcap's message already names the file for system errors ("x.pcap: No such file
    // or directory") but not for format errors ("unknown file format").
    std::string message = errbuf;
    if (message.rfind(path, 0) != 0) message = fmt::format("{}: {}", path, message);
    return unexpected(std::move(message));
  }
  return PcapReader(handle, path);
}

expected<std::optional<PcapPacket>, std::string> PcapReader::next() {
  if (handle_ == nullptr) return unexpected(std::string("pcap reader is closed"));
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  const int rc = pcap_next_ex(handle_, &header, &data);
  if (rc == PCAP_ERROR_BREAK) return std::optional<PcapPacket>();  // end of file
  if (rc != 1) {
    return unexpected(fmt::format("{}: {}", path_, pcap_geterr(handle_)));
  }
  PcapPacket packet;
  packet.timestamp = Instant::from_micros(static_cast<int64_t>(header->ts.tv_sec) * 1'000'000 +
                                          static_cast<int64_t>(header->ts.tv_usec));
  packet.bytes = wire::Bytes(reinterpret_cast<const std::byte*>(data), header->caplen);
  packet.original_length = header->len;
  packet.link_type = link_type_;
  return std::optional<PcapPacket>(packet);
}

std::string PcapReader::link_type_name() const {
  return describe_link_type(link_type_, false);
}

std::string PcapReader::link_type_description() const {
  return describe_link_type(link_type_, true);
}

uint32_t PcapReader::snapshot_length() const {
  return handle_ != nullptr ? static_cast<uint32_t>(pcap_snapshot(handle_)) : 0;
}

// ---------------------------------------------------------------------------- PcapWriter

PcapWriter::PcapWriter(pcap* handle, pcap_dumper* dumper, std::string path,
                       uint32_t snapshot_length)
    : handle_(handle), dumper_(dumper), path_(std::move(path)), snapshot_length_(snapshot_length) {}

PcapWriter::PcapWriter(PcapWriter&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)),
      dumper_(std::exchange(other.dumper_, nullptr)),
      path_(std::move(other.path_)),
      snapshot_length_(other.snapshot_length_) {}

PcapWriter& PcapWriter::operator=(PcapWriter&& other) noexcept {
  if (this != &other) {
    close();
    handle_ = std::exchange(other.handle_, nullptr);
    dumper_ = std::exchange(other.dumper_, nullptr);
    path_ = std::move(other.path_);
    snapshot_length_ = other.snapshot_length_;
  }
  return *this;
}

PcapWriter::~PcapWriter() {
  close();
}

void PcapWriter::close() {
  if (dumper_ != nullptr) {
    pcap_dump_close(dumper_);  // flushes
    dumper_ = nullptr;
  }
  if (handle_ != nullptr) {
    pcap_close(handle_);
    handle_ = nullptr;
  }
}

expected<PcapWriter, std::string> PcapWriter::open(const std::string& path, int link_type,
                                                   uint32_t snapshot_length) {
  pcap_t* handle = pcap_open_dead_with_tstamp_precision(
      link_type, static_cast<int>(snapshot_length), PCAP_TSTAMP_PRECISION_MICRO);
  if (handle == nullptr) {
    return unexpected(
        fmt::format("{}: cannot create a pcap handle for link type {}", path, link_type));
  }
  pcap_dumper_t* dumper = pcap_dump_open(handle, path.c_str());
  if (dumper == nullptr) {
    std::string message = fmt::format("{}: {}", path, pcap_geterr(handle));
    pcap_close(handle);
    return unexpected(std::move(message));
  }
  return PcapWriter(handle, dumper, path, snapshot_length);
}

void PcapWriter::write(Instant timestamp, wire::Bytes packet) {
  write(timestamp, packet, static_cast<uint32_t>(packet.size()));
}

void PcapWriter::write(Instant timestamp, wire::Bytes captured, uint32_t original_length) {
  if (dumper_ == nullptr) return;
  const size_t caplen = std::min<size_t>(captured.size(), snapshot_length_);
  // Floor division, so that an Instant before the epoch still has 0 <= usec < 10^6.
  int64_t us = timestamp.as_micros();
  int64_t sec = us / 1'000'000;
  int64_t usec = us % 1'000'000;
  if (usec < 0) {
    usec += 1'000'000;
    sec -= 1;
  }
  pcap_pkthdr header{};
  header.ts.tv_sec = static_cast<time_t>(sec);
  header.ts.tv_usec = static_cast<suseconds_t>(usec);
  header.caplen = static_cast<bpf_u_int32>(caplen);
  header.len = std::max<bpf_u_int32>(original_length, header.caplen);
  pcap_dump(reinterpret_cast<u_char*>(dumper_), &header,
            reinterpret_cast<const u_char*>(captured.data()));
}

expected<void, std::string> PcapWriter::flush() {
  if (dumper_ == nullptr) return unexpected(std::string("pcap writer is closed"));
  if (pcap_dump_flush(dumper_) != 0) {
    return unexpected(fmt::format("{}: write failed", path_));
  }
  return {};
}

std::optional<wire::Bytes> ipv4_in_frame(int dlt, wire::Bytes frame) {
  constexpr uint16_t kIpv4Type = 0x0800;
  constexpr uint16_t kVlanType = 0x8100;
  size_t offset = 0;
  switch (dlt) {
    case link_type::kEthernet: {
      if (frame.size() < 14) return std::nullopt;
      uint16_t type = wire::load_be16(frame.data() + 12);
      offset = 14;
      if (type == kVlanType && frame.size() >= 18) {
        type = wire::load_be16(frame.data() + 16);
        offset = 18;
      }
      if (type != kIpv4Type) return std::nullopt;
      break;
    }
    case link_type::kLinuxSll:  // 16 bytes, the protocol at 14
      if (frame.size() < 16 || wire::load_be16(frame.data() + 14) != kIpv4Type) return std::nullopt;
      offset = 16;
      break;
    case link_type::kLinuxSll2:  // 20 bytes, the protocol first
      if (frame.size() < 20 || wire::load_be16(frame.data()) != kIpv4Type) return std::nullopt;
      offset = 20;
      break;
    case link_type::kNull: {  // the address family in the capturing host's byte order
      if (frame.size() < 4) return std::nullopt;
      const auto b = [&](size_t i) { return static_cast<uint8_t>(frame[i]); };
      if (!(b(0) == 2 && b(1) == 0 && b(2) == 0 && b(3) == 0) &&
          !(b(0) == 0 && b(1) == 0 && b(2) == 0 && b(3) == 2)) {
        return std::nullopt;
      }
      offset = 4;
      break;
    }
    case link_type::kRaw:
    case link_type::kRawBsd:
    case link_type::kLinktypeRaw:
    case link_type::kIpv4:
      break;
    default:
      return std::nullopt;
  }
  const wire::Bytes ip = frame.subspan(offset);
  if (ip.empty() || (static_cast<uint8_t>(ip[0]) >> 4) != 4) return std::nullopt;
  return ip;
}

}  // namespace synack::trace
