// What chatctl writes to standard output, in one of two modes: lines for people
// (aligned columns, "2026-11-27T18:30:00Z #alerts alice: disk full" for messages, colour
// only on a terminal without NO_COLOR or TERM=dumb) or NDJSON, one JSON object a line
// with ids as strings. Nothing else goes to stdout. A write that fails (the reader went
// away: EPIPE, with SIGPIPE ignored) makes ok() false so that a follower can stop.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace chat::ctl {

class Output {
 public:
  Output(bool ndjson, bool colour);
  // NDJSON when `json_flag`, or when `ndjson_when_piped` and stdout is not a terminal.
  static Output for_stdout(bool json_flag, bool ndjson_when_piped);

  bool ndjson() const { return ndjson_; }
  // Flush after every line (tail -f), instead of at exit.
  void set_flush_each(bool on) { flush_each_ = on; }

  // One message: its JSON object, or a line for people naming `channel_name` (without '#').
  bool message(const nlohmann::json& m, std::string_view channel_name);
  // One object as an NDJSON line.
  bool object(const nlohmann::json& o);
  // A line for people, as given.
  bool line(std::string_view text);
  // Rows for people, columns padded to the widest cell (the last column is not padded).
  bool table(const std::vector<std::vector<std::string>>& rows);
  bool flush();
  bool ok() const { return ok_; }

 private:
  bool write(std::string_view text);
  std::string paint(std::string_view text, const char* sgr) const;

  bool ndjson_, colour_;
  bool flush_each_ = false;
  bool ok_ = true;
};

// "2026-11-27T18:30:00Z" from a message's timestamp (or, failing that, its snowflake id).
std::string short_time(const nlohmann::json& m);

}  // namespace chat::ctl
