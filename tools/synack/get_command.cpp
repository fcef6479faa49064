// Placeholder: `synack get` is being written.
#include "commands.hpp"

namespace synack::cli {

void register_get_command(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("get", "(not yet)");
  cmd->callback([&exit_code] { exit_code = 1; });
}

}  // namespace synack::cli
