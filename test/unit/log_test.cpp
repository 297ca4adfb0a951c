#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>

#include "netfront/log.hpp"
#include "runtime/log.hpp"

namespace netfront {
namespace {

TEST(LogLevelsTest, ASpecSetsEveryComponentThenSomeAndReachesLoggersNotMadeYet) {
  ASSERT_TRUE(log::set_levels(" warn , device = debug"));  // "device" is made after this, below
  EXPECT_EQ(runtime::logger("pci").level(), spdlog::level::warn);
  EXPECT_EQ(runtime::logger("device").level(), spdlog::level::debug);
  // A bare level applies to every component again, the ones set one by one included.
  ASSERT_TRUE(log::set_levels("error"));
  EXPECT_EQ(runtime::logger("device").level(), spdlog::level::err);
  ASSERT_TRUE(log::set_level("device", log::Level::Trace));
  EXPECT_EQ(runtime::logger("device").level(), spdlog::level::trace);
  EXPECT_EQ(runtime::logger("pci").level(), spdlog::level::err);
  log::set_level(log::Level::Info);
  EXPECT_EQ(runtime::logger("device").level(), spdlog::level::info);
}

TEST(LogLevelsTest, AMalformedSpecOrAnUnknownComponentIsRefusedWholeAndChangesNothing) {
  log::set_level(log::Level::Info);
  for (const char* bad : {"loud", "warn,pci=shouty", "=debug", "warn,info", "pci=debug,", "warn,ring=debug",
                          "info;net=debug", "pci:debug"}) {
    Result<> refused = log::set_levels(bad);
    ASSERT_FALSE(refused) << bad;
    EXPECT_FALSE(refused.error().message().empty()) << bad;
    EXPECT_EQ(runtime::logger("pci").level(), spdlog::level::info) << bad;
    EXPECT_EQ(runtime::logger("net").level(), spdlog::level::info) << bad;
  }
  EXPECT_FALSE(log::set_level("rnig", log::Level::Debug));
  EXPECT_TRUE(log::set_levels("warning,pci=err,net=critical,vhost=off"));
  EXPECT_EQ(runtime::logger("pci").level(), spdlog::level::err);
  EXPECT_EQ(runtime::logger("net").level(), spdlog::level::critical);
  log::set_level(log::Level::Info);
}

TEST(LogLevelsTest, TheApplicationsOwnSpdlogLoggersAreLeftAlone) {
  auto own = spdlog::create<spdlog::sinks::null_sink_mt>("application");
  own->set_level(spdlog::level::debug);
  auto same_name = spdlog::create<spdlog::sinks::null_sink_mt>("runtime");  // a name netfront also uses
  same_name->set_level(spdlog::level::trace);
  log::set_level(log::Level::Off);
  EXPECT_EQ(own->level(), spdlog::level::debug);
  EXPECT_EQ(same_name->level(), spdlog::level::trace);
  EXPECT_NE(&runtime::logger("runtime"), same_name.get());
  log::set_level(log::Level::Info);
  spdlog::drop("application");
  spdlog::drop("runtime");
}

}  // namespace
}  // namespace netfront
