// Placeholder: `synack perf` is being written.
#include "commands.hpp"

namespace synack::cli {

void register_perf_command(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("perf", "(not yet)");
  cmd->callback([&exit_code] { exit_code = 1; });
}

}  // namespace synack::cli
