#pragma once
/// Preemption signals for a training run, as cluster schedulers send them:
///   SIGTERM, SIGINT  finish the current step, save a mid-epoch checkpoint, stop (a second
///                    SIGINT ends the process at once: Ctrl-C twice);
///   SIGUSR1          save a mid-epoch checkpoint after the current step and go on.
/// The handlers only set flags; the trainer reads them between steps (TrainerHooks).
namespace protoclr::run {

class PreemptionSignals {
 public:
  /// Installs the handlers (restored by the destructor). One instance at a time.
  PreemptionSignals();
  ~PreemptionSignals();
  PreemptionSignals(const PreemptionSignals&) = delete;
  PreemptionSignals& operator=(const PreemptionSignals&) = delete;

  /// True once SIGTERM or SIGINT arrived.
  static bool stop_requested();
  /// The signal that asked to stop (0: none).
  static int stop_signal();
  /// True once per SIGUSR1 (the request is consumed).
  static bool take_checkpoint_request();
};

/// "SIGTERM", "SIGINT", ... for a message.
const char* signal_name(int signal);

}  // namespace protoclr::run
