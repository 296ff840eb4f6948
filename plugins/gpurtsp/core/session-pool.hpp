// SPDX-License-Identifier: MIT
/* gpurtsp: a capped pool of expensive sessions lent out one borrower at a time.
 *
 * Shared by many cameras: NVDEC decoders (gpukeyframedec, keyed by format) and
 * nvJPEG encoder slots (gpujpegenc, whose key serves every wish). Free of CUDA
 * so its policy can be tested anywhere:
 *  - at most max_sessions exist at once; creating one is slow, so it happens
 *    outside the lock, in a reserved slot;
 *  - a borrower gets an idle session whose key serves its wish
 *    (Key::serves(const Key &wanted)), else a new one while under the cap,
 *    else the least recently used idle session is destroyed and replaced;
 *  - growth on measured contention (SessionPoolPolicy::grow_after): where a
 *    busy session (or one being made) could serve the borrower, it first
 *    waits that long for one; only a borrower that waited so long makes
 *    another, and not while a session that would serve it is being made or
 *    on its first use (set-up, not contention; so growth goes one session at
 *    a time). Concurrent borrowers alone do not grow the pool: 4 cameras at
 *    5 JPEG/s share one nvJPEG state (34 MiB) instead of holding four;
 *  - otherwise it queues (first come, first served) until a session is handed
 *    to it or its timeout passes;
 *  - shrinking (SessionPoolPolicy::idle_timeout): an idle session unused for
 *    that long is destroyed when the pool is next used, down to
 *    SessionPoolPolicy::keep sessions; and, where the pool grows on
 *    contention, also on measured lack of it: a pool whose borrowers take
 *    idle sessions eagerly touches every session in a burst, so none ever
 *    idles that long although fewer would serve. Over each idle_timeout
 *    window the pool notes the longest wait a borrower had, and the longest
 *    one would have had with a session fewer (from the moment a borrower
 *    took the last idle session to the next return); both under half of
 *    grow_after (half: hysteresis against the growth rule), one idle
 *    session goes at the window's end;
 *  - when creation fails while other sessions exist, the cap drops to what
 *    exists: the limit is the driver's, and waiting beats failing.
 * Key needs `bool serves(const Key &wanted) const`; Session needs
 * `const Key &key() const` (what it was made for). */
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace gpurtsp {

/* One type for every pool, so one function (core/pool-stats.h) publishes
 * them all under the same field names. */
struct SessionPoolStats {
  unsigned sessions = 0; /* existing, idle or lent */
  unsigned lent = 0;
  unsigned max_sessions = 0; /* current cap */
  unsigned waiting = 0;
  uint64_t created = 0;
  uint64_t destroyed = 0;
  uint64_t timeouts = 0;
  uint64_t waits = 0; /* acquisitions that found nothing free and waited */
  uint64_t creation_failures = 0;
  std::string last_failure;
};

/* When a pool grows and shrinks. The default (grow at once, never shrink)
 * grows on concurrency: a session per borrower in flight, up to the cap. */
struct SessionPoolPolicy {
  /* How long a borrower waits for a busy session that serves it before it
   * may make another (under the cap); 0: at once. */
  std::chrono::microseconds grow_after{0};
  /* Idle sessions unused this long are destroyed; 0: never. */
  std::chrono::milliseconds idle_timeout{0};
  /* Sessions idle_timeout leaves in place. */
  unsigned keep = 1;
};

template <typename Key, typename Session>
class SessionPool {
  using Clock = std::chrono::steady_clock;
  struct Entry {
    Key key;
    std::unique_ptr<Session> session;
    bool busy = false;
    bool fresh = true;            /* never returned: its first use may include set-up */
    Clock::time_point released{}; /* last returned */
  };
  using EntryIt = typename std::list<Entry>::iterator;

public:
  /* Creates a session for @wanted (may return one whose key serves more);
   * nullptr with @why on failure. Called without the pool's lock. */
  using Factory = std::function<std::unique_ptr<Session>(const Key &wanted, std::string &why)>;

  enum class Status { Ok, Timeout, Failed };

  using Stats = SessionPoolStats;

  /* One borrowed session; returns it to the pool when destroyed. Must not
   * outlive the pool. */
  class Lease {
  public:
    Lease() = default;
    ~Lease() { reset(); }
    Lease(Lease &&other) noexcept { *this = std::move(other); }
    Lease &operator=(Lease &&other) noexcept {
      if (this != &other) {
        reset();
        pool_ = std::exchange(other.pool_, nullptr);
        entry_ = other.entry_;
      }
      return *this;
    }
    Lease(const Lease &) = delete;
    Lease &operator=(const Lease &) = delete;

    explicit operator bool() const { return pool_ != nullptr; }
    Session &operator*() const { return *entry_->session; }
    Session *operator->() const { return entry_->session.get(); }
    const Key &key() const { return entry_->key; }

    /* Returns the session to the pool. */
    void reset() {
      if (auto pool = std::exchange(pool_, nullptr))
        pool->release(entry_, false);
    }
    /* Destroys the session instead of returning it (it is broken). */
    void discard() {
      if (auto pool = std::exchange(pool_, nullptr))
        pool->release(entry_, true);
    }

  private:
    friend class SessionPool;
    Lease(SessionPool *pool, EntryIt entry) : pool_(pool), entry_(entry) {}

    SessionPool *pool_ = nullptr;
    EntryIt entry_{};
  };

  SessionPool(unsigned max_sessions, Factory factory, SessionPoolPolicy policy = {})
      : factory_(std::move(factory)), policy_(policy),
        max_sessions_(max_sessions ? max_sessions : 1) {}
  /* Every lease must have been returned. */
  ~SessionPool() = default;
  SessionPool(const SessionPool &) = delete;
  SessionPool &operator=(const SessionPool &) = delete;

  /* Borrows a session serving @wanted, waiting at most @timeout for one.
   * Failed (with @why) only when no session exists and none can be made. */
  Status acquire(const Key &wanted, std::chrono::milliseconds timeout, Lease &lease,
                 std::string &why) {
    const auto arrived = Clock::now();
    const auto deadline = arrived + timeout;
    const auto grow_at = arrived + policy_.grow_after;
    Waiter self{wanted};
    bool waited = false;
    std::unique_lock<std::mutex> lk(lock_);
    std::unique_ptr<Session> expired = take_expired(arrived);
    if (expired) {
      /* Destroyed without the lock; the slot stays taken meanwhile. */
      pending_++;
      lk.unlock();
      expired.reset();
      lk.lock();
      pending_--;
      destroyed_++;
      wake_front();
    }
    /* Queue behind earlier borrowers; without any, try at once. */
    bool may_try = waiters_.empty();
    if (!may_try)
      waiters_.push_back(&self);

    /* Waiting for grow_at (or the creation in flight) before growing; a
     * borrower queued behind others checks at grow_at too. */
    bool growth_pending = policy_.grow_after.count() > 0;
    for (;;) {
      if (self.handed) {
        lease = Lease(this, *self.handed);
        note_lent(arrived, true);
        return Status::Ok;
      }
      bool contended = false; /* a busy session would serve us */
      if (may_try || std::exchange(self.retry, false)) {
        may_try = false;
        if (auto idle = find_idle(wanted)) {
          dequeue(&self);
          (*idle)->busy = true;
          lease = Lease(this, *idle);
          note_lent(arrived, waited);
          return Status::Ok;
        }
        /* A busy session that serves us will be back soon: make another only
         * once we waited grow_after for it, and one at a time. */
        contended = policy_.grow_after.count() > 0 && serves_busy(wanted);
        const bool may_grow = !contended || (Clock::now() >= grow_at && !warming(wanted));
        growth_pending = !may_grow;
        std::unique_ptr<Session> victim;
        bool have_slot = may_grow && entries_.size() + pending_ < max_sessions_;
        if (may_grow && !have_slot) {
          if (auto lru = find_least_recent_idle()) {
            victim = std::move((*lru)->session);
            entries_.erase(*lru);
            have_slot = true;
          }
        }
        if (have_slot) {
          dequeue(&self);
          if (create(lk, wanted, std::move(victim), lease, why)) {
            note_lent(arrived, waited);
            return Status::Ok;
          }
          if (entries_.size() + pending_ == 0) {
            wake_front(); /* the next borrower fails fast too */
            return Status::Failed;
          }
          /* The driver refused one more: live with the sessions there are
           * and keep our turn at the head of the queue. */
          max_sessions_ = static_cast<unsigned>(entries_.size() + pending_);
          waiters_.push_front(&self);
          continue;
        }
        if (!queued(&self))
          waiters_.push_back(&self);
      }
      if (!std::exchange(waited, true))
        waits_++;
      /* Until a session is handed over, or, while growth waits, until
       * grow_at (or, with another creation in flight, one grow_after more)
       * to try again. */
      auto wake = deadline;
      if (growth_pending) {
        const auto now = Clock::now();
        wake = std::min(deadline, now < grow_at ? grow_at : now + policy_.grow_after);
      }
      if (self.cv.wait_until(lk, wake) == std::cv_status::timeout && !self.handed && !self.retry) {
        if (Clock::now() >= deadline) {
          dequeue(&self);
          timeouts_++;
          if (shrinks_on_contention())
            window_worst_wait_ = std::max(window_worst_wait_, Clock::now() - arrived);
          return Status::Timeout;
        }
        /* Time to grow: try again, keeping our place in the queue. */
        self.retry = true;
      }
    }
  }

  /* Raises the cap (never lowers it); waiters get another chance. */
  void raise_max_sessions(unsigned max_sessions) {
    std::lock_guard<std::mutex> lk(lock_);
    if (max_sessions <= max_sessions_)
      return;
    max_sessions_ = max_sessions;
    wake_front();
  }

  /* The cap now; cheaper than stats() for a log line. */
  unsigned max_sessions() const {
    std::lock_guard<std::mutex> lk(lock_);
    return max_sessions_;
  }

  Stats stats() const {
    std::lock_guard<std::mutex> lk(lock_);
    Stats s;
    s.sessions = static_cast<unsigned>(entries_.size());
    for (const auto &entry : entries_)
      s.lent += entry.busy ? 1 : 0;
    s.max_sessions = max_sessions_;
    s.waiting = static_cast<unsigned>(waiters_.size());
    s.created = created_;
    s.destroyed = destroyed_;
    s.timeouts = timeouts_;
    s.waits = waits_;
    s.creation_failures = creation_failures_;
    s.last_failure = last_failure_;
    return s;
  }

private:
  struct Waiter {
    explicit Waiter(const Key &k) : wanted(k) {}
    const Key &wanted;
    std::condition_variable cv;
    std::optional<EntryIt> handed; /* set by release() */
    bool retry = false;            /* woken to try again: a slot or idle session appeared */
  };

  /* A session that would serve @wanted is being made or on its first use:
   * a wait behind it measures set-up (nvJPEG sizes its buffers on the first
   * frame), not contention; and growth goes one session at a time. */
  bool warming(const Key &wanted) const {
    for (const auto &entry : entries_) {
      if (entry.busy && entry.fresh && entry.key.serves(wanted))
        return true;
    }
    for (const Key &key : creating_) {
      if (key.serves(wanted))
        return true;
    }
    return false;
  }

  /* Whether a lent session, or one being made, would serve @wanted when it
   * comes back. */
  bool serves_busy(const Key &wanted) const {
    for (const auto &entry : entries_) {
      if (entry.busy && entry.key.serves(wanted))
        return true;
    }
    for (const Key &key : creating_) {
      if (key.serves(wanted))
        return true;
    }
    return false;
  }

  /* The least recently used idle session if it has been idle for
   * idle_timeout and more than keep sessions exist, taken out of the pool
   * for the caller to destroy without the lock. */
  std::unique_ptr<Session> take_expired(Clock::time_point now) {
    if (policy_.idle_timeout.count() == 0)
      return nullptr;
    /* The window's verdict on contention, whatever happens below. */
    bool uncontended = false;
    if (shrinks_on_contention() && now - window_start_ >= policy_.idle_timeout) {
      if (last_idle_taken_at_)
        window_worst_wait_ = std::max(window_worst_wait_, now - *last_idle_taken_at_);
      uncontended = window_worst_wait_ < policy_.grow_after / 2;
      window_start_ = now;
      window_worst_wait_ = {};
    }
    if (entries_.size() <= policy_.keep)
      return nullptr;
    auto victim = find_least_recent_idle();
    if (victim && now - (*victim)->released < policy_.idle_timeout)
      victim = uncontended ? find_least_recent_redundant_idle() : std::nullopt;
    if (!victim)
      return nullptr;
    std::unique_ptr<Session> session = std::move((*victim)->session);
    entries_.erase(*victim);
    return session;
  }

  /* The least recently used idle session whose borrowers another session
   * also serves: shrinking on lack of contention never takes a format's
   * last session (its next keyframe would wait for a new one). */
  std::optional<EntryIt> find_least_recent_redundant_idle() {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->busy)
        continue;
      for (auto other = entries_.begin(); other != entries_.end(); ++other)
        if (other != it && other->key.serves(it->key))
          return it;
    }
    return std::nullopt;
  }

  bool shrinks_on_contention() const {
    return policy_.grow_after.count() > 0 && policy_.idle_timeout.count() > 0;
  }

  /* A lease was given to a borrower that arrived at @arrived (and @waited):
   * the window's figures for shrinking on lack of contention. */
  void note_lent(Clock::time_point arrived, bool waited) {
    if (!shrinks_on_contention())
      return;
    const auto now = Clock::now();
    if (waited)
      window_worst_wait_ = std::max(window_worst_wait_, now - arrived);
    if (!last_idle_taken_at_ && !find_least_recent_idle())
      last_idle_taken_at_ = now;
  }

  /* Idle sessions are kept in release order at the back of entries_, so the
   * front-most idle one is the least recently used. */
  std::optional<EntryIt> find_idle(const Key &wanted) {
    for (auto it = entries_.end(); it != entries_.begin();) {
      --it;
      if (!it->busy && it->key.serves(wanted))
        return it;
    }
    return std::nullopt;
  }
  std::optional<EntryIt> find_least_recent_idle() {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (!it->busy)
        return it;
    }
    return std::nullopt;
  }

  bool queued(Waiter *w) const {
    for (auto *q : waiters_) {
      if (q == w)
        return true;
    }
    return false;
  }
  void dequeue(Waiter *w) {
    for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
      if (*it == w) {
        waiters_.erase(it);
        return;
      }
    }
  }
  void wake_front() {
    if (!waiters_.empty()) {
      waiters_.front()->retry = true;
      waiters_.front()->cv.notify_one();
    }
  }

  /* Fills a reserved slot: destroys @victim and creates a session for
   * @wanted, both without the lock. */
  bool create(std::unique_lock<std::mutex> &lk, const Key &wanted, std::unique_ptr<Session> victim,
              Lease &lease, std::string &why) {
    pending_++;
    const auto made_for = creating_.insert(creating_.end(), wanted);
    lk.unlock();
    const bool had_victim = victim != nullptr;
    victim.reset();
    std::unique_ptr<Session> session = factory_(wanted, why);
    lk.lock();
    creating_.erase(made_for);
    pending_--;
    if (had_victim)
      destroyed_++;
    if (!session) {
      creation_failures_++;
      last_failure_ = why;
      return false;
    }
    created_++;
    Key key = session->key();
    entries_.push_back(Entry{std::move(key), std::move(session), true});
    lease = Lease(this, std::prev(entries_.end()));
    return true;
  }

  void release(EntryIt entry, bool discard) {
    std::unique_ptr<Session> broken;
    {
      std::lock_guard<std::mutex> lk(lock_);
      if (discard) {
        broken = std::move(entry->session);
        entries_.erase(entry);
        destroyed_++;
        pending_++; /* the slot stays taken until the session is gone */
      } else {
        entry->busy = false;
        entry->fresh = false;
        entry->released = Clock::now();
        /* How long a borrower would have waited for this one had the last
         * idle session not been there. */
        if (last_idle_taken_at_) {
          window_worst_wait_ = std::max(window_worst_wait_, entry->released - *last_idle_taken_at_);
          last_idle_taken_at_.reset();
        }
        entries_.splice(entries_.end(), entries_, entry); /* most recently used */
        for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
          if (entry->key.serves((*it)->wanted)) {
            Waiter *w = *it;
            waiters_.erase(it);
            entry->busy = true;
            w->handed = entry;
            w->cv.notify_one();
            return;
          }
        }
        wake_front();
        return;
      }
    }
    broken.reset();
    std::lock_guard<std::mutex> lk(lock_);
    pending_--;
    wake_front();
  }

  const Factory factory_;
  const SessionPoolPolicy policy_;
  mutable std::mutex lock_;
  /* All below are guarded by lock_. */
  std::list<Entry> entries_;     /* lent ones anywhere, idle ones in release order */
  std::deque<Waiter *> waiters_; /* borrowers waiting, first come first served */
  size_t pending_ = 0;           /* slots being filled or emptied without the lock */
  std::list<Key> creating_;      /* what the creations in flight were asked for */
  unsigned max_sessions_;
  uint64_t created_ = 0;
  uint64_t destroyed_ = 0;
  uint64_t timeouts_ = 0;
  uint64_t waits_ = 0;
  uint64_t creation_failures_ = 0;
  std::string last_failure_;
  /* Shrinking on lack of contention (see the top of this file). */
  Clock::time_point window_start_ = Clock::now();
  Clock::duration window_worst_wait_{};
  std::optional<Clock::time_point> last_idle_taken_at_; /* no idle session left since */
};

} // namespace gpurtsp
