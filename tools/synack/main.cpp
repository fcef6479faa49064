// synack: one binary, one subcommand per thing a person does with the stack.
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "commands.hpp"

#ifndef SYNACK_VERSION
#define SYNACK_VERSION "0.1.0"
#endif

int main(int argc, char** argv) {
  CLI::App app("synack: a user-space TCP/IP stack, and the tools to watch TCP work", "synack");
  app.set_version_flag("--version", fmt::format("synack {}", SYNACK_VERSION));
  app.require_subcommand(1);

  int exit_code = 0;
  for (synack::cli::CommandRegistrar add : synack::cli::kCommands)
    add(app, exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; a usage error prints CLI11's message and exits 2, the
    // usual code for "wrong command line" (CLI11's own codes are 100+).
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return exit_code;
}
