// The library's typed errors: each layer's codes, what an application is told of each
// (runtime::Fault::to_error), and that a code of one layer is never taken for another's.
#include <gtest/gtest.h>

#include <string>

#include "drivers/virtio/net/device_error.hpp"
#include "drivers/virtio/ring/ring_error.hpp"
#include "drivers/virtio/transport/transport_error.hpp"
#include "runtime/fault.hpp"
#include "runtime/runtime_error.hpp"

namespace netfront::runtime {
namespace {

using virtio::net::DeviceError;
using virtio::ring::RingError;
using virtio::transport::TransportError;

// Every code of an enum.
template <typename E>
void for_each_code(auto&& check) {
  for (unsigned i = 0; i < static_cast<unsigned>(E::Count); ++i) check(static_cast<E>(i));
}

TEST(FaultTest, EveryCodeOfEveryLayerHasADescriptionAndACause) {
  const auto check = [](auto code) {
    const Fault f(code);
    EXPECT_NE(f.what(), "?") << f.layer() << " " << static_cast<unsigned>(code);
    EXPECT_FALSE(f.what().empty());
    EXPECT_NE(f.cause(), Error::Cause::Unspecified) << f.to_string();
    EXPECT_EQ(f.message(), f.what()) << "with no message of its own, a fault says what its code is";
  };
  for_each_code<RuntimeError>(check);
  for_each_code<TransportError>(check);
  for_each_code<DeviceError>(check);
  for_each_code<RingError>(check);
}

TEST(FaultTest, ACodeIsOnlyItsOwnLayersCode) {
  // The same numeric value in two enums.
  static_assert(static_cast<unsigned>(RuntimeError::BadRequest) == static_cast<unsigned>(TransportError::NoSuchDevice));
  const Fault f(TransportError::NoSuchDevice, "no PCI function 0000:00:09.0");
  EXPECT_TRUE(f.is(TransportError::NoSuchDevice));
  EXPECT_FALSE(f.is(RuntimeError::BadRequest));
  EXPECT_FALSE(f.is(DeviceError::BadArgument));
  EXPECT_FALSE(f.is(TransportError::BadRequest));
  EXPECT_EQ(f.layer(), "transport");
}

TEST(FaultTest, TheApplicationIsToldTheKindCauseAndMessage) {
  const Error gone = Fault(TransportError::BackendClosed, "backend closed the connection").to_error();
  EXPECT_TRUE(gone.is_disconnected());
  EXPECT_EQ(gone.cause(), Error::Cause::DeviceGone);
  EXPECT_EQ(gone.message(), "backend closed the connection");

  const Error broke = Fault(RingError::UsedIndexJump, "queue 1").to_error();
  EXPECT_TRUE(broke.is_disconnected());
  EXPECT_EQ(broke.cause(), Error::Cause::DeviceFault);

  const Error refused = Fault(DeviceError::Refused, "device did not accept features").to_error();
  EXPECT_TRUE(refused.is_unknown());
  EXPECT_EQ(refused.cause(), Error::Cause::DeviceRefused);

  const Error bad = Fault(RingError::BadSize, "split queue size 3").to_error();
  EXPECT_TRUE(bad.is_unknown());
  EXPECT_EQ(bad.cause(), Error::Cause::BadArgument);

  const Error full = Fault(RuntimeError::Exhausted).to_error();
  EXPECT_EQ(full.cause(), Error::Cause::NoResources);
  EXPECT_EQ(full.message(), "out of device memory");
}

TEST(FaultTest, ContextIsAddedInFrontAndTheCodeKept) {
  const Fault f = Fault(RuntimeError::Exhausted, "8 KiB free").with_context("cannot reserve 64 KiB of DMA memory");
  EXPECT_TRUE(f.is(RuntimeError::Exhausted));
  EXPECT_EQ(f.message(), "cannot reserve 64 KiB of DMA memory: 8 KiB free");
  EXPECT_EQ(f.to_string(), "runtime: out of device memory (cannot reserve 64 KiB of DMA memory: 8 KiB free)");
}

TEST(FaultTest, AnErrorOfAPublicCallIsCarriedAsItIs) {
  const Error e = Error::unknown(Error::Cause::BadArgument, "epoll refuses fd 7");
  const Fault carried(e);
  EXPECT_EQ(carried.layer(), "api");
  EXPECT_FALSE(carried.is(TransportError::BadRequest));
  EXPECT_EQ(carried.to_error(), e);
  // A carried error without a message says what its cause is, so that context reads well.
  EXPECT_EQ(Fault(Error::disconnected()).with_context("sending").message(), "sending: device gone");

  const netfront::Result<int> back = to_api(Result<int>(Fault(DeviceError::Closed)));
  ASSERT_FALSE(back);
  EXPECT_TRUE(back.error().is_disconnected());
  EXPECT_EQ(to_api(Result<int>(5)).value(), 5);
}

}  // namespace
}  // namespace netfront::runtime
