// The control socket: a Host's connections and counters, asked the way `synack ss` and
// `synack nstat` ask, over a real unix socket in a directory of the test's own.
#include "synack/api/control.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <string>
#include <thread>

#include "api_test_util.hpp"

namespace synack::api {
namespace {

using testing::kA;
using testing::kB;
using testing::Pair;

// Points control_dir() at a fresh directory for the test's lifetime.
class ControlDir {
 public:
  ControlDir() {
    char tmpl[] = "/tmp/synack-control-test-XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    EXPECT_NE(made, nullptr);
    dir_ = made != nullptr ? made : "/tmp";
    ::setenv("SYNACK_RUNTIME_DIR", (dir_ + "/run").c_str(), 1);
  }
  ~ControlDir() {
    ::unsetenv("SYNACK_RUNTIME_DIR");
    std::filesystem::remove_all(dir_);
  }
  std::string run_dir() const { return dir_ + "/run"; }

 private:
  std::string dir_;
};

// Asks `path` from another thread while this one turns the hosts, as a real process's
// loop would serve it.
expected<std::string, std::error_code> ask(Pair& p, const std::string& path,
                                           const std::string& request) {
  std::atomic<bool> done{false};
  expected<std::string, std::error_code> reply = unexpected(std::error_code());
  std::thread client([&] {
    reply = control_query(path, request, Duration::seconds(2));
    done = true;
  });
  p.run_until([&] { return done.load(); }, Duration::seconds(5));
  client.join();
  return reply;
}

TEST(ControlServer, CreatesItsSocketInTheRuntimeDirAndRemovesIt) {
  ControlDir dir;
  Pair p;
  std::string path;
  {
    auto control = ControlServer::start(p.b, "serve");
    ASSERT_TRUE(control) << control.error().message();
    path = (*control)->path();
    EXPECT_EQ(path, dir.run_dir() + "/" + std::to_string(::getpid()) + ".sock");
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(control_sockets(), std::vector<std::string>{path});
  }
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
  EXPECT_TRUE(control_sockets().empty());
}

TEST(ControlServer, ListsListenersAndConnectionsWithTheirState) {
  ControlDir dir;
  Pair p;
  auto control = ControlServer::start(p.b, "serve");
  ASSERT_TRUE(control);
  Socket listener = p.b.socket();
  ASSERT_FALSE(listener.bind({kB, 7}));
  ASSERT_FALSE(listener.listen(5));
  Socket client = p.a.socket();
  ASSERT_EQ(client.connect({kB, 7}), std::errc::operation_in_progress);
  Socket server;
  ASSERT_TRUE(p.run_until([&] {
    if (auto s = listener.accept()) server = std::move(*s);
    return server.valid() && client.connected();
  }));

  auto reply = ask(p, (*control)->path(), "ss");
  ASSERT_TRUE(reply) << reply.error().message();
  const std::string pid = std::to_string(::getpid());
  EXPECT_TRUE(reply->starts_with("process serve " + pid + "\n")) << *reply;
  EXPECT_NE(reply->find("\nLISTEN 0 5 10.0.0.2:7 *:* "), std::string::npos) << *reply;
  const std::string conn_prefix = "\nESTAB 0 0 10.0.0.2:7 10.0.0.1:";
  EXPECT_NE(reply->find(conn_prefix), std::string::npos) << *reply;
  // The connection's row has the 23 fields the header comment promises.
  const size_t row = reply->find(conn_prefix) + 1;
  const std::string line = reply->substr(row, reply->find('\n', row) - row);
  EXPECT_EQ(std::count(line.begin(), line.end(), ' '), 22) << line;
  EXPECT_TRUE(line.ends_with(" open 0 0 0 stw-")) << line;  // SACK, timestamps, wscale
  const size_t lrow = reply->find("\nLISTEN ") + 1;
  const std::string lline = reply->substr(lrow, reply->find('\n', lrow) - lrow);
  EXPECT_EQ(std::count(lline.begin(), lline.end(), ' '), 22) << lline;
}

TEST(ControlServer, PrintsTheCountersUnderTheirNstatNames) {
  ControlDir dir;
  Pair p;
  auto control = ControlServer::start(p.b, "serve");
  ASSERT_TRUE(control);
  Socket listener = p.b.socket();
  ASSERT_FALSE(listener.bind({kB, 7}));
  ASSERT_FALSE(listener.listen(5));
  Socket client = p.a.socket();
  ASSERT_EQ(client.connect({kB, 7}), std::errc::operation_in_progress);
  ASSERT_TRUE(p.run_until([&] { return client.connected(); }));

  auto reply = ask(p, (*control)->path(), "nstat");
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_NE(reply->find("\nTcpPassiveOpens 1\n"), std::string::npos) << *reply;
  EXPECT_NE(reply->find("\nTcpActiveOpens 0\n"), std::string::npos) << *reply;
}

TEST(ControlServer, AnswersAnUnknownRequestWithAnError) {
  ControlDir dir;
  Pair p;
  auto control = ControlServer::start(p.b, "serve");
  ASSERT_TRUE(control);
  auto reply = ask(p, (*control)->path(), "shutdown");
  ASSERT_TRUE(reply);
  EXPECT_EQ(*reply, "error unknown request\n");
}

TEST(ControlQuery, ReportsAMissingSocket) {
  ControlDir dir;
  auto reply = control_query(dir.run_dir() + "/1.sock", "ss");
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error(), std::errc::no_such_file_or_directory);
}

}  // namespace
}  // namespace synack::api
