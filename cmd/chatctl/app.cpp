// chatctl's frame: global options, lazy config/URL/token resolution, the command table
// and dispatch, and the single place where a failed Status becomes a line on stderr and
// an exit code. See app.hpp.
#include "app.hpp"

#include <signal.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "chat/proto/snowflake.hpp"
#include "client.hpp"
#include "output.hpp"

namespace chat::ctl {

namespace {

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

}  // namespace

bool is_snowflake(const std::string& s) {
  uint64_t v = 0;
  return parse_snowflake(s, v);
}

uint64_t snowflake_value(const std::string& s) {
  uint64_t v = 0;
  return parse_snowflake(s, v) ? v : 0;
}

std::string join_words(const std::vector<std::string>& words) {
  std::string out;
  for (auto& w : words) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

Context::Context(GlobalOptions options) : options_(std::move(options)) {}
Context::~Context() = default;

Status Context::load_config() {
  if (config_loaded_) return {};
  std::string file = find_config_file(options_.config_file);
  try {
    config_ = chat::load_config(file);
  } catch (const ConfigError& e) {
    return Status::error(exit_code::config, "config " + (file.empty() ? "defaults" : file),
                         e.what());
  } catch (const std::exception& e) {
    return Status::error(exit_code::config, "config " + file, e.what());
  }
  config_loaded_ = true;
  return {};
}

Status Context::connect_api() {
  if (api_) return {};
  std::string url = options_.url.empty() ? env_or_empty("CHAT_URL") : options_.url;
  std::string token = options_.token.empty() ? env_or_empty("CHAT_TOKEN") : options_.token;
  if (url.empty() || token.empty()) {
    if (Status s = load_config(); !s.ok()) return s;
  }
  if (url.empty()) url = "http://" + config_.gateway.listen;
  if (token.empty()) {
    std::string path = config_.data_path() + "/admin.token";
    std::ifstream in(path);
    if (!in)
      return Status::error(exit_code::no_perm, "token",
                           "no --token, no $CHAT_TOKEN, and " + path + " cannot be read");
    std::stringstream ss;
    ss << in.rdbuf();
    token = trim(ss.str());
    if (token.empty()) return Status::error(exit_code::no_perm, "token", path + " is empty");
  }
  auto api = std::make_unique<Api>(url, token);
  if (Status s = api->init(); !s.ok()) return s;
  api_ = std::move(api);
  return {};
}

Output& Context::output(bool ndjson_when_piped) {
  if (!output_)
    output_ = std::make_unique<Output>(Output::for_stdout(options_.json, ndjson_when_piped));
  return *output_;
}

CLI::App& subgroup(CLI::App& root, const std::string& name, const std::string& description) {
  for (CLI::App* sub : root.get_subcommands({}))
    if (sub->get_name() == name) return *sub;
  CLI::App* group = root.add_subcommand(name, description);
  group->require_subcommand(1);
  return *group;
}

int run_chatctl(int argc, char** argv) {
  // A reader that goes away (`| head`) must end us with a clean exit, not a signal:
  // writes then fail with EPIPE and the commands stop.
  signal(SIGPIPE, SIG_IGN);

  GlobalOptions options;
  CLI::App app{"send, follow and administer a chat daemon set", "chatctl"};
  app.fallthrough();  // global options may also follow the command (tail -f --json ...)
  app.require_subcommand(1);
  app.add_option("--config", options.config_file,
                 "chat.toml to read (else $CHAT_CONFIG, ./chat.toml, /etc/chat/chat.toml)");
  app.add_option("--url", options.url,
                 "gateway base URL (else $CHAT_URL, else http://<gateway.listen>)");
  app.add_option("--token", options.token, "token (else $CHAT_TOKEN, else <data_dir>/admin.token)");
  app.add_flag("--json", options.json, "write NDJSON, one object a line");

  CommandList commands;
  add_status_commands(commands);
  add_send_commands(commands);
  add_tail_commands(commands);
  add_history_commands(commands);
  add_message_commands(commands);
  add_admin_commands(commands);
  add_presence_commands(commands);
  add_store_commands(commands);
  std::vector<std::pair<CLI::App*, Command*>> table;
  for (auto& c : commands) table.emplace_back(c->define(app), c.get());

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::fprintf(stderr, "chatctl: %s (see chatctl --help)\n", e.what());
    return exit_code::usage;
  }

  Context ctx(options);
  for (auto& [sub, command] : table) {
    if (!sub || !sub->parsed()) continue;
    Status s = command->run(ctx);
    ctx.output().flush();
    if (!s.ok()) {
      std::fprintf(stderr, "chatctl: %s\n", s.message().c_str());
      return s.code();
    }
    return exit_code::ok;
  }
  std::fprintf(stderr, "chatctl: no command given (see chatctl --help)\n");
  return exit_code::usage;
}

}  // namespace chat::ctl
