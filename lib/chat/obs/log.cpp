// See log.hpp. The filter state is written once at startup (and on SIGHUP) and read on
// every line, so it is kept in atomics and a small copy-on-write tag list.
#include "chat/obs/log.hpp"

#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

namespace chat::log {
namespace {

std::atomic<int> g_threshold{static_cast<int>(Level::info)};
std::mutex g_tags_mu;
std::shared_ptr<const std::vector<std::string>> g_tags;

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v)
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20)
      return true;
  return false;
}

void append_value(std::string& out, std::string_view v) {
  if (!needs_quotes(v)) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

}  // namespace

void configure(Level threshold, std::string_view tags) {
  g_threshold.store(static_cast<int>(threshold));
  auto list = std::make_shared<std::vector<std::string>>();
  size_t start = 0;
  while (start <= tags.size() && !tags.empty()) {
    size_t comma = tags.find(',', start);
    if (comma == std::string_view::npos) comma = tags.size();
    if (comma > start) list->emplace_back(tags.substr(start, comma - start));
    start = comma + 1;
  }
  std::lock_guard lock(g_tags_mu);
  g_tags = list->empty() ? nullptr : std::move(list);
}

bool parse_level(std::string_view name, Level& out) {
  struct {
    std::string_view name;
    Level level;
  } const table[] = {{"err", Level::err},         {"error", Level::err},
                     {"warning", Level::warning}, {"warn", Level::warning},
                     {"notice", Level::notice},   {"info", Level::info},
                     {"debug", Level::debug}};
  for (auto& row : table)
    if (row.name == name) {
      out = row.level;
      return true;
    }
  return false;
}

bool enabled(Level level, std::string_view tag) {
  if (static_cast<int>(level) > g_threshold.load(std::memory_order_relaxed)) return false;
  std::shared_ptr<const std::vector<std::string>> tags;
  {
    std::lock_guard lock(g_tags_mu);
    tags = g_tags;
  }
  if (!tags || level <= Level::warning) return true;
  for (auto& t : *tags)
    if (t == tag) return true;
  return false;
}

void write(Level level, std::string_view tag, std::string_view msg,
           std::initializer_list<Field> fields) {
  if (!enabled(level, tag)) return;
  std::string line;
  line.reserve(96);
  line.push_back('<');
  line.push_back(static_cast<char>('0' + static_cast<int>(level)));
  line.append(">tag=");
  append_value(line, tag);
  line.append(" msg=");
  line.push_back('"');
  for (char c : msg) line.push_back(c == '"' ? '\'' : c);
  line.push_back('"');
  for (auto& f : fields) {
    line.push_back(' ');
    line.append(f.key);
    line.push_back('=');
    append_value(line, f.value);
  }
  line.push_back('\n');
  // One write(2) per line keeps lines whole when threads log at once.
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

}  // namespace chat::log
