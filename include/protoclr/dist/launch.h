#pragma once
/// `protoclr train --nproc-per-node N`: N processes of this program on one machine, as
/// torchrun starts them (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR,
/// MASTER_PORT in each one's environment), watched until they end.
#include <chrono>
#include <string>
#include <vector>

namespace protoclr::dist {

struct LocalLaunchOptions {
  int processes = 1;                     ///< N
  std::string master_addr = "127.0.0.1";
  int master_port = 0;                   ///< 0: a free port of this machine
  /// After one process fails, how long the others have to stop on SIGTERM (they save
  /// nothing: a peer is gone) before SIGKILL.
  std::chrono::milliseconds grace{30'000};
};

/// Runs `program` with `args` as ranks 0..N-1 and waits for all of them. Rank 0's output
/// is the launcher's; the other ranks' stdout is discarded and their stderr passes through
/// (the logger prints only warnings and errors there). SIGTERM, SIGINT and SIGUSR1 sent to
/// the launcher go to every rank (each saves and stops, or saves and goes on, together).
/// When a rank fails, its status is printed naming the rank, the others are stopped, and
/// that status is returned (the shell's 128 + signal for a killed rank); 0 when all succeed.
int run_local_processes(const std::string& program, const std::vector<std::string>& args,
                        const LocalLaunchOptions& options);

/// This process' command line (/proc/self/cmdline) without argv[0].
std::vector<std::string> own_arguments();
/// `args` without `flag` and its value (either "--flag V" or "--flag=V").
std::vector<std::string> without_flag(const std::vector<std::string>& args, const std::string& flag);
/// A TCP port on 127.0.0.1 free at the time of the call.
int free_port();

}  // namespace protoclr::dist
