// A Poller is what a device queue (or anything else that must be polled) registers with the
// event loop. The loop calls poll() once per iteration; when it wants to sleep it asks every
// poller to arm its wake-up first (virtio: enable used-buffer notifications), and a poller that
// finds work while arming vetoes the sleep. That closes the lost-wake-up race the same way a
// NAPI driver does: enable notifications, then look once more.
#pragma once

namespace netfront {

class Poller {
 public:
  virtual ~Poller() = default;

  // One round of work; returns how much was done (0 means idle this round).
  virtual unsigned poll() = 0;

  // The loop is about to sleep. Arm whatever wakes it (an fd registered with the loop) and
  // return true, or return false to keep the loop busy: when work is already there, or when
  // this poller has no way to wake a sleeping loop.
  virtual bool arm_wakeup() { return false; }

  // The loop woke up: disarm what arm_wakeup() armed (back to pure polling).
  virtual void disarm_wakeup() {}
};

}  // namespace netfront
