// The frame every chatctl command runs in: the Status a command returns (an exit code from
// sysexits plus "what failed: why", printed once at the edge), the global options
// (--config, --url, --token, --json) and the Context that turns them, on first use, into
// a loaded chat.toml, a REST client with the right base URL and token, and an Output.
// Commands follow RocksDB ldb's model: each is a small class with a name, its help and
// its options (define) and a run(); main.cpp only calls run_chatctl().
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "chat/config/config.hpp"

namespace CLI {
class App;
}

namespace chat::ctl {

// sysexits(3) codes, as CLI.md's table gives them.
namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int usage = 64;        // unknown command or flag, bad argument, ambiguous name
inline constexpr int data = 65;         // the server rejected the input (400)
inline constexpr int not_found = 66;    // unknown channel, message, user, guild
inline constexpr int unavailable = 69;  // the daemon set cannot be reached
inline constexpr int software = 70;     // a bug or a reply we cannot make sense of
inline constexpr int temporary = 75;    // rate limited, shutting down: try again later
inline constexpr int no_perm = 77;      // 401/403, no token
inline constexpr int config = 78;       // chat.toml could not be read
}  // namespace exit_code

// The outcome of a step: ok, or an exit code with one line saying what failed and why.
class Status {
 public:
  Status() = default;
  static Status error(int code, std::string what, std::string why) {
    Status s;
    s.code_ = code;
    s.what_ = std::move(what);
    s.why_ = std::move(why);
    return s;
  }
  bool ok() const { return code_ == exit_code::ok; }
  int code() const { return code_; }
  const std::string& what() const { return what_; }
  const std::string& why() const { return why_; }
  std::string message() const { return what_.empty() ? why_ : what_ + ": " + why_; }

 private:
  int code_ = exit_code::ok;
  std::string what_, why_;
};

struct GlobalOptions {
  std::string config_file;  // --config
  std::string url;          // --url
  std::string token;        // --token
  bool json = false;        // --json
};

class Api;
class Output;

// Everything a command may need, each piece resolved when first asked for so that a
// command that needs no token (status) or no config (--url and --token given) works
// without them.
class Context {
 public:
  explicit Context(GlobalOptions options);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const GlobalOptions& options() const { return options_; }
  bool json() const { return options_.json; }

  // chat.toml found the usual way (defaults when there is none).
  Status load_config();
  const Config& config() const { return config_; }

  // The REST client: base URL from --url, $CHAT_URL or http://<gateway.listen>; token
  // from --token, $CHAT_TOKEN or <data_dir>/admin.token.
  Status connect_api();
  Api& api() { return *api_; }

  // Standard output in the command's mode. `ndjson_when_piped`: NDJSON also when stdout
  // is not a terminal (tail).
  Output& output(bool ndjson_when_piped = false);

 private:
  GlobalOptions options_;
  bool config_loaded_ = false;
  Config config_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<Output> output_;
};

// One command: `chatctl [globals] <group> <name> ...`.
class Command {
 public:
  virtual ~Command() = default;
  // Adds the subcommand with its arguments, options and help under `root` (or under its
  // group, see subgroup()) and returns it, so the dispatcher can tell whether it was chosen.
  virtual CLI::App* define(CLI::App& root) = 0;
  virtual Status run(Context& ctx) = 0;
};
using CommandList = std::vector<std::unique_ptr<Command>>;

// The group subcommand `name` of `root` ("guild", "user", ...), created on first use.
CLI::App& subgroup(CLI::App& root, const std::string& name, const std::string& description);

// Registration, one function per command group file.
void add_status_commands(CommandList& out);
void add_send_commands(CommandList& out);
void add_tail_commands(CommandList& out);
void add_history_commands(CommandList& out);
void add_message_commands(CommandList& out);
void add_admin_commands(CommandList& out);
void add_presence_commands(CommandList& out);
void add_store_commands(CommandList& out);

// Parses the command line, runs the chosen command, prints its error (if any) as
// "chatctl: what: why" and returns the exit code.
int run_chatctl(int argc, char** argv);

// Helpers shared by the commands.
bool is_snowflake(const std::string& s);         // decimal digits only, fits in 64 bits
uint64_t snowflake_value(const std::string& s);  // 0 when not a snowflake
std::string join_words(const std::vector<std::string>& words);

}  // namespace chat::ctl
