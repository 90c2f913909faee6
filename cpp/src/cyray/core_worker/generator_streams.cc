#include "cyray/core_worker/generator_streams.h"

#include <algorithm>
#include <chrono>

namespace cyray::core {

void GeneratorStreams::Create(const TaskID &generator, int64_t backpressure) {
  std::lock_guard<std::mutex> lock(mu_);
  streams_[generator].backpressure = backpressure;
}

std::vector<GeneratorStreams::Ack> GeneratorStreams::ReleasableAcks(Stream &stream) {
  std::vector<Ack> ready;
  auto &held = stream.held_acks;
  for (auto it = held.begin(); it != held.end();) {
    if (it->first + 1 - stream.consumed < stream.backpressure) {
      ready.push_back(std::move(it->second));
      it = held.erase(it);
    } else {
      ++it;
    }
  }
  return ready;
}

bool GeneratorStreams::OnItemReported(const TaskID &generator, int64_t index, Ack ack,
                                      const std::function<void()> &on_fresh) {
  bool fresh = false;
  int64_t consumed = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = streams_.find(generator);
    if (it != streams_.end() && index >= 0) {
      Stream &stream = it->second;
      if (static_cast<size_t>(index) >= stream.reported.size()) {
        stream.reported.resize(index + 1, false);
      }
      fresh = !stream.reported[index];
      if (fresh && on_fresh) on_fresh();
      stream.reported[index] = true;
      while (stream.contiguous < static_cast<int64_t>(stream.reported.size()) &&
             stream.reported[stream.contiguous]) {
        stream.contiguous++;
      }
      consumed = stream.consumed;
      if (stream.backpressure > 0 && index + 1 - stream.consumed >= stream.backpressure) {
        stream.held_acks.emplace_back(index, std::move(ack));
        ack = nullptr;
      }
    }
  }
  cv_.notify_all();
  if (ack) ack(consumed);
  return fresh;
}

void GeneratorStreams::Finish(const TaskID &generator, int64_t num_items) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = streams_.find(generator);
    if (it == streams_.end()) return;
    it->second.num_items = std::max<int64_t>(num_items, 0);
  }
  cv_.notify_all();
}

int64_t GeneratorStreams::NumContiguous(const TaskID &generator) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = streams_.find(generator);
  return it == streams_.end() ? 0 : it->second.contiguous;
}

Status GeneratorStreams::Next(const TaskID &generator, int64_t timeout_ms,
                              const CheckSignals &check_signals, int64_t check_interval_ms,
                              int64_t *index, bool *end) {
  *end = false;
  std::vector<Ack> released;
  Status status = Status::OK();
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
      auto it = streams_.find(generator);
      if (it == streams_.end()) {
        *end = true;
        break;
      }
      Stream &stream = it->second;
      if (stream.consumed < stream.contiguous) {
        *index = stream.consumed++;
        released = ReleasableAcks(stream);
        break;
      }
      if (stream.num_items >= 0 && stream.consumed >= stream.num_items) {
        *end = true;
        break;
      }
      auto wait_for = std::chrono::milliseconds(std::max<int64_t>(1, check_interval_ms));
      if (timeout_ms >= 0) {
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) {
          status = Status::TimedOut("the generator's next item was not ready in time");
          break;
        }
        wait_for = std::min(wait_for, std::chrono::duration_cast<std::chrono::milliseconds>(
                                          deadline - now + std::chrono::milliseconds(1)));
      }
      cv_.wait_for(lock, wait_for);
      if (check_signals) {
        lock.unlock();
        status = check_signals();
        lock.lock();
        if (!status.ok()) break;
      }
    }
  }
  for (auto &ack : released) ack(*index + 1);
  return status;
}

bool GeneratorStreams::NextReady(const TaskID &generator) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = streams_.find(generator);
  if (it == streams_.end()) return true;
  const Stream &stream = it->second;
  return stream.consumed < stream.contiguous ||
         (stream.num_items >= 0 && stream.consumed >= stream.num_items);
}

bool GeneratorStreams::IsFinished(const TaskID &generator) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = streams_.find(generator);
  return it == streams_.end() ||
         (it->second.num_items >= 0 && it->second.consumed >= it->second.num_items);
}

std::vector<int64_t> GeneratorStreams::Remove(const TaskID &generator) {
  std::vector<int64_t> untaken;
  std::vector<Ack> held;
  int64_t consumed = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = streams_.find(generator);
    if (it == streams_.end()) return untaken;
    Stream &stream = it->second;
    consumed = stream.consumed;
    for (size_t i = stream.consumed; i < stream.reported.size(); ++i) {
      if (stream.reported[i]) untaken.push_back(static_cast<int64_t>(i));
    }
    for (auto &[index, ack] : stream.held_acks) held.push_back(std::move(ack));
    streams_.erase(it);
  }
  cv_.notify_all();
  // The worker need not wait for a consumer that is gone.
  for (auto &ack : held) ack(consumed);
  return untaken;
}

void GeneratorStreams::ReleaseAll() {
  std::vector<std::pair<Ack, int64_t>> held;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto &[generator, stream] : streams_) {
      for (auto &[index, ack] : stream.held_acks)
        held.emplace_back(std::move(ack), stream.consumed);
    }
    streams_.clear();
  }
  cv_.notify_all();
  for (auto &[ack, consumed] : held) ack(consumed);
}

}  // namespace cyray::core
