// Logging: one line per event worth knowing, to stderr, with a syslog level prefix
// (<3>..<7>, which journald understands) followed by logfmt fields:
//   <4>tag=ws msg="client closed" conn=42 reason=slow_consumer
// Tags name the area (ws, http, bus, store, guild, gateway, chatd, fanout) and can be
// filtered at run time; the level threshold is global. Thread-safe: one write(2) a line.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace chat::log {

enum class Level : int {
  err = 3,      // something failed and needs a person
  warning = 4,  // bad input or a recoverable failure
  notice = 5,   // lifecycle: started, ready, stopping, child restarted
  info = 6,     // ordinary events worth a line
  debug = 7,    // detail for developers
};

// One key=value pair; the value is quoted when it holds spaces, quotes or '='.
struct Field {
  std::string_view key;
  std::string value;
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v ? v : "") {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  template <typename T>
  requires std::is_arithmetic_v<T> Field(std::string_view k, T v)
      : key(k), value(std::to_string(v)) {}
};

// Lines above `threshold` are dropped. `tags` is a comma list; empty means all.
void configure(Level threshold, std::string_view tags = {});
bool parse_level(std::string_view name, Level& out);
bool enabled(Level level, std::string_view tag);
void write(Level level, std::string_view tag, std::string_view msg,
           std::initializer_list<Field> fields = {});

inline void err(std::string_view tag, std::string_view msg, std::initializer_list<Field> f = {}) {
  write(Level::err, tag, msg, f);
}
inline void warn(std::string_view tag, std::string_view msg, std::initializer_list<Field> f = {}) {
  write(Level::warning, tag, msg, f);
}
inline void notice(std::string_view tag, std::string_view msg,
                   std::initializer_list<Field> f = {}) {
  write(Level::notice, tag, msg, f);
}
inline void info(std::string_view tag, std::string_view msg, std::initializer_list<Field> f = {}) {
  write(Level::info, tag, msg, f);
}
inline void debug(std::string_view tag, std::string_view msg, std::initializer_list<Field> f = {}) {
  if (enabled(Level::debug, tag)) write(Level::debug, tag, msg, f);
}

}  // namespace chat::log
