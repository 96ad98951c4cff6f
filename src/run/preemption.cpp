#include "protoclr/run/preemption.h"

#include <atomic>
#include <csignal>

#include "protoclr/core/error.h"

namespace protoclr::run {
namespace {

// Lock-free atomics are async-signal-safe.
std::atomic<int> g_stop_signal{0};
std::atomic<bool> g_checkpoint{false};
std::atomic<bool> g_installed{false};
struct sigaction g_previous[3];
constexpr int kSignals[3] = {SIGTERM, SIGINT, SIGUSR1};

extern "C" void on_signal(int signal) {
  if (signal == SIGUSR1) {
    g_checkpoint.store(true);
    return;
  }
  if (signal == SIGINT && g_stop_signal.load() != 0) {  // the second Ctrl-C: stop now
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
    return;
  }
  g_stop_signal.store(signal);
}

}  // namespace

PreemptionSignals::PreemptionSignals() {
  PROTOCLR_CHECK(!g_installed.exchange(true), "PreemptionSignals: already installed");
  g_stop_signal.store(0);
  g_checkpoint.store(false);
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // reads and waits in the loader go on
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &action, &g_previous[i]);
}

PreemptionSignals::~PreemptionSignals() {
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &g_previous[i], nullptr);
  g_installed.store(false);
}

bool PreemptionSignals::stop_requested() { return g_stop_signal.load() != 0; }

int PreemptionSignals::stop_signal() { return g_stop_signal.load(); }

bool PreemptionSignals::take_checkpoint_request() { return g_checkpoint.exchange(false); }

const char* signal_name(int signal) {
  switch (signal) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    default: return "a signal";
  }
}

}  // namespace protoclr::run
