// The `synack` tool's subcommands. Each lives in its own file and adds itself to the app
// here; main.cpp calls every registrar in kCommands. A new subcommand is one new file and
// one line in the list below.
#pragma once

#include <CLI/CLI.hpp>

namespace synack::cli {

// Adds a subcommand to `app`. When the subcommand runs, it stores the process exit code
// in `exit_code` (0 on success, 1 on failure with a message on stderr).
using CommandRegistrar = void (*)(CLI::App& app, int& exit_code);

void register_trace_command(CLI::App& app, int& exit_code);
void register_sim_command(CLI::App& app, int& exit_code);
void register_demo_command(CLI::App& app, int& exit_code);
void register_serve_command(CLI::App& app, int& exit_code);
void register_connect_command(CLI::App& app, int& exit_code);
void register_get_command(CLI::App& app, int& exit_code);
void register_perf_command(CLI::App& app, int& exit_code);
void register_ss_command(CLI::App& app, int& exit_code);
void register_nstat_command(CLI::App& app, int& exit_code);

inline constexpr CommandRegistrar kCommands[] = {
    register_demo_command,  register_trace_command,   register_sim_command,
    register_serve_command, register_connect_command, register_get_command,
    register_perf_command,  register_ss_command,      register_nstat_command,
};

}  // namespace synack::cli
