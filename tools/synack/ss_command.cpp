// Placeholder: `synack ss` and `synack nstat` are being written.
#include "commands.hpp"

namespace synack::cli {

void register_ss_command(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("ss", "(not yet)");
  cmd->callback([&exit_code] { exit_code = 1; });
}

void register_nstat_command(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("nstat", "(not yet)");
  cmd->callback([&exit_code] { exit_code = 1; });
}

}  // namespace synack::cli
