#include "protoclr/dist/launch.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <thread>

#include "protoclr/core/error.h"

extern char** environ;

namespace protoclr::dist {
namespace {

std::atomic<int> g_forward_signal{0};

void remember_signal(int signal) { g_forward_signal.store(signal); }

/// The shell's status of a process that ended with wait status `status`.
int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

std::string describe(int status) {
  if (WIFSIGNALED(status)) return detail::concat("was killed by signal ", WTERMSIG(status), " (", strsignal(WTERMSIG(status)), ")");
  return detail::concat("exited with status ", exit_code(status));
}

pid_t start_rank(const std::string& program, const std::vector<std::string>& args, int rank,
                 const LocalLaunchOptions& options, int port) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    if (name == "RANK" || name == "LOCAL_RANK" || name == "WORLD_SIZE" || name == "LOCAL_WORLD_SIZE" ||
        name == "MASTER_ADDR" || name == "MASTER_PORT")
      continue;
    env_strings.push_back(entry);
  }
  env_strings.push_back("RANK=" + std::to_string(rank));
  env_strings.push_back("LOCAL_RANK=" + std::to_string(rank));
  env_strings.push_back("WORLD_SIZE=" + std::to_string(options.processes));
  env_strings.push_back("LOCAL_WORLD_SIZE=" + std::to_string(options.processes));
  env_strings.push_back("MASTER_ADDR=" + options.master_addr);
  env_strings.push_back("MASTER_PORT=" + std::to_string(port));
  std::vector<char*> argv{const_cast<char*>(program.c_str())};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  const pid_t pid = ::fork();
  PROTOCLR_CHECK(pid >= 0, "cannot start rank ", rank, ": fork: ", std::strerror(errno));
  if (pid == 0) {
    // The child: default signal handling, rank 0 keeps stdout, the others discard theirs.
    for (int s : {SIGTERM, SIGINT, SIGUSR1}) ::signal(s, SIG_DFL);
    // Its own process group, so a terminal's Ctrl-C reaches it once, through the launcher
    // (twice would be "stop at once"); and SIGTERM if the launcher itself dies.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (rank != 0) {
      const int null = ::open("/dev/null", O_WRONLY);
      if (null >= 0) ::dup2(null, STDOUT_FILENO);
    }
    ::execve(program.c_str(), argv.data(), envp.data());
    std::fprintf(stderr, "error: cannot start rank %d: %s: %s\n", rank, program.c_str(), std::strerror(errno));
    ::_exit(127);
  }
  return pid;
}

}  // namespace

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  PROTOCLR_CHECK(fd >= 0, "cannot open a socket to find a free port: ", std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  ::close(fd);
  PROTOCLR_CHECK(ok, "cannot find a free port: ", std::strerror(errno), " (set MASTER_PORT)");
  return ntohs(address.sin_port);
}

std::vector<std::string> own_arguments() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  size_t start = 0;
  while (start < all.size()) {
    const size_t end = all.find('\0', start);
    args.push_back(all.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (!args.empty()) args.erase(args.begin());
  return args;
}

std::vector<std::string> without_flag(const std::vector<std::string>& args, const std::string& flag) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag) {
      ++i;  // and its value
      continue;
    }
    if (args[i].rfind(flag + "=", 0) == 0) continue;
    out.push_back(args[i]);
  }
  return out;
}

int run_local_processes(const std::string& program, const std::vector<std::string>& args,
                        const LocalLaunchOptions& options) {
  PROTOCLR_CHECK(options.processes >= 1, "--nproc-per-node must be >= 1");
  const int port = options.master_port > 0 ? options.master_port : free_port();
  // Signals to the launcher are forwarded to every rank (a scheduler signals the launcher).
  struct sigaction forward {};
  forward.sa_handler = remember_signal;
  sigemptyset(&forward.sa_mask);
  struct sigaction previous[3];
  const int forwarded[3] = {SIGTERM, SIGINT, SIGUSR1};
  for (int i = 0; i < 3; ++i) ::sigaction(forwarded[i], &forward, &previous[i]);

  std::vector<pid_t> pids;
  for (int r = 0; r < options.processes; ++r) pids.push_back(start_rank(program, args, r, options, port));
  std::vector<bool> running(pids.size(), true);
  int alive = options.processes;
  int result = 0;
  bool stopping = false;
  auto stop_deadline = std::chrono::steady_clock::time_point::max();
  while (alive > 0) {
    if (const int s = g_forward_signal.exchange(0); s != 0) {
      for (size_t r = 0; r < pids.size(); ++r)
        if (running[r]) ::kill(pids[r], s);
      // A stop for everyone: the ranks save and exit with 128 + signal, no failure to report.
      if (s != SIGUSR1) stopping = true;
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (size_t r = 0; r < pids.size(); ++r) {
        if (pids[r] != pid) continue;
        running[r] = false;
        --alive;
        if (exit_code(status) != 0 && !stopping) {
          // The first failure decides the status; the others are stopped.
          std::cerr << "error: rank " << r << " of " << options.processes << " (pid " << pid << ") " << describe(status)
                    << "; stopping the other ranks\n";
          result = exit_code(status);
          stopping = true;
          stop_deadline = std::chrono::steady_clock::now() + options.grace;
          for (size_t o = 0; o < pids.size(); ++o)
            if (running[o]) ::kill(pids[o], SIGTERM);
        } else if (exit_code(status) != 0 && result == 0) {
          result = exit_code(status);
        }
      }
      continue;
    }
    if (pid < 0 && errno != EINTR) break;
    if (stopping && std::chrono::steady_clock::now() > stop_deadline) {
      for (size_t o = 0; o < pids.size(); ++o)
        if (running[o]) ::kill(pids[o], SIGKILL);
      stop_deadline = std::chrono::steady_clock::time_point::max();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (int i = 0; i < 3; ++i) ::sigaction(forwarded[i], &previous[i], nullptr);
  return result;
}

}  // namespace protoclr::dist
