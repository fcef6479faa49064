#include "synack/tcp/timer_table.hpp"

#include <gtest/gtest.h>

#include <array>
#include <type_traits>
#include <vector>

namespace synack::tcp {
namespace {

Instant at_ms(int64_t ms) {
  return Instant::from_micros(ms * 1000);
}

constexpr std::array<Timer, kTimerCount> kAllTimers = {
    Timer::kRetransmit, Timer::kDelayedAck, Timer::kPersist,
    Timer::kKeepalive,  Timer::kTimeWait,   Timer::kUserTimeout,
};

std::vector<Timer> as_vector(const ExpiredTimers& due) {
  return {due.begin(), due.end()};
}

static_assert(std::is_trivially_copyable_v<TimerTable>);

// Usable at compile time, i.e. plain data with no hidden state.
static_assert([] {
  TimerTable table;
  table.set(Timer::kPersist, Instant::from_micros(7));
  table.set(Timer::kRetransmit, Instant::from_micros(5));
  table.cancel(Timer::kRetransmit);
  return table.next_deadline() == Instant::from_micros(7) &&
         table.expired(Instant::from_micros(7)).contains(Timer::kPersist);
}());

TEST(TimerTable, NamesMatchTheArchitecture) {
  EXPECT_EQ(to_string(Timer::kRetransmit), "retransmit");
  EXPECT_EQ(to_string(Timer::kDelayedAck), "delayed-ack");
  EXPECT_EQ(to_string(Timer::kPersist), "persist");
  EXPECT_EQ(to_string(Timer::kKeepalive), "keepalive");
  EXPECT_EQ(to_string(Timer::kTimeWait), "time-wait");
  EXPECT_EQ(to_string(Timer::kUserTimeout), "user-timeout");
  EXPECT_EQ(to_string(Timer::kCount), "unknown");
  EXPECT_EQ(kTimerCount, 6u);
}

TEST(TimerTable, PriorityListsEveryTimerOnce) {
  for (Timer timer : kAllTimers) {
    int seen = 0;
    for (Timer p : kTimerPriority)
      seen += p == timer ? 1 : 0;
    EXPECT_EQ(seen, 1) << to_string(timer);
  }
}

TEST(TimerTable, StartsWithNothingArmed) {
  const TimerTable table;
  for (Timer timer : kAllTimers) {
    EXPECT_FALSE(table.is_armed(timer)) << to_string(timer);
    EXPECT_EQ(table.deadline(timer), std::nullopt);
  }
  EXPECT_EQ(table.next_deadline(), std::nullopt);
  EXPECT_TRUE(table.expired(at_ms(1'000'000)).empty());
}

TEST(TimerTable, SetArmsAndCancelDisarms) {
  TimerTable table;
  table.set(Timer::kRetransmit, at_ms(200));
  EXPECT_TRUE(table.is_armed(Timer::kRetransmit));
  EXPECT_EQ(table.deadline(Timer::kRetransmit), at_ms(200));
  EXPECT_FALSE(table.is_armed(Timer::kDelayedAck));

  table.cancel(Timer::kRetransmit);
  EXPECT_FALSE(table.is_armed(Timer::kRetransmit));
  EXPECT_EQ(table.deadline(Timer::kRetransmit), std::nullopt);
  table.cancel(Timer::kRetransmit);  // cancelling a stopped timer is harmless
  EXPECT_FALSE(table.is_armed(Timer::kRetransmit));
}

TEST(TimerTable, SetReplacesDeadlineEitherWay) {
  TimerTable table;
  table.set(Timer::kKeepalive, at_ms(7'200'000));
  table.set(Timer::kKeepalive, at_ms(75'000));  // earlier
  EXPECT_EQ(table.deadline(Timer::kKeepalive), at_ms(75'000));
  table.set(Timer::kKeepalive, at_ms(150'000));  // later
  EXPECT_EQ(table.deadline(Timer::kKeepalive), at_ms(150'000));
}

TEST(TimerTable, NextDeadlineIsEarliestArmed) {
  TimerTable table;
  table.set(Timer::kKeepalive, at_ms(7'200'000));
  EXPECT_EQ(table.next_deadline(), at_ms(7'200'000));
  table.set(Timer::kRetransmit, at_ms(1'000));
  table.set(Timer::kDelayedAck, at_ms(40));
  table.set(Timer::kUserTimeout, at_ms(300'000));
  EXPECT_EQ(table.next_deadline(), at_ms(40));
  table.cancel(Timer::kDelayedAck);
  EXPECT_EQ(table.next_deadline(), at_ms(1'000));
  table.set(Timer::kPersist, at_ms(1'000));  // a tie
  table.cancel(Timer::kRetransmit);
  EXPECT_EQ(table.next_deadline(), at_ms(1'000));
  table.cancel_all();
  EXPECT_EQ(table.next_deadline(), std::nullopt);
}

TEST(TimerTable, ExpiredIncludesDeadlineEqualToNow) {
  TimerTable table;
  table.set(Timer::kDelayedAck, at_ms(40));
  EXPECT_TRUE(table.expired(at_ms(40) - Duration::micros(1)).empty());
  EXPECT_EQ(as_vector(table.expired(at_ms(40))), std::vector{Timer::kDelayedAck});
  EXPECT_EQ(as_vector(table.expired(at_ms(41))), std::vector{Timer::kDelayedAck});
}

TEST(TimerTable, ExpiredReportsOnlyDueTimers) {
  TimerTable table;
  table.set(Timer::kRetransmit, at_ms(200));
  table.set(Timer::kDelayedAck, at_ms(40));
  table.set(Timer::kKeepalive, at_ms(7'200'000));
  const ExpiredTimers due = table.expired(at_ms(500));
  EXPECT_EQ(due.size(), 2u);
  EXPECT_TRUE(due.contains(Timer::kRetransmit));
  EXPECT_TRUE(due.contains(Timer::kDelayedAck));
  EXPECT_FALSE(due.contains(Timer::kKeepalive));
  // Handled in priority order, not deadline order: the retransmission carries the ACK.
  EXPECT_EQ(as_vector(due), (std::vector{Timer::kRetransmit, Timer::kDelayedAck}));
}

TEST(TimerTable, ExpiredFollowsFixedPriorityOrder) {
  TimerTable table;
  for (Timer timer : kAllTimers)
    table.set(timer, at_ms(1'000));  // armed in enum order
  EXPECT_EQ(as_vector(table.expired(at_ms(1'000))),
            (std::vector{Timer::kUserTimeout, Timer::kTimeWait, Timer::kRetransmit, Timer::kPersist,
                         Timer::kKeepalive, Timer::kDelayedAck}));
}

TEST(TimerTable, ExpiredLeavesTimersArmed) {
  TimerTable table;
  table.set(Timer::kPersist, at_ms(500));
  EXPECT_EQ(table.expired(at_ms(600)).size(), 1u);
  EXPECT_TRUE(table.is_armed(Timer::kPersist));
  EXPECT_EQ(table.next_deadline(), at_ms(500));
}

TEST(TimerTable, TakeExpiredDisarmsOnlyWhatIsDue) {
  TimerTable table;
  table.set(Timer::kRetransmit, at_ms(200));
  table.set(Timer::kTimeWait, at_ms(100));
  table.set(Timer::kKeepalive, at_ms(7'200'000));
  EXPECT_EQ(as_vector(table.take_expired(at_ms(200))),
            (std::vector{Timer::kTimeWait, Timer::kRetransmit}));
  EXPECT_FALSE(table.is_armed(Timer::kRetransmit));
  EXPECT_FALSE(table.is_armed(Timer::kTimeWait));
  EXPECT_TRUE(table.is_armed(Timer::kKeepalive));
  EXPECT_EQ(table.next_deadline(), at_ms(7'200'000));
  EXPECT_TRUE(table.take_expired(at_ms(200)).empty());
}

TEST(TimerTable, HandlerCanRearmAfterTakeExpired) {
  // The on_timeout(now) pattern: take what is due, handle each; a handler re-arms its own
  // timer (here the retransmit timer, backed off to 400 ms) and the rest stay off.
  TimerTable table;
  table.set(Timer::kRetransmit, at_ms(200));
  table.set(Timer::kDelayedAck, at_ms(150));
  const Instant now = at_ms(200);
  for (Timer timer : table.take_expired(now)) {
    if (timer == Timer::kRetransmit) table.set(Timer::kRetransmit, now + Duration::millis(400));
  }
  EXPECT_EQ(table.next_deadline(), at_ms(600));
  EXPECT_FALSE(table.is_armed(Timer::kDelayedAck));
}

}  // namespace
}  // namespace synack::tcp
