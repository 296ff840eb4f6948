// SPDX-License-Identifier: MIT
/* gpurtsp: objects shared by every element of a CUDA context (an nvJPEG
 * handle, a kernel module, a pool of encoders or decoders) for as long as any
 * element uses them.
 *
 * The cache holds weak references only: the users' shared_ptrs keep an
 * object alive, and it is destroyed (its device memory freed) when the last
 * user lets go. Free of CUDA, so its policy is tested anywhere. */
#pragma once

#include <map>
#include <memory>
#include <mutex>

namespace gpurtsp {

template <typename Key, typename T>
class WeakCache {
public:
  /* The live object for @key, else the one @make() returns, cached unless it
   * is nullptr. @make runs under the cache's lock, so two callers never make
   * two objects for one key. */
  template <typename Make>
  std::shared_ptr<T> get(const Key &key, Make &&make) {
    std::lock_guard<std::mutex> guard(lock_);
    std::erase_if(entries_, [](const auto &entry) { return entry.second.expired(); });
    if (auto it = entries_.find(key); it != entries_.end()) {
      if (auto object = it->second.lock())
        return object;
    }
    std::shared_ptr<T> object = make();
    if (object)
      entries_[key] = object;
    return object;
  }

  /* Objects still in use. */
  size_t live() const {
    std::lock_guard<std::mutex> guard(lock_);
    size_t n = 0;
    for (const auto &entry : entries_)
      n += entry.second.expired() ? 0 : 1;
    return n;
  }

private:
  mutable std::mutex lock_;
  std::map<Key, std::weak_ptr<T>> entries_; /* guarded by lock_ */
};

} // namespace gpurtsp
