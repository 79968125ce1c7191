// Every record in proto/commands.toml survives encode -> decode unchanged, and
// the decoder turns every kind of malformed input into an error, never a crash.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "proto/commands.gen.h"
#include "proto/commands_testing.gen.h"

using namespace xen3d::proto;
using namespace xen3d::proto::testing;

namespace {
template <class R>
std::vector<uint8_t> encoded(const R& r) {
  std::vector<uint8_t> v(wire_size(r));
  encode(v.data(), r);
  return v;
}
}  // namespace

TEST_CASE("every record round-trips through encode and decode", "[proto]") {
  std::mt19937_64 rng(1234);
  int types = 0;
  for_each_record_type([&]<class R>() {
    ++types;
    for (int iter = 0; iter < 200; ++iter) {
      TailStore store;
      R in;
      fill(in, rng, store);
      std::vector<uint8_t> wire = encoded(in);
      INFO(R::kName << " iteration " << iter);
      REQUIRE(wire.size() % 8 == 0);
      REQUIRE(wire.size() >= R::kMinWireSize);
      REQUIRE(header_size(wire.data()) == wire.size());
      R out;
      DecodeError e = decode(wire.data(), wire.size(), out);
      REQUIRE(e.ok());
      REQUIRE(same(in, out));
      // The dispatcher routes it to the right type, from the right side only.
      bool seen = false;
      DecodeError d = dispatch(wire.data(), wire.size(), R::kSender, [&](const auto& rec) {
        seen = std::is_same_v<std::decay_t<decltype(rec)>, R>;
        return DecodeError{};
      });
      REQUIRE(d.ok());
      REQUIRE(seen);
      const Sender other = R::kSender == Sender::Guest ? Sender::Host : Sender::Guest;
      REQUIRE(dispatch(wire.data(), wire.size(), other, [](const auto&) { return DecodeError{}; }).code ==
              DecodeError::WrongSender);
      REQUIRE(trace_record(wire.data(), wire.size(), R::kSender).rfind(R::kName, 0) == 0);
    }
  });
  REQUIRE(types == static_cast<int>(kAllOpcodes.size()));
}

TEST_CASE("truncated records are rejected at every length", "[proto]") {
  std::mt19937_64 rng(7);
  for_each_record_type([&]<class R>() {
    TailStore store;
    R in;
    fill(in, rng, store);
    std::vector<uint8_t> wire = encoded(in);
    for (size_t len = 0; len < wire.size(); ++len) {
      std::vector<uint8_t> cut(wire.begin(), wire.begin() + static_cast<long>(len));
      R out;
      INFO(R::kName << " cut to " << len);
      REQUIRE_FALSE(decode(cut.data(), cut.size(), out).ok());
      REQUIRE_FALSE(dispatch(cut.data(), cut.size(), R::kSender, [](const auto&) { return DecodeError{}; }).ok());
    }
  });
}

TEST_CASE("size fields that lie are rejected", "[proto]") {
  Hello h;
  h.client_name = "guest-a";
  std::vector<uint8_t> wire = encoded(h);
  Hello out;

  SECTION("header claims more than the buffer") {
    store_le<uint32_t>(wire.data() + 4, static_cast<uint32_t>(wire.size() + 8));
    REQUIRE(decode(wire.data(), wire.size(), out).code == DecodeError::BadHeader);
  }
  SECTION("header size not a multiple of 8") {
    store_le<uint32_t>(wire.data() + 4, static_cast<uint32_t>(wire.size() - 1));
    REQUIRE_FALSE(decode(wire.data(), wire.size() - 1, out).ok());
  }
  SECTION("tail count larger than the record") {
    store_le<uint32_t>(wire.data() + Hello::kTailCountOffset, 200);
    REQUIRE(decode(wire.data(), wire.size(), out).code == DecodeError::SizeMismatch);
  }
  SECTION("tail count above the declared maximum") {
    store_le<uint32_t>(wire.data() + Hello::kTailCountOffset, 100000);
    REQUIRE(decode(wire.data(), wire.size(), out).code == DecodeError::FieldRange);
  }
  SECTION("oversized record") {
    std::vector<uint8_t> big(kMaxRecordSize + 8, 0);
    std::copy(wire.begin(), wire.end(), big.begin());
    store_le<uint32_t>(big.data() + 4, static_cast<uint32_t>(big.size()));
    REQUIRE_FALSE(decode(big.data(), big.size(), out).ok());
  }
  SECTION("reserved flags set") {
    store_le<uint16_t>(wire.data() + 2, 1);
    REQUIRE(decode(wire.data(), wire.size(), out).code == DecodeError::BadHeader);
  }
}

TEST_CASE("fields above their declared maximum are rejected", "[proto]") {
  ChecksumBulk c;
  c.data.pos = 64;
  c.data.size = 100;
  std::vector<uint8_t> wire = encoded(c);
  // bulk_ref.reserved (max 0) sits 12 bytes into the struct, which starts after the header.
  store_le<uint32_t>(wire.data() + 8 + 12, 5);
  ChecksumBulk out;
  DecodeError e = decode(wire.data(), wire.size(), out);
  REQUIRE(e.code == DecodeError::FieldRange);
  REQUIRE(std::string(e.field) == "reserved");
}

TEST_CASE("unknown opcodes and garbage never decode into a record", "[proto]") {
  std::vector<uint8_t> rec(32, 0);
  store_le<uint16_t>(rec.data(), 0x7fff);
  store_le<uint32_t>(rec.data() + 4, 32);
  DecodeError e = dispatch(rec.data(), rec.size(), Sender::Guest, [](const auto&) { return DecodeError{}; });
  REQUIRE(e.code == DecodeError::UnknownOpcode);
  REQUIRE(e.describe().find("unknown opcode") != std::string::npos);

  // Random bytes: every outcome must be a clean decision; the handler only ever
  // sees records whose fields passed their checks.
  std::mt19937_64 rng(99);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> junk(8 + 8 * (rng() % 12));
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    if (rng() % 2) {  // plausible header, random body
      store_le<uint16_t>(junk.data(), static_cast<uint16_t>(kAllOpcodes[rng() % kAllOpcodes.size()]));
      store_le<uint16_t>(junk.data() + 2, 0);
      store_le<uint32_t>(junk.data() + 4, static_cast<uint32_t>(junk.size()));
    }
    for (Sender s : {Sender::Guest, Sender::Host}) {
      DecodeError d = dispatch(junk.data(), junk.size(), s, [&](const auto&) {
        ++accepted;
        return DecodeError{};
      });
      if (!d.ok()) REQUIRE_FALSE(d.describe().empty());
    }
  }
  INFO("random records that happened to be valid: " << accepted);
  REQUIRE(accepted < 20000);
}
