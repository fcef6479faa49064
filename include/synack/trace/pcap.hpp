// pcap files through libpcap: reading captures (any link type libpcap knows) and writing
// raw-IP captures that tcpdump, tshark and Wireshark open without warnings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "synack/expected.hpp"
#include "synack/time.hpp"
#include "synack/wire/bytes.hpp"

// libpcap's handle types, so that this header does not pull in <pcap/pcap.h>.
struct pcap;
struct pcap_dumper;

namespace synack::trace {

// One captured packet. `bytes` points into the reader's buffer and stays valid until the
// next call to PcapReader::next() (or the reader's destruction).
struct PcapPacket {
  Instant timestamp;             // microseconds since the Unix epoch
  wire::Bytes bytes;             // the captured bytes (pcap's caplen of them)
  uint32_t original_length = 0;  // the length on the wire (pcap's len), as recorded
  int link_type = 0;             // DLT_ value, as pcap_datalink() reports it
};

class PcapReader {
 public:
  // Opens a capture file (pcap or pcapng). The error names the file and says what is wrong
  // ("no such file", "unknown file format", ...).
  static expected<PcapReader, std::string> open(const std::string& path);

  PcapReader(PcapReader&& other) noexcept;
  PcapReader& operator=(PcapReader&& other) noexcept;
  PcapReader(const PcapReader&) = delete;
  PcapReader& operator=(const PcapReader&) = delete;
  ~PcapReader();

  // The next packet; nullopt at the end of the file; an error for a truncated or corrupt
  // file (the packets before it were returned normally).
  expected<std::optional<PcapPacket>, std::string> next();

  // DLT_ value, e.g. 12 (DLT_RAW) for a LINKTYPE_RAW file, 1 for Ethernet.
  int link_type() const { return link_type_; }
  // libpcap's name and description of the link type: "RAW", "Raw IP".
  std::string link_type_name() const;
  std::string link_type_description() const;
  uint32_t snapshot_length() const;
  const std::string& path() const { return path_; }

 private:
  PcapReader(pcap* handle, std::string path);

  pcap* handle_ = nullptr;
  std::string path_;
  int link_type_ = 0;
};

class PcapWriter {
 public:
  static constexpr uint32_t kDefaultSnapshotLength = 262144;  // tcpdump's default

  // Creates (truncates) `path`. The link type is a DLT_ value; the default, DLT_RAW, is
  // stored as LINKTYPE_RAW (101): packets start with their IPv4/IPv6 header.
  static expected<PcapWriter, std::string> open(const std::string& path, int link_type = 12,
                                                uint32_t snapshot_length = kDefaultSnapshotLength);

  PcapWriter(PcapWriter&& other) noexcept;
  PcapWriter& operator=(PcapWriter&& other) noexcept;
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;
  // Flushes and closes the file.
  ~PcapWriter();

  // Appends a packet seen whole on the wire; bytes beyond the snapshot length are cut
  // (and the original length recorded) as a capture would.
  void write(Instant timestamp, wire::Bytes packet);
  // Appends a packet of which only `captured` was kept out of `original_length` bytes.
  void write(Instant timestamp, wire::Bytes captured, uint32_t original_length);

  // Pushes buffered packets to the file.
  expected<void, std::string> flush();

  const std::string& path() const { return path_; }

 private:
  PcapWriter(pcap* handle, pcap_dumper* dumper, std::string path, uint32_t snapshot_length);
  void close();

  pcap* handle_ = nullptr;
  pcap_dumper* dumper_ = nullptr;
  std::string path_;
  uint32_t snapshot_length_ = kDefaultSnapshotLength;
};

// The IPv4 datagram a captured frame of link type `dlt` carries, if it carries one: after
// an Ethernet header (one 802.1Q tag skipped), a Linux cooked header (v1 or v2), a BSD
// loopback header, or none (raw IP). Nothing for other protocols, short frames or link
// types it does not know.
std::optional<wire::Bytes> ipv4_in_frame(int dlt, wire::Bytes frame);

}  // namespace synack::trace
