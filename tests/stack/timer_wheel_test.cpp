#include "synack/stack/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace synack::stack {
namespace {

constexpr int64_t kMs = 1000;
constexpr int64_t kSecond = 1000 * kMs;
constexpr int64_t kHour = 3600 * kSecond;
constexpr int64_t kDay = 24 * kHour;

Instant at_us(int64_t us) {
  return Instant::from_micros(us);
}
Instant at_ms(int64_t ms) {
  return Instant::from_micros(ms * kMs);
}

// Runs expire() and returns the ids it reported, in order.
std::vector<uint32_t> expire(TimerWheel& wheel, Instant now) {
  std::vector<uint32_t> fired;
  wheel.expire(now, [&](uint32_t id) { fired.push_back(id); });
  return fired;
}

using Ids = std::vector<uint32_t>;

// ---------------------------------------------------------------------------------------
// Basics

TEST(TimerWheel, StartsEmpty) {
  TimerWheel wheel;
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_TRUE(wheel.empty());
  EXPECT_EQ(wheel.next_deadline(), std::nullopt);
  EXPECT_FALSE(wheel.scheduled(0));
  EXPECT_FALSE(wheel.scheduled(TimerWheel::kMaxId));
  EXPECT_EQ(wheel.deadline(7), std::nullopt);
  EXPECT_EQ(wheel.tick(), Duration::millis(1));
  EXPECT_TRUE(expire(wheel, at_ms(1'000'000)).empty());
  wheel.cancel(12345);  // unknown ids are fine
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheel, GeometryCoversEveryTick) {
  EXPECT_EQ(TimerWheel::kSlotsPerLevel, 64u);
  EXPECT_GE(TimerWheel::kLevels * TimerWheel::kSlotBits, 64u);
  TimerWheel wheel(Duration::micros(7));
  EXPECT_EQ(wheel.tick(), Duration::micros(7));
}

TEST(TimerWheel, FiresAtTheExactDeadlineNeverBefore) {
  // 10.5 ms sits in the middle of a 1 ms tick: the tick's start must not fire it.
  TimerWheel wheel;
  wheel.schedule(3, at_us(10'500));
  EXPECT_TRUE(wheel.scheduled(3));
  EXPECT_EQ(wheel.deadline(3), at_us(10'500));
  EXPECT_EQ(wheel.next_deadline(), at_us(10'500));
  EXPECT_TRUE(expire(wheel, at_us(10'000)).empty());
  EXPECT_TRUE(expire(wheel, at_us(10'499)).empty());
  EXPECT_EQ(wheel.next_deadline(), at_us(10'500));
  EXPECT_EQ(expire(wheel, at_us(10'500)), Ids{3});
  EXPECT_FALSE(wheel.scheduled(3));
  EXPECT_EQ(wheel.deadline(3), std::nullopt);
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_EQ(wheel.next_deadline(), std::nullopt);
  EXPECT_TRUE(expire(wheel, at_us(20'000)).empty());
}

TEST(TimerWheel, SplitsATickBetweenCalls) {
  TimerWheel wheel;
  wheel.schedule(1, at_us(5'100));
  wheel.schedule(2, at_us(5'300));
  wheel.schedule(3, at_us(5'900));
  EXPECT_EQ(expire(wheel, at_us(5'300)), (Ids{1, 2}));
  EXPECT_EQ(wheel.next_deadline(), at_us(5'900));
  EXPECT_TRUE(expire(wheel, at_us(5'899)).empty());
  EXPECT_EQ(expire(wheel, at_us(6'000)), Ids{3});
}

TEST(TimerWheel, PastDeadlinesFireOnTheNextExpire) {
  TimerWheel wheel(Duration::millis(1), at_ms(0));
  EXPECT_TRUE(expire(wheel, at_ms(1000)).empty());
  wheel.schedule(4, at_ms(10));   // long past
  wheel.schedule(5, at_ms(999));  // past, in an earlier tick
  wheel.schedule(6, at_us(1'000'000));
  EXPECT_EQ(wheel.next_deadline(), at_ms(10));
  EXPECT_EQ(expire(wheel, at_us(1'000'000)), (Ids{4, 5, 6}));
}

TEST(TimerWheel, ScheduleReplacesThePreviousDeadline) {
  TimerWheel wheel;
  wheel.schedule(9, at_ms(50));
  wheel.schedule(9, at_ms(20));
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(wheel.deadline(9), at_ms(20));
  EXPECT_EQ(wheel.next_deadline(), at_ms(20));
  wheel.schedule(9, at_ms(70));  // later: the cached next deadline must follow
  EXPECT_EQ(wheel.next_deadline(), at_ms(70));
  EXPECT_TRUE(expire(wheel, at_ms(69)).empty());
  EXPECT_EQ(expire(wheel, at_ms(70)), Ids{9});
}

TEST(TimerWheel, CancelRemoves) {
  TimerWheel wheel;
  wheel.schedule(1, at_ms(5));
  wheel.schedule(2, at_ms(6));
  wheel.cancel(1);
  wheel.cancel(1);  // twice is harmless
  EXPECT_FALSE(wheel.scheduled(1));
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(wheel.next_deadline(), at_ms(6));
  wheel.cancel(2);
  EXPECT_EQ(wheel.next_deadline(), std::nullopt);
  EXPECT_TRUE(expire(wheel, at_ms(100)).empty());
}

TEST(TimerWheel, FiresInDeadlineOrderThenIdOrder) {
  TimerWheel wheel;
  wheel.schedule(7, at_us(3'700));
  wheel.schedule(2, at_us(3'200));
  wheel.schedule(5, at_us(1'000));
  wheel.schedule(1, at_us(3'200));
  wheel.schedule(9, at_us(999'999));
  wheel.schedule(0, at_us(3'200));
  EXPECT_EQ(expire(wheel, at_ms(1000)), (Ids{5, 0, 1, 2, 7, 9}));
}

TEST(TimerWheel, OrderDoesNotDependOnTheTick) {
  // The same schedule under different ticks reports the same sequence, so changing the
  // tick cannot perturb a seeded simulation.
  std::vector<Ids> runs;
  for (int64_t tick_us : {int64_t{1}, int64_t{1000}, int64_t{7777}, kSecond}) {
    TimerWheel wheel(Duration::micros(tick_us));
    std::mt19937_64 rng(99);
    for (uint32_t id = 0; id < 500; ++id)
      wheel.schedule(id, at_us(static_cast<int64_t>(rng() % 20'000)));
    runs.push_back(expire(wheel, at_ms(30)));
  }
  for (const Ids& run : runs)
    EXPECT_EQ(run, runs.front());
  EXPECT_EQ(runs.front().size(), 500u);
}

TEST(TimerWheel, ClockGoingBackwardsIsHarmless) {
  TimerWheel wheel;
  EXPECT_TRUE(expire(wheel, at_ms(100)).empty());
  wheel.schedule(1, at_ms(50));  // in the past of the wheel
  wheel.schedule(2, at_ms(120));
  EXPECT_TRUE(expire(wheel, at_ms(40)).empty());  // before both deadlines
  EXPECT_EQ(expire(wheel, at_ms(60)), Ids{1});
  EXPECT_TRUE(expire(wheel, at_ms(110)).empty());
  EXPECT_EQ(expire(wheel, at_ms(120)), Ids{2});
}

// ---------------------------------------------------------------------------------------
// Callbacks that change the wheel

TEST(TimerWheel, CallbackMayRescheduleTheIdItIsHandling) {
  TimerWheel wheel;
  wheel.schedule(1, at_ms(10));
  int calls = 0;
  wheel.expire(at_ms(10), [&](uint32_t id) {
    ++calls;
    EXPECT_FALSE(wheel.scheduled(id));  // removed before the callback
    wheel.schedule(id, at_ms(25));
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(wheel.deadline(1), at_ms(25));
  EXPECT_EQ(wheel.next_deadline(), at_ms(25));
  EXPECT_TRUE(expire(wheel, at_ms(24)).empty());
  EXPECT_EQ(expire(wheel, at_ms(25)), Ids{1});
}

TEST(TimerWheel, ReArmingInThePastFiresOnTheNextCallNotThisOne) {
  // A handler that keeps reporting a passed deadline must not trap the loop in expire().
  TimerWheel wheel;
  wheel.schedule(1, at_ms(10));
  int calls = 0;
  const auto rearm = [&](uint32_t id) {
    ++calls;
    wheel.schedule(id, at_ms(10));
  };
  wheel.expire(at_ms(10), rearm);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(wheel.next_deadline(), at_ms(10));  // at or before now: the loop runs again
  wheel.expire(at_ms(10), rearm);
  EXPECT_EQ(calls, 2);
}

TEST(TimerWheel, CallbackCancellingOrMovingAWaitingIdWithdrawsItsCallback) {
  TimerWheel wheel;
  for (uint32_t id = 0; id < 6; ++id)
    wheel.schedule(id, at_ms(1 + id));
  Ids fired;
  wheel.expire(at_ms(100), [&](uint32_t id) {
    fired.push_back(id);
    if (id == 0) {
      wheel.cancel(2);                // due, waiting: withdrawn
      wheel.schedule(3, at_ms(200));  // due, waiting: moved later
      wheel.schedule(4, at_ms(50));   // due, waiting: moved, still before now
      wheel.schedule(5, at_ms(6));    // due, waiting: filed again, same deadline
      wheel.schedule(8, at_ms(60));   // new, before now: next call
    }
  });
  EXPECT_EQ(fired, (Ids{0, 1}));
  EXPECT_FALSE(wheel.scheduled(2));
  EXPECT_EQ(wheel.deadline(3), at_ms(200));
  EXPECT_EQ(wheel.size(), 4u);
  EXPECT_EQ(expire(wheel, at_ms(100)), (Ids{5, 4, 8}));
  EXPECT_EQ(expire(wheel, at_ms(200)), Ids{3});
}

TEST(TimerWheel, CallbackMayGrowTheIdSpace) {
  TimerWheel wheel;
  wheel.schedule(0, at_ms(1));
  wheel.schedule(1, at_ms(2));
  wheel.expire(at_ms(5), [&](uint32_t id) {
    wheel.schedule(100'000 + id, at_ms(10));  // reallocates the node storage
    EXPECT_FALSE(wheel.scheduled(id));
  });
  EXPECT_EQ(wheel.size(), 2u);
  EXPECT_EQ(expire(wheel, at_ms(10)), (Ids{100'000, 100'001}));
}

TEST(TimerWheel, NextDeadlineFromACallbackCoversTheIdsStillWaiting) {
  TimerWheel wheel;
  wheel.schedule(1, at_ms(10));
  wheel.schedule(2, at_ms(20));
  wheel.schedule(3, at_ms(500));
  std::vector<std::optional<Instant>> seen;
  wheel.expire(at_ms(30), [&](uint32_t) { seen.push_back(wheel.next_deadline()); });
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_LE(seen[0], at_ms(20));
  EXPECT_EQ(seen[1], at_ms(500));
}

TEST(TimerWheel, AThrowingCallbackLeavesTheRestScheduled) {
  TimerWheel wheel;
  for (uint32_t id = 0; id < 4; ++id)
    wheel.schedule(id, at_ms(1 + id));
  Ids fired;
  EXPECT_THROW(wheel.expire(at_ms(10),
                            [&](uint32_t id) {
                              fired.push_back(id);
                              if (id == 1) throw std::runtime_error("handler failed");
                            }),
               std::runtime_error);
  EXPECT_EQ(fired, (Ids{0, 1}));
  EXPECT_EQ(wheel.size(), 2u);
  EXPECT_EQ(wheel.deadline(2), at_ms(3));
  EXPECT_EQ(wheel.next_deadline(), at_ms(3));
  EXPECT_EQ(expire(wheel, at_ms(10)), (Ids{2, 3}));
}

// ---------------------------------------------------------------------------------------
// Far deadlines and the ends of the time line

TEST(TimerWheel, FarDeadlinesCascadeAndFireExactly) {
  const std::vector<int64_t> deadlines = {
      kHour,     kHour + 1,       2 * kHour + 17,   kDay - 1,         kDay, 3 * kDay + 12'345,
      30 * kDay, 365 * kDay + 99, 100 * 365 * kDay, 1000 * 365 * kDay};
  for (int64_t d : deadlines) {
    SCOPED_TRACE(d);
    TimerWheel wheel;
    wheel.schedule(42, at_us(d));
    EXPECT_EQ(wheel.next_deadline(), at_us(d));  // one entry: exact at any level
    EXPECT_TRUE(expire(wheel, at_us(d - 1)).empty());
    EXPECT_EQ(wheel.next_deadline(), at_us(d));
    EXPECT_EQ(expire(wheel, at_us(d)), Ids{42});
  }
}

TEST(TimerWheel, FarDeadlinesSurviveManySmallSteps) {
  // An event loop that wakes every second for a day: the entries ride the cascades down
  // and fire at the first step at or after their deadlines.
  TimerWheel wheel;
  wheel.schedule(1, at_us(kHour + 500'001));
  wheel.schedule(2, at_us(6 * kHour));
  wheel.schedule(3, at_us(kDay - 1));
  wheel.schedule(4, at_us(2 * kDay));
  std::vector<std::pair<uint32_t, int64_t>> fired;
  for (int64_t t = 0; t <= kDay; t += kSecond) {
    wheel.expire(at_us(t), [&](uint32_t id) { fired.emplace_back(id, t); });
  }
  const std::vector<std::pair<uint32_t, int64_t>> expected = {
      {1, kHour + kSecond}, {2, 6 * kHour}, {3, kDay}};
  EXPECT_EQ(fired, expected);
  EXPECT_EQ(wheel.deadline(4), at_us(2 * kDay));
  // Each entry cascades at most once per level it started above level 0.
  EXPECT_LE(wheel.stats().cascaded, 4u * TimerWheel::kLevels);
}

TEST(TimerWheel, WholeRangeOfInstant) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  for (int64_t tick : {int64_t{1}, kMs, kHour}) {
    SCOPED_TRACE(tick);
    TimerWheel wheel(Duration::micros(tick), at_us(kMin));
    wheel.schedule(0, at_us(kMax));
    wheel.schedule(1, at_us(kMin));
    wheel.schedule(2, at_us(-1));
    wheel.schedule(3, at_us(0));
    wheel.schedule(4, at_us(kMax - 1));
    EXPECT_EQ(wheel.next_deadline(), at_us(kMin));
    EXPECT_EQ(expire(wheel, at_us(kMin)), Ids{1});
    EXPECT_EQ(wheel.next_deadline(), at_us(-1));
    EXPECT_EQ(expire(wheel, at_us(0)), (Ids{2, 3}));
    EXPECT_TRUE(expire(wheel, at_us(kMax - 2)).empty());
    EXPECT_EQ(expire(wheel, at_us(kMax - 1)), Ids{4});
    EXPECT_EQ(wheel.next_deadline(), at_us(kMax));
    EXPECT_EQ(expire(wheel, at_us(kMax)), Ids{0});
    EXPECT_TRUE(wheel.empty());
  }
}

TEST(TimerWheel, NegativeInstants) {
  // Ticks are floors, so the tick before zero covers [-1 ms, 0) and a slot's start is
  // never after a deadline in it.
  TimerWheel wheel(Duration::millis(1), at_ms(-1000));
  for (uint32_t id = 0; id < 1000; ++id)
    wheel.schedule(id, at_us(-500 + static_cast<int64_t>(id)));
  wheel.schedule(5000, at_ms(-2000));
  wheel.cancel(5000);  // forget the exact minimum the schedules kept
  ASSERT_TRUE(wheel.next_deadline().has_value());
  EXPECT_LE(*wheel.next_deadline(), at_us(-500));
  Ids fired = expire(wheel, at_us(-1));
  EXPECT_EQ(fired.size(), 500u);  // -500 .. -1
  EXPECT_EQ(fired.front(), 0u);
  EXPECT_EQ(fired.back(), 499u);
  EXPECT_EQ(wheel.next_deadline(), at_us(0));
  EXPECT_EQ(expire(wheel, at_us(0)), Ids{500});
  EXPECT_EQ(wheel.next_deadline(), at_us(1));
}

TEST(TimerWheel, StartFarFromTheDeadlines) {
  // A wheel created at time zero and then driven with Unix-epoch instants still works;
  // the first expire() only pays for the cascades.
  TimerWheel wheel;
  const int64_t epoch = 1'700'000'000 * kSecond;
  wheel.schedule(1, at_us(epoch + 200 * kMs));
  wheel.schedule(2, at_us(epoch + 2 * kHour));
  EXPECT_LE(wheel.next_deadline(), at_us(epoch + 200 * kMs));
  EXPECT_TRUE(expire(wheel, at_us(epoch)).empty());
  EXPECT_EQ(wheel.next_deadline(), at_us(epoch + 200 * kMs));
  EXPECT_EQ(expire(wheel, at_us(epoch + 200 * kMs)), Ids{1});
  EXPECT_EQ(expire(wheel, at_us(epoch + 2 * kHour)), Ids{2});
}

// ---------------------------------------------------------------------------------------
// next_deadline()

TEST(TimerWheel, NextDeadlineIsExactForTheNearTermAndForSmallSlots) {
  TimerWheel wheel;
  wheel.schedule(1, at_us(40'321));  // level 0 (within 64 ticks)
  wheel.schedule(2, at_us(3 * kSecond + 7));
  EXPECT_EQ(wheel.next_deadline(), at_us(40'321));
  wheel.cancel(1);
  EXPECT_EQ(wheel.next_deadline(), at_us(3 * kSecond + 7));  // small slot: walked
}

TEST(TimerWheel, NextDeadlineOfACrowdedFarSlotIsItsStart) {
  // 1000 entries in one level-1 slot (ticks 128..191): next_deadline() is the slot's
  // start, early; waking there cascades it and the next answer is exact.
  TimerWheel wheel;
  for (uint32_t id = 0; id < 1000; ++id)
    wheel.schedule(id, at_us(150'000 + id));
  // Scheduling keeps an exact minimum; cancelling it makes the wheel look for the next.
  EXPECT_EQ(wheel.next_deadline(), at_us(150'000));
  wheel.schedule(5000, at_ms(1));
  wheel.cancel(5000);
  EXPECT_EQ(wheel.next_deadline(), at_ms(128));
  EXPECT_TRUE(expire(wheel, at_ms(128)).empty());
  EXPECT_EQ(wheel.next_deadline(), at_us(150'000));
  EXPECT_EQ(expire(wheel, at_us(150'000)), Ids{0});
}

TEST(TimerWheel, NextDeadlineFollowsCancellationsAndMoves) {
  // The cached answer must not outlive the entry or the slot it came from.
  TimerWheel wheel;
  for (uint32_t id = 0; id < 300; ++id)
    wheel.schedule(id, at_us(20'000 + 3 * id));  // one tick, distinct deadlines
  for (uint32_t id = 0; id < 100; ++id) {
    ASSERT_EQ(wheel.next_deadline(), at_us(20'000 + 3 * id));
    if (id % 2 == 0) {
      wheel.cancel(id);
    } else {
      wheel.schedule(id, at_us(20'999));  // moved later within the same tick
    }
  }
  EXPECT_EQ(wheel.next_deadline(), at_us(20'300));
  wheel.schedule(500, at_us(20'001));  // earlier than everything: taken as is
  EXPECT_EQ(wheel.next_deadline(), at_us(20'001));
  for (uint32_t id = 0; id <= 500; ++id)
    wheel.cancel(id);
  EXPECT_EQ(wheel.next_deadline(), std::nullopt);

  // A crowded far slot answers with its start; once it is emptied, that start must go.
  for (uint32_t id = 0; id < 1000; ++id)
    wheel.schedule(id, at_us(150'000 + id));
  wheel.schedule(5000, at_ms(1));
  wheel.cancel(5000);  // forgets the exact minimum the schedules kept
  EXPECT_EQ(wheel.next_deadline(), at_ms(128));
  for (uint32_t id = 0; id < 1000; ++id)
    wheel.cancel(id);
  wheel.schedule(7, at_ms(900));
  EXPECT_EQ(wheel.next_deadline(), at_ms(900));
}

TEST(TimerWheel, EventLoopSleepingUntilNextDeadlineFiresEachIdOnTime) {
  // Sleep until next_deadline(), expire, repeat: every deadline fires at exactly its
  // instant, and the wake-ups that find nothing due are few: 5000 deadlines over a day
  // crowd only the level-4 slots (4.7 hours each) past kExactScanLimit.
  TimerWheel wheel;
  std::mt19937_64 rng(7);
  constexpr uint32_t kIds = 5000;
  for (uint32_t id = 0; id < kIds; ++id)
    wheel.schedule(id, at_us(static_cast<int64_t>(rng() % static_cast<uint64_t>(kDay))));
  std::vector<std::optional<Instant>> deadline_of(kIds);
  for (uint32_t id = 0; id < kIds; ++id)
    deadline_of[id] = wheel.deadline(id);
  size_t wakeups = 0;
  size_t idle_wakeups = 0;
  size_t fired = 0;
  while (const std::optional<Instant> next = wheel.next_deadline()) {
    ++wakeups;
    size_t fired_now = 0;
    wheel.expire(*next, [&](uint32_t id) {
      EXPECT_EQ(deadline_of[id], *next);  // never late
      ++fired_now;
    });
    fired += fired_now;
    if (fired_now == 0) ++idle_wakeups;
    ASSERT_LT(wakeups, 4 * size_t{kIds});
  }
  EXPECT_EQ(fired, kIds);
  EXPECT_LE(idle_wakeups, 10u);
}

// ---------------------------------------------------------------------------------------
// Cost

TEST(TimerWheel, ExpireWithNothingDueIsCheap) {
  // 200k entries in one tick, none due yet: repeated expire() calls in that tick must
  // not walk them (the cached next deadline answers).
  TimerWheel wheel;
  constexpr uint32_t kIds = 200'000;
  for (uint32_t id = 0; id < kIds; ++id)
    wheel.schedule(id, at_us(10'500 + id % 400));
  // Far-future entries in crowded high slots too.
  for (uint32_t id = kIds; id < 2 * kIds; ++id)
    wheel.schedule(id, at_us(kHour + id));
  EXPECT_EQ(wheel.next_deadline(), at_us(10'500));
  const TimerWheelStats before = wheel.stats();
  for (int64_t i = 0; i < 1'000'000; ++i) {
    wheel.expire(at_us(10'000 + i % 500), [](uint32_t) { FAIL(); });
  }
  EXPECT_EQ(wheel.stats().scanned, before.scanned);
  EXPECT_EQ(wheel.stats().cascaded, before.cascaded);
  EXPECT_EQ(wheel.stats().expired, 0u);
  EXPECT_EQ(wheel.size(), 2 * size_t{kIds});
}

TEST(TimerWheel, ReschedulingTheSameDeadlineIsFree) {
  // The stack re-files every connection's deadline after each segment; an unchanged one
  // must not throw away the cached next deadline (that would walk the tick's entries).
  TimerWheel wheel;
  for (uint32_t id = 0; id < 10'000; ++id)
    wheel.schedule(id, at_us(20'000 + id % 1000));
  wheel.schedule(99'999, at_us(20'000));
  ASSERT_EQ(wheel.next_deadline(), at_us(20'000));
  const uint64_t scanned = wheel.stats().scanned;
  for (int round = 0; round < 100; ++round) {
    wheel.schedule(0, at_us(20'000));  // the minimum itself
    EXPECT_EQ(wheel.next_deadline(), at_us(20'000));
  }
  EXPECT_EQ(wheel.stats().scanned, scanned);
  EXPECT_EQ(wheel.size(), 10'001u);
}

TEST(TimerWheel, IdleWakeupsDoNotCascadeRepeatedly) {
  // One keepalive an hour away, the loop polling every millisecond for a minute.
  TimerWheel wheel;
  wheel.schedule(0, at_us(kHour));
  for (int64_t t = 0; t < 60 * kSecond; t += kMs)
    EXPECT_TRUE(expire(wheel, at_us(t)).empty());
  EXPECT_EQ(wheel.stats().cascaded, 0u);
  EXPECT_EQ(wheel.next_deadline(), at_us(kHour));
}

TEST(TimerWheel, IdleExpireKeepsTheWheelCurrent) {
  // expire() with nothing due still moves the wheel's time, so deadlines scheduled after
  // a quiet spell land in level 0 and next_deadline() stays exact.
  TimerWheel wheel;
  const auto crowd_at = [&](int64_t t) {
    for (uint32_t id = 0; id < 1000; ++id)
      wheel.schedule(id, at_us(t + id));
    wheel.schedule(5000, at_us(t - 1));
    wheel.cancel(5000);  // forget the exact minimum the schedules kept
    EXPECT_EQ(wheel.next_deadline(), at_us(t));
    for (uint32_t id = 0; id < 1000; ++id)
      wheel.cancel(id);
  };
  EXPECT_TRUE(expire(wheel, at_us(5 * kSecond)).empty());  // while empty
  crowd_at(5 * kSecond + 30 * kMs);
  wheel.schedule(9999, at_us(kHour));  // a keepalive
  EXPECT_TRUE(expire(wheel, at_us(10 * kSecond)).empty());
  crowd_at(10 * kSecond + 30 * kMs);
  EXPECT_EQ(wheel.stats().cascaded, 0u);
}

// ---------------------------------------------------------------------------------------
// Many ids

TEST(TimerWheel, TwoHundredThousandIds) {
  constexpr uint32_t kIds = 200'000;
  TimerWheel wheel;
  wheel.reserve(kIds);
  std::mt19937_64 rng(2024);
  std::vector<int64_t> deadline_of(kIds);
  for (uint32_t id = 0; id < kIds; ++id) {
    // RTO-like (ms to s) for most, keepalive-like (hours) for the rest.
    const uint64_t span = id % 4 == 0 ? uint64_t{2 * kHour} : uint64_t{3 * kSecond};
    deadline_of[id] = static_cast<int64_t>(rng() % span);
    wheel.schedule(id, at_us(deadline_of[id]));
  }
  EXPECT_EQ(wheel.size(), kIds);
  // Move every other id, cancel every tenth.
  for (uint32_t id = 0; id < kIds; id += 2) {
    deadline_of[id] += static_cast<int64_t>(rng() % uint64_t{kSecond});
    wheel.schedule(id, at_us(deadline_of[id]));
  }
  size_t cancelled = 0;
  for (uint32_t id = 5; id < kIds; id += 10) {
    wheel.cancel(id);
    deadline_of[id] = -1;
    ++cancelled;
  }
  ASSERT_EQ(wheel.size(), kIds - cancelled);

  std::vector<std::pair<int64_t, uint32_t>> expected;
  for (uint32_t id = 0; id < kIds; ++id)
    if (deadline_of[id] >= 0) expected.emplace_back(deadline_of[id], id);
  std::sort(expected.begin(), expected.end());

  std::vector<std::pair<int64_t, uint32_t>> fired;
  for (int64_t t = 0; !wheel.empty(); t += 7 * kMs + 3) {
    wheel.expire(at_us(t), [&](uint32_t id) {
      EXPECT_LE(deadline_of[id], t);
      EXPECT_GT(deadline_of[id], t - 7 * kMs - 3);  // not a step late
      fired.emplace_back(deadline_of[id], id);
    });
  }
  EXPECT_EQ(fired, expected);
}

// ---------------------------------------------------------------------------------------
// Against a naive model

// The same operations on a std::set ordered by (deadline, id), with expire() semantics
// spelled out: the due set is fixed on entry, callbacks withdraw what they cancel or move.
class Model {
 public:
  void schedule(uint32_t id, Instant at) {
    cancel(id);
    grow(id);
    deadline_[id] = at;
    order_.emplace(at, id);
  }
  void cancel(uint32_t id) {
    if (id >= deadline_.size() || !deadline_[id]) return;
    order_.erase({*deadline_[id], id});
    waiting_.erase(id);
    deadline_[id].reset();
  }
  std::optional<Instant> deadline(uint32_t id) const {
    return id < deadline_.size() ? deadline_[id] : std::nullopt;
  }
  size_t size() const { return order_.size() + waiting_.size(); }
  std::optional<Instant> earliest() const {
    if (order_.empty()) return std::nullopt;
    return order_.begin()->first;
  }

  // Starts an expire(now): the due ids in the order their callbacks must come.
  void begin_expire(Instant now) {
    due_.clear();
    next_ = 0;
    while (!order_.empty() && order_.begin()->first <= now) {
      const uint32_t id = order_.begin()->second;
      order_.erase(order_.begin());
      waiting_.insert(id);
      due_.push_back(id);
    }
  }
  // The id whose callback comes next, or nullopt when none is left.
  std::optional<uint32_t> next_due() {
    while (next_ < due_.size() && !waiting_.contains(due_[next_]))
      ++next_;
    if (next_ == due_.size()) return std::nullopt;
    return due_[next_];
  }
  void fire(uint32_t id) {
    waiting_.erase(id);
    deadline_[id].reset();
    ++next_;
  }

 private:
  void grow(uint32_t id) {
    if (id >= deadline_.size()) deadline_.resize(size_t{id} + 1);
  }

  std::set<std::pair<Instant, uint32_t>> order_;
  std::vector<std::optional<Instant>> deadline_;
  std::set<uint32_t> waiting_;
  std::vector<uint32_t> due_;
  size_t next_ = 0;
};

struct RandomRun {
  int64_t tick_us;
  uint64_t seed;
};

class TimerWheelRandom : public ::testing::TestWithParam<RandomRun> {};

TEST_P(TimerWheelRandom, MatchesTheModel) {
  // Plain variables, not a structured binding: the lambdas below capture them.
  const int64_t tick_us = GetParam().tick_us;
  const uint64_t seed = GetParam().seed;
  TimerWheel wheel(Duration::micros(tick_us));
  Model model;
  std::mt19937_64 rng(seed);
  const auto below = [&](uint64_t n) { return rng() % n; };
  const auto chance = [&](uint64_t percent) { return below(100) < percent; };

  int64_t clock = 0;  // the event loop's time: never goes back
  // Deadlines from the past to days ahead, weighted towards the near term where a
  // stack's timers live, with a log-uniform tail so every level is exercised.
  const auto random_deadline = [&]() -> Instant {
    switch (below(8)) {
      case 0:
        return at_us(clock - static_cast<int64_t>(below(kSecond)));
      case 1:
        return at_us(clock + static_cast<int64_t>(below(static_cast<uint64_t>(2 * tick_us))));
      case 2:
        return at_us(clock + static_cast<int64_t>(below(static_cast<uint64_t>(64 * tick_us))));
      case 3:
        return at_us(static_cast<int64_t>(below(uint64_t{3 * kDay})));  // anywhere, 0..days
      default: {
        const auto bits = static_cast<int>(below(39));  // up to ~6 days
        return at_us(clock + static_cast<int64_t>(below((uint64_t{1} << bits) + 1)));
      }
    }
  };
  constexpr uint32_t kIdSpace = 3000;
  const auto random_id = [&]() -> uint32_t {
    return chance(2) ? static_cast<uint32_t>(below(60'000))
                     : static_cast<uint32_t>(below(kIdSpace));
  };
  const auto schedule = [&](uint32_t id, Instant at) {
    wheel.schedule(id, at);
    model.schedule(id, at);
  };
  const auto cancel = [&](uint32_t id) {
    wheel.cancel(id);
    model.cancel(id);
  };

  constexpr int kOperations = 100'000;
  size_t fired = 0;
  for (int op = 0; op < kOperations; ++op) {
    SCOPED_TRACE(op);
    const uint64_t what = below(100);
    if (what < 45) {
      schedule(random_id(), random_deadline());
    } else if (what < 55) {
      cancel(random_id());
    } else if (what < 65) {
      // Reschedule something already scheduled (an ACK moving a retransmit timer).
      const uint32_t id = static_cast<uint32_t>(below(kIdSpace));
      if (model.deadline(id)) schedule(id, random_deadline());
    } else {
      // Advance the clock: a little, to a deadline exactly, to where the wheel says to
      // wake, or far; sometimes expire at an earlier time than before.
      switch (below(6)) {
        case 0:
          clock += static_cast<int64_t>(below(static_cast<uint64_t>(3 * tick_us)));
          break;
        case 1:
          if (const auto e = model.earliest()) clock = std::max(clock, e->as_micros());
          break;
        case 2:
          if (const auto n = wheel.next_deadline()) clock = std::max(clock, n->as_micros());
          break;
        case 3:
          if (const auto e = model.earliest()) clock = std::max(clock, e->as_micros() - 1);
          break;
        case 4:
          clock += static_cast<int64_t>(below(uint64_t{1} << below(40)));
          break;
        default:
          clock += static_cast<int64_t>(below(static_cast<uint64_t>(200 * tick_us)));
          break;
      }
      const Instant now =
          chance(3) ? at_us(clock - static_cast<int64_t>(below(uint64_t{kSecond}))) : at_us(clock);
      bool armed_in_past = false;
      model.begin_expire(now);
      wheel.expire(now, [&](uint32_t id) {
        const std::optional<uint32_t> expected = model.next_due();
        ASSERT_EQ(expected, id) << "at " << now.as_micros();
        EXPECT_FALSE(wheel.scheduled(id));
        model.fire(id);
        ++fired;
        // Handlers re-arm their own timer, touch other connections, or close.
        if (chance(40)) {
          const Instant at = random_deadline();
          armed_in_past |= at <= now;
          schedule(id, at);
        }
        if (chance(15)) {
          const uint32_t other = random_id();
          const Instant at = random_deadline();
          armed_in_past |= at <= now;
          schedule(other, at);
        }
        if (chance(15)) cancel(random_id());
      });
      ASSERT_EQ(model.next_due(), std::nullopt) << "a due id was not reported";
      const std::optional<Instant> next = wheel.next_deadline();
      if (!armed_in_past && next) {
        EXPECT_GT(*next, now);
      }
    }
    ASSERT_EQ(wheel.size(), model.size());
    const std::optional<Instant> next = wheel.next_deadline();
    const std::optional<Instant> earliest = model.earliest();
    ASSERT_EQ(next.has_value(), earliest.has_value());
    if (next) {
      ASSERT_LE(*next, *earliest);
    }
    const uint32_t probe = random_id();
    ASSERT_EQ(wheel.deadline(probe), model.deadline(probe));
    ASSERT_EQ(wheel.scheduled(probe), model.deadline(probe).has_value());
  }
  EXPECT_GT(fired, size_t{kOperations} / 10);

  // Drain: everything left fires, in order, exactly once.
  clock = std::numeric_limits<int64_t>::max();
  model.begin_expire(at_us(clock));
  wheel.expire(at_us(clock), [&](uint32_t id) {
    ASSERT_EQ(model.next_due(), id);
    model.fire(id);
  });
  EXPECT_EQ(model.next_due(), std::nullopt);
  EXPECT_TRUE(wheel.empty());
}

INSTANTIATE_TEST_SUITE_P(Ticks, TimerWheelRandom,
                         ::testing::Values(RandomRun{1000, 1}, RandomRun{1000, 2}, RandomRun{1, 3},
                                           RandomRun{7, 4}, RandomRun{1'000'000, 5},
                                           RandomRun{4096, 6}),
                         [](const ::testing::TestParamInfo<RandomRun>& run) {
                           return "tick" + std::to_string(run.param.tick_us) + "us_seed" +
                                  std::to_string(run.param.seed);
                         });

}  // namespace
}  // namespace synack::stack
