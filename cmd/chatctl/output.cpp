// Standard output for chatctl; see output.hpp.
#include "output.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "chat/proto/snowflake.hpp"

namespace chat::ctl {

namespace {

bool colour_allowed() {
  if (!isatty(STDOUT_FILENO)) return false;
  if (const char* nc = std::getenv("NO_COLOR"); nc && *nc) return false;
  const char* term = std::getenv("TERM");
  return !(term && std::strcmp(term, "dumb") == 0);
}

std::string string_field(const nlohmann::json& o, const char* key) {
  if (o.is_object() && o.contains(key) && o[key].is_string()) return o[key].get<std::string>();
  return {};
}

// Milliseconds since the Unix epoch as "YYYY-MM-DDTHH:MM:SSZ".
std::string format_utc(int64_t unix_ms) {
  time_t secs = static_cast<time_t>(unix_ms / 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::string short_time(const nlohmann::json& m) {
  std::string ts = string_field(m, "timestamp");
  // 2026-11-27T18:30:00.000000+00:00 -> 2026-11-27T18:30:00Z when it is already UTC.
  if (ts.size() >= 19 && ts[10] == 'T' &&
      (ts.ends_with("+00:00") || ts.ends_with("Z") || ts.size() == 19))
    return ts.substr(0, 19) + "Z";
  uint64_t id = 0;
  if (parse_snowflake(string_field(m, "id"), id))
    return format_utc(static_cast<int64_t>(snowflake_unix_ms(id)));
  return ts.empty() ? "-" : ts;
}

Output::Output(bool ndjson, bool colour) : ndjson_(ndjson), colour_(colour && !ndjson) {}

Output Output::for_stdout(bool json_flag, bool ndjson_when_piped) {
  bool tty = isatty(STDOUT_FILENO);
  bool ndjson = json_flag || (ndjson_when_piped && !tty);
  return Output(ndjson, !ndjson && colour_allowed());
}

std::string Output::paint(std::string_view text, const char* sgr) const {
  if (!colour_) return std::string(text);
  return std::string("\x1b[") + sgr + "m" + std::string(text) + "\x1b[0m";
}

bool Output::write(std::string_view text) {
  if (!ok_) return false;
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) ok_ = false;
  if (ok_ && flush_each_ && std::fflush(stdout) != 0) ok_ = false;
  return ok_;
}

bool Output::flush() {
  if (ok_ && std::fflush(stdout) != 0) ok_ = false;
  return ok_;
}

bool Output::object(const nlohmann::json& o) {
  // Invalid UTF-8 from the server is replaced rather than aborting the whole output.
  return write(o.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

bool Output::line(std::string_view text) {
  std::string s(text);
  s += '\n';
  return write(s);
}

bool Output::message(const nlohmann::json& m, std::string_view channel_name) {
  if (ndjson_) return object(m);
  std::string author;
  if (m.contains("author") && m["author"].is_object()) {
    author = string_field(m["author"], "global_name");
    if (author.empty()) author = string_field(m["author"], "username");
    if (author.empty()) author = string_field(m["author"], "name");
  }
  if (author.empty()) author = "?";
  std::string content = string_field(m, "content");
  // Continuation lines of a multi-line message are indented under the first.
  std::string shown;
  for (char c : content) {
    shown += c;
    if (c == '\n') shown += "    ";
  }
  std::string edited = m.contains("edited_timestamp") && m["edited_timestamp"].is_string()
                           ? paint(" (edited)", "2")
                           : "";
  std::string channel =
      channel_name.empty() ? string_field(m, "channel_id") : std::string(channel_name);
  return line(paint(short_time(m), "2") + " " + paint("#" + channel, "36") + " " +
              paint(author, "1") + ": " + shown + edited);
}

bool Output::table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (auto& row : rows) {
    std::string text;
    for (size_t i = 0; i < row.size(); ++i) {
      text += row[i];
      if (i + 1 < row.size()) text += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    if (!line(text)) return false;
  }
  return true;
}

}  // namespace chat::ctl
