// chatd's restart decisions (daemons/chatd/restart_policy.hpp), without processes: the
// restart types, which children a strategy takes down, the backoff sequence and the
// restart intensity that makes chatd give up.
#include <catch2/catch.hpp>

#include "../../../daemons/chatd/restart_policy.hpp"

using namespace chat::chatd;

TEST_CASE("restart types decide whether an exited child comes back", "[chatd]") {
  CHECK(should_restart(RestartType::permanent, true));
  CHECK(should_restart(RestartType::permanent, false));
  CHECK_FALSE(should_restart(RestartType::transient, true));
  CHECK(should_restart(RestartType::transient, false));
  CHECK_FALSE(should_restart(RestartType::temporary, true));
  CHECK_FALSE(should_restart(RestartType::temporary, false));
}

TEST_CASE("one_for_one takes down only the failed child", "[chatd]") {
  auto a = affected_by(Strategy::one_for_one, 1, 4);
  CHECK(a.first == 1);
  CHECK(a.last == 2);
}

TEST_CASE("rest_for_one takes down the failed child and all started after it", "[chatd]") {
  auto a = affected_by(Strategy::rest_for_one, 0, 4);
  CHECK(a.first == 0);
  CHECK(a.last == 4);
  auto last = affected_by(Strategy::rest_for_one, 3, 4);
  CHECK(last.first == 3);
  CHECK(last.last == 4);
  auto out = affected_by(Strategy::rest_for_one, 7, 4);
  CHECK(out.first == out.last);
}

TEST_CASE("intensity allows exactly `intensity` restarts within the period", "[chatd]") {
  RestartIntensity r(3, 10'000);
  CHECK(r.record(0));
  CHECK(r.record(1'000));
  CHECK(r.record(2'000));
  CHECK_FALSE(r.record(3'000));  // the fourth within 10 s is one too many
}

TEST_CASE("restarts older than the period are forgotten", "[chatd]") {
  RestartIntensity r(2, 10'000);
  CHECK(r.record(0));
  CHECK(r.record(5'000));
  CHECK(r.record(10'000));  // the one at 0 is exactly a period old: outside the window
  CHECK(r.recent(10'000) == 2);
  CHECK(r.record(15'001));  // 5'000 has gone too
  CHECK_FALSE(r.record(16'000));
  CHECK(r.recent(100'000) == 0);
}

TEST_CASE("intensity 0 gives up at the first restart", "[chatd]") {
  RestartIntensity r(0, 30'000);
  CHECK_FALSE(r.record(0));
}

TEST_CASE("a slow crash loop never exceeds the intensity", "[chatd]") {
  RestartIntensity r(5, 30'000);
  for (int64_t t = 0; t < 3'600'000; t += 6'001) REQUIRE(r.record(t));
}

TEST_CASE("new limits apply to the restarts already seen", "[chatd]") {
  RestartIntensity r(5, 30'000);
  CHECK(r.record(0));
  CHECK(r.record(1));
  r.set_limits(1, 30'000);
  CHECK_FALSE(r.record(2));
}

TEST_CASE("backoff doubles from 100 ms up to the maximum", "[chatd]") {
  Backoff b(1'000);
  CHECK(b.next(0) == 100);
  CHECK(b.next(0) == 200);
  CHECK(b.next(0) == 400);
  CHECK(b.next(0) == 800);
  CHECK(b.next(0) == 1'000);
  CHECK(b.next(0) == 1'000);
}

TEST_CASE("backoff starts over after the child stayed up", "[chatd]") {
  Backoff b(5'000, 10'000);
  b.next(0);
  b.next(0);
  CHECK(b.next(9'999) == 400);   // not stable yet
  CHECK(b.next(10'000) == 100);  // up long enough: healthy again
  CHECK(b.next(0) == 200);
  b.reset();
  CHECK(b.next(0) == 100);
}

TEST_CASE("a lowered maximum caps the next delay", "[chatd]") {
  Backoff b(5'000);
  for (int i = 0; i < 10; ++i) b.next(0);
  b.set_max(300);
  CHECK(b.next(0) == 300);
}
